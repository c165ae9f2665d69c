//! Fleet mode: a region's refresh reads what the publisher wrote instead of listing the region.
//!
//! One refresh is one conditional GET of the region's heartbeat (`304` between publishes), and
//! a conditional GET of the snapshot only when the heartbeat names content the reader does not
//! hold. The data's age is the publisher's: from when its latest listing started.
//!
//! - A refused object (corrupt, truncated, another schema version, region or account) or an S3
//!   failure keeps the snapshot held, stale-if-error as in direct mode, with a warning that says
//!   why.
//! - Published data is one unit: a snapshot object whose content is not the one the heartbeat
//!   names is served only if it was listed no earlier than the heartbeat's listing (its
//!   heartbeat's write failed); an older one (the heartbeat moved on without it) is refused.
//! - Time only moves forward: data listed earlier than what the reader holds, wherever that
//!   came from, is refused, and so is a listing time more than [`MAX_CLOCK_SKEW`] ahead of the
//!   reader's clock (a publisher whose clock runs ahead would hide that it stopped).
//! - Nothing usable (nothing published, or a refusal with nothing held) and data older than the
//!   publisher's interval plus the TTL and the maximum staleness (the publisher stopped) fall
//!   back as configured: a build here, or with `PROFILE_RESOLVER_SNAPSHOT_FALLBACK=none` a
//!   failed refresh.

