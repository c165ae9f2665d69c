//! Retries of the hand-written AWS calls (S3 objects, CloudWatch dashboards and alarms) as the
//! SDK's standard retry mode makes them: up to [`MAX_ATTEMPTS`] attempts, with full-jitter
//! backoff, of a call whose failure may pass (throttling, a 5xx answer, a transport failure),
//! all within one operation timeout.

use crate::source::FailureKind;
use std::future::Future;
use std::time::Duration;

/// Attempts per call, as the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 3;
/// The first retry waits up to this long (full jitter), doubling per attempt.
pub const BASE_BACKOFF: Duration = Duration::from_millis(100);

/// A failed attempt, and whether another may succeed.
#[derive(Debug)]
pub struct Failure {
    /// What kind of failure, as the callers report it.
    pub kind: FailureKind,
    /// What happened, one line.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retry: bool,
}

impl Failure {
    /// A failure another attempt may not see.
    pub fn transient(kind: FailureKind, message: String) -> Self {
        Self {
            kind,
            message,
            retry: true,
        }
    }

    /// A failure every attempt would see.
    pub fn fatal(kind: FailureKind, message: String) -> Self {
        Self {
            kind,
            message,
            retry: false,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, has run [`MAX_ATTEMPTS`] times, or
/// `timeout` has passed (then the failure is a [`FailureKind::Timeout`] with the message
/// `timed_out` gives). `what` names the call in debug logs.
///
/// # Errors
/// The last attempt's failure, or the timeout.
pub async fn with_retries<T, F, Fut>(
    what: &str,
    timeout: Duration,
    timed_out: impl Fn() -> String,
    mut attempt: F,
) -> Result<T, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut number = 1;
    loop {
        let outcome = match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::transient(FailureKind::Timeout, timed_out())),
        };
        match outcome {
            Ok(answer) => return Ok(answer),
            Err(f) if f.retry && number < MAX_ATTEMPTS => {
                let ceiling = BASE_BACKOFF * 2u32.pow(number - 1);
                let pause = ceiling.mul_f64(fastrand::f64());
                if tokio::time::Instant::now() + pause >= deadline {
                    return Err(f);
                }
                tracing::debug!(call = what, attempt = number, error = %f.message, "retrying");
                tokio::time::sleep(pause).await;
                number += 1;
            }
            Err(f) => return Err(f),
        }
    }
}

/// An error answer of an XML protocol (S3, and the query protocol CloudWatch speaks): its
/// status, and the `Code` and `Message` of its body. Throttling and 5xx answers may pass.
pub fn failure_of_xml_error(status: http::StatusCode, body: &[u8]) -> Failure {
    let text = String::from_utf8_lossy(body);
    let code = xml_element(&text, "Code").unwrap_or_default();
    let detail = xml_element(&text, "Message").unwrap_or_default();
    let kind = match status.as_u16() {
        403 => FailureKind::Denied,
        429 => FailureKind::Throttled,
        _ => crate::source::sdk::kind_of_code(Some(code)),
    };
    let retry = matches!(kind, FailureKind::Throttled) || status.is_server_error();
    let message = format!("HTTP {} {code} {detail}", status.as_u16());
    Failure {
        kind,
        message: message.split_whitespace().collect::<Vec<_>>().join(" "),
        retry,
    }
}

/// The text of the first `<name>…</name>` in an XML body.
pub fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + len].trim())
}

/// A request that got no answer (refused, reset, timed out): a failure another attempt may not
/// see, a [`FailureKind::Timeout`] when the socket timed out. `what` names the call.
pub fn failure_of_transport(what: &str, e: &(dyn std::error::Error + 'static)) -> Failure {
    let timed_out = crate::https::find::<std::io::Error>(e).is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
    let kind = if timed_out {
        FailureKind::Timeout
    } else {
        FailureKind::Unavailable
    };
    Failure::transient(kind, format!("{what}: {}", error_chain(e)))
}

/// An error with its sources, as one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn a_passing_failure_is_tried_three_times_and_a_lasting_one_once() {
        let calls = Cell::new(0);
        let out: Result<(), _> = with_retries("t", Duration::from_secs(30), String::new, || {
            calls.set(calls.get() + 1);
            async { Err(Failure::transient(FailureKind::Throttled, "slow down".into())) }
        })
        .await;
        assert_eq!((calls.get(), out.unwrap_err().kind), (3, FailureKind::Throttled));
        calls.set(0);
        let out: Result<(), _> = with_retries("t", Duration::from_secs(30), String::new, || {
            calls.set(calls.get() + 1);
            async { Err(Failure::fatal(FailureKind::Denied, "no".into())) }
        })
        .await;
        assert_eq!((calls.get(), out.unwrap_err().kind), (1, FailureKind::Denied));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_ends_at_the_timeout_with_its_message() {
        let out: Result<(), _> = with_retries(
            "t",
            Duration::from_secs(2),
            || "no answer".to_owned(),
            std::future::pending::<Result<(), Failure>>,
        )
        .await;
        let f = out.unwrap_err();
        assert_eq!((f.kind, f.message.as_str()), (FailureKind::Timeout, "no answer"));
    }
}
