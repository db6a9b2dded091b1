//! AWS SDK errors in words a user can act on: the service's code and message, not "service error".

// Every SDK crate re-exports the same smithy error types; STS's path is as good as any.
pub use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

/// Renders an AWS SDK error with its service code and message instead of the SDK's terse "service error".
pub fn aws_message<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) if crate::clock::is_clock_error(c, m) => {
                    let now = std::time::SystemTime::now();
                    let offset = se
                        .raw()
                        .headers()
                        .get("date")
                        .and_then(|d| crate::clock::ClockOffset::from_date(d, now, now));
                    match offset {
                        Some(o) => format!(
                            "{c}: {m} — {}: {}",
                            o.describe(),
                            crate::clock::ClockOffset::FIX
                        ),
                        None => format!(
                            "{c}: {m} — AWS refused the time this machine signed with: {}",
                            crate::clock::ClockOffset::FIX
                        ),
                    }
                }
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                // No AWS error in the answer (a proxy's or load balancer's page): say what came back.
                _ => format!(
                    "the endpoint answered HTTP {} without an AWS error",
                    se.raw().status().as_u16()
                ),
            }
        }
        SdkError::DispatchFailure(_) => {
            format!("cannot reach the endpoint ({})", source_chain(err))
        }
        SdkError::TimeoutError(_) => "the call timed out".to_owned(),
        other => source_chain(other),
    }
}

/// An error and its sources, each said once.
pub fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}

/// The service's error code (`NoSuchEntity`, …), for callers that treat one code as "absent" rather
/// than a failure.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}