use super::Resolver;
use super::cell::{JITTER_FLOOR, Loaded, View};
use crate::config::Fallback;
use crate::published::format::{Beat, decode, format_time};
use crate::published::{Fetched, Published};
use crate::snapshot::Snapshot;
use crate::source::{FailureKind, Heartbeat, Operation, SourceError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How far ahead of the reader's clock a published listing time may be: clocks synchronised by
/// NTP (Lambda, EC2, ECS) differ by far less.
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// What a reader holds of a region's published snapshot, for its conditional GETs.
#[derive(Debug, Clone)]
pub(super) struct Mark {
    beat_etag: String,
    content_etag: String,
    content_hash: String,
    snapshot: Arc<Snapshot>,
    /// When the listing of the latest publish seen started.
    data_time: SystemTime,
    interval: Duration,
}

/// Why a read found nothing to use.
enum Unread {
    /// Nothing is published for the region.
    Missing(SourceError),
    /// A failed call or a refused object.
    Failed(SourceError),
}

impl Resolver {
    /// The next snapshot of `region` in fleet mode (see the module docs).
    pub(super) async fn read_published(&self, region: &str, beat: &Heartbeat) -> Result<Loaded<Snapshot>, SourceError> {
        let started = self.inner.clock.now();
        let config = &self.inner.config;
        let held_listed = self
            .inner
            .regions
            .get(region)
            .and_then(|c| c.current())
            .map(|e| e.listed);
        let unread = match self.fetch_published(region, beat).await {
            Ok(mark) => {
                let lag = started.duration_since(mark.data_time).unwrap_or_default();
                // Judged with the shortest jittered TTL, so that what is kept is usable whatever
                // TTL its entry draws.
                let overdue = lag.saturating_sub(mark.interval + config.ttl.mul_f64(JITTER_FLOOR));
                match held_listed {
                    _ if overdue > config.max_stale => Unread::Missing(SourceError::new(
                        Operation::GetObject,
                        FailureKind::Unavailable,
                        format!(
                            "the published snapshot of {region} is {} s old, more than its publisher's interval ({} s), the TTL and the maximum staleness: is the publisher stopped?",
                            lag.as_secs(),
                            mark.interval.as_secs()
                        ),
                    )),
                    Some(held) if mark.data_time < held => Unread::Failed(get_error(
                        region,
                        &format!(
                            "the published snapshot was listed at {}, before the data this reader holds (listed at {}): a reader never goes back in time",
                            format_time(mark.data_time),
                            format_time(held)
                        ),
                    )),
                    _ => {
                        return Ok(Loaded {
                            value: mark.snapshot,
                            lag,
                            allowance: mark.interval,
                            listed: Some(mark.data_time),
                        });
                    }
                }
            }
            Err(unread) => unread,
        };
        let why = match unread {
            Unread::Missing(e) => e,
            Unread::Failed(e) => {
                let held = self
                    .inner
                    .regions
                    .get(region)
                    .is_some_and(|cell| !matches!(cell.view(&self.now(), config.max_stale), View::Unusable));
                if held {
                    tracing::warn!(region, error = %e, "published snapshot not read; the last good snapshot keeps serving");
                    return Err(e);
                }
                e
            }
        };
        match config.snapshot_fallback {
            Fallback::None => {
                tracing::warn!(region, error = %why, "no usable published snapshot, and PROFILE_RESOLVER_SNAPSHOT_FALLBACK=none");
                Err(why)
            }
            Fallback::Direct => {
                tracing::warn!(region, error = %why, "no usable published snapshot; building the region here");
                crate::build::build_region(&self.inner.sources, region, beat)
                    .await
                    .map(Loaded::from)
            }
        }
    }

    async fn fetch_published(&self, region: &str, beat: &Heartbeat) -> Result<Mark, Unread> {
        let Some(published) = self.inner.sources.published.as_ref() else {
            return Err(Unread::Missing(get_error(region, "fleet mode is off")));
        };
        let slot = self.inner.marks.get(region);
        let held = slot.and_then(|m| m.lock().clone());
        let beat_key = published.url.heartbeat_key(region);
        let (beat_etag, body) = match self
            .get(published, region, &beat_key, held.as_ref().map(|m| &*m.beat_etag), beat)
            .await?
        {
            Fetched::NotModified => {
                return held.ok_or_else(|| Unread::Failed(get_error(region, "304 for an object never read")));
            }
            Fetched::Missing => {
                return Err(Unread::Missing(get_error(
                    region,
                    &format!("{} has no heartbeat: nothing is published for {region}", published.url),
                )));
            }
            Fetched::Found { etag, body } => (etag, body),
        };
        let refuse = |why: String| {
            Unread::Failed(get_error(
                region,
                &format!("refused s3://{}/{beat_key}: {why}", published.url.bucket),
            ))
        };
        let (latest, latest_time) = Beat::decode(&body, region).map_err(|e| refuse(e.0))?;
        self.check_time(latest_time).map_err(refuse)?;
        let account = self.inner.account.get().map(String::as_str);
        if let (Some(mine), Some(theirs)) = (account, latest.account.as_deref())
            && mine != theirs
        {
            return Err(refuse(format!(
                "the heartbeat is for account {theirs}, this reader is in account {mine}"
            )));
        }
        let mut mark = match held {
            Some(held) if held.content_hash == latest.content_hash => held,
            held => {
                self.fetch_content(published, region, held, beat, (&latest, latest_time))
                    .await?
            }
        };
        if mark.content_hash == latest.content_hash {
            mark.data_time = latest_time;
        }
        mark.beat_etag = beat_etag;
        mark.interval = latest.interval();
        if let Some(slot) = slot {
            *slot.lock() = Some(mark.clone());
        }
        Ok(mark)
    }

    /// The snapshot object, when the heartbeat (`latest`, listed at its time) names content the
    /// reader does not hold. An object with other content is used only if it was listed no
    /// earlier than the heartbeat's listing, and only for the heartbeat's account.
    async fn fetch_content(
        &self,
        published: &Published,
        region: &str,
        held: Option<Mark>,
        beat: &Heartbeat,
        (latest, latest_time): (&Beat, SystemTime),
    ) -> Result<Mark, Unread> {
        let key = published.url.snapshot_key(region);
        let refuse = |why: String| {
            Unread::Failed(get_error(
                region,
                &format!("refused s3://{}/{key}: {why}", published.url.bucket),
            ))
        };
        let (etag, body) = match self
            .get(published, region, &key, held.as_ref().map(|m| &*m.content_etag), beat)
            .await?
        {
            Fetched::Found { etag, body } => (etag, body),
            Fetched::Missing => {
                return Err(Unread::Missing(get_error(region, &format!("{key} does not exist"))));
            }
            Fetched::NotModified => {
                return Err(refuse(
                    "the heartbeat names new content but the snapshot object is unchanged".into(),
                ));
            }
        };
        let owned_region = region.to_owned();
        let account = self.inner.account.get().cloned();
        let decoded = crate::build::off_the_request_threads(body.len() / 400, move || {
            decode(&body, &owned_region, account.as_deref())
        })
        .await
        .map_err(Unread::Failed)?
        .map_err(|e| refuse(e.0))?;
        self.check_time(decoded.listing_started).map_err(refuse)?;
        if let (Some(object), Some(heartbeat)) = (decoded.account.as_deref(), latest.account.as_deref())
            && object != heartbeat
        {
            return Err(refuse(format!(
                "the object is for account {object}, its heartbeat for account {heartbeat}"
            )));
        }
        if decoded.content_hash != latest.content_hash && decoded.listing_started < latest_time {
            return Err(refuse(format!(
                "it holds {} listed at {}, but the newer heartbeat names {} listed at {}: the object and the heartbeat disagree until the publisher rewrites the object",
                decoded.content_hash,
                format_time(decoded.listing_started),
                latest.content_hash,
                format_time(latest_time)
            )));
        }
        tracing::info!(region, profiles = decoded.snapshot.len(), hash = %decoded.content_hash, "read a published snapshot");
        Ok(Mark {
            beat_etag: String::new(),
            content_etag: etag,
            content_hash: decoded.content_hash,
            snapshot: Arc::new(decoded.snapshot),
            data_time: decoded.listing_started,
            interval: Duration::ZERO,
        })
    }

    async fn get(
        &self,
        published: &Published,
        region: &str,
        key: &str,
        if_none_match: Option<&str>,
        beat: &Heartbeat,
    ) -> Result<Fetched, Unread> {
        beat.calling(Operation::GetObject);
        self.inner.stats.upstream_call(region, Operation::GetObject);
        let fetched = published.store.get(key, if_none_match).await.map_err(Unread::Failed)?;
        beat.beat();
        Ok(fetched)
    }
}

impl Resolver {
    /// Refuses a listing time more than [`MAX_CLOCK_SKEW`] ahead of this reader's clock.
    fn check_time(&self, listed: SystemTime) -> Result<(), String> {
        let now = self.inner.clock.now();
        match listed.duration_since(now) {
            Ok(ahead) if ahead > MAX_CLOCK_SKEW => Err(format!(
                "its listing time {} is {} s ahead of this reader's clock, more than the {} s allowed: is the publisher's clock wrong?",
                format_time(listed),
                ahead.as_secs(),
                MAX_CLOCK_SKEW.as_secs()
            )),
            _ => Ok(()),
        }
    }
}

fn get_error(region: &str, message: &str) -> SourceError {
    SourceError::new(
        Operation::GetObject,
        FailureKind::Unavailable,
        format!("{region}: {message}"),
    )
}

#[cfg(test)]
mod tests;
