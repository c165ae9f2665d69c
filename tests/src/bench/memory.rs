//! A process's resident memory, and where it lives: the binary's own pages mapped from disk,
//! the shared libraries', and anonymous memory (heap, stacks, the allocator's pages).

use super::report::Report;

/// Resident and peak memory of a process, in KiB.
pub(super) fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A process's resident set split by where its pages come from, in KiB.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resident {
    /// Pages of the executable itself mapped from its file (code, read-only data).
    pub binary_file: u64,
    /// Pages of other files (libc, libm, the dynamic loader).
    pub libraries_file: u64,
    /// Anonymous pages: heap, stacks, the allocator's arenas, the binary's written data.
    pub anonymous: u64,
}

impl Resident {
    /// Reads `/proc/PID/smaps`; `binary` is the executable's file name.
    pub fn of(pid: u32, binary: &str) -> Option<Self> {
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
        Some(Self::parse(&smaps, binary))
    }

    /// Sums `Rss` and `Anonymous` per mapping; the file-backed rest goes to the binary when the
    /// mapping's path ends with `/binary`, else to the libraries.
    pub fn parse(smaps: &str, binary: &str) -> Self {
        let mut out = Self::default();
        let mut path = String::new();
        let (mut rss, mut anon) = (0, 0);
        let flush = |out: &mut Self, path: &str, rss: u64, anon: u64| {
            let file = rss.saturating_sub(anon);
            out.anonymous += anon;
            if !path.starts_with('/') {
                // Anonymous mappings ([heap], [stack], unnamed) report their pages as Rss.
                out.anonymous += file;
            } else if path.rsplit('/').next() == Some(binary) {
                out.binary_file += file;
            } else {
                out.libraries_file += file;
            }
        };
        for line in smaps.lines() {
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or_default();
            if first.contains('-') && !first.ends_with(':') {
                flush(&mut out, &path, rss, anon);
                path = words.nth(4).unwrap_or_default().to_owned();
                (rss, anon) = (0, 0);
            } else if first == "Rss:" {
                rss = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            } else if first == "Anonymous:" {
                anon = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            }
        }
        flush(&mut out, &path, rss, anon);
        out
    }

    /// Adds the idle RSS (`rss_kb`, with issue #15's target) of a process holding `profiles`,
    /// then one row per part; `build` names a build other than the native one (`", the
    /// Lambda layer"`), or is empty.
    pub fn report_idle(&self, report: &mut Report, section: &str, rss_kb: u64, profiles: usize, build: &str) {
        let mib = |kb: u64| kb as f64 / 1024.0;
        let what = format!("RSS idle, {profiles} profiles{build}");
        report.check(section, &what, mib(rss_kb), "MiB", "<= 12", mib(rss_kb) <= 12.0);
        report.add(
            section,
            &format!("{what}: the binary's pages from disk"),
            mib(self.binary_file),
            "MiB",
        );
        report.add(
            section,
            &format!("{what}: shared libraries' pages"),
            mib(self.libraries_file),
            "MiB",
        );
        report.add(section, &format!("{what}: anonymous"), mib(self.anonymous), "MiB");
    }
}

#[cfg(test)]
mod tests {
    use super::Resident;

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 42 /opt/extensions/cache-extension
Rss:                 400 kB
Anonymous:             0 kB
55d0a0100000-55d0a0200000 rw-p 00100000 08:01 42 /opt/extensions/cache-extension
Rss:                  60 kB
Anonymous:            48 kB
7f0000000000-7f0000100000 r-xp 00000000 08:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1000 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0 
Rss:                2000 kB
Anonymous:          2000 kB
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]
Rss:                  16 kB
Anonymous:            16 kB
";

    #[test]
    fn resident_memory_is_split_into_the_binary_the_libraries_and_anonymous_pages() {
        let r = Resident::parse(SMAPS, "cache-extension");
        assert_eq!(
            r,
            Resident {
                binary_file: 412,
                libraries_file: 1000,
                anonymous: 2064
            },
            "{r:?}"
        );
    }

    #[test]
    fn a_library_whose_name_only_ends_like_the_binary_is_not_the_binary() {
        let smaps = "7f00-7f01 r-xp 00000000 08:01 7 /usr/lib/libnot-cache-extension\nRss: 8 kB\n";
        let r = Resident::parse(smaps, "cache-extension");
        assert_eq!((r.binary_file, r.libraries_file), (0, 8));
    }
}
