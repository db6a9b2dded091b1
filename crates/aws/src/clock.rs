//! This machine's clock against AWS's. AWS refuses a request signed more than five minutes off its
//! own time (S3: fifteen). The AWS SDK measures the skew from the answers' `Date` and signs again,
//! so a scan completes anyway (measured: each client's first call is refused once); the deploy's
//! tools are other processes with SDKs of their own, so the offset is measured here and said.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_sts::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sts::error::BoxError;
use aws_smithy_types::date_time::{DateTime, Format};

/// Past this the SDK starts correcting, and a process that does not is about to be refused.
pub const TOLERATED: Duration = Duration::from_secs(4 * 60);

/// How far AWS's clock is ahead of this machine's, in milliseconds (negative: behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset(pub i64);

impl ClockOffset {
    /// From an answer's `Date` header and when the request was sent and answered (their midpoint is
    /// the best guess of when AWS read its clock).
    pub fn from_date(date: &str, sent: SystemTime, received: SystemTime) -> Option<ClockOffset> {
        let aws = SystemTime::try_from(DateTime::from_str(date, Format::HttpDate).ok()?).ok()?;
        let midpoint = sent + received.duration_since(sent).unwrap_or_default() / 2;
        Some(ClockOffset(match aws.duration_since(midpoint) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        }))
    }

    /// Whether AWS is about to refuse (or already refuses) requests signed with this clock.
    pub fn matters(self) -> bool {
        self.0.unsigned_abs() > TOLERATED.as_millis() as u64
    }

    /// "this machine's clock is about 10 min behind AWS's".
    pub fn describe(self) -> String {
        let secs = (self.0.unsigned_abs() + 500) / 1000;
        if secs == 0 {
            return "this machine's clock agrees with AWS's to the second".to_owned();
        }
        // `Date` has whole seconds and the midpoint is a guess: past two minutes, minutes are honest.
        let amount = match secs {
            0..120 => format!("{secs} s"),
            120..7200 => format!("about {} min", (secs + 30) / 60),
            _ => format!("about {} h {} min", secs / 3600, secs / 60 % 60),
        };
        let side = if self.0 > 0 { "behind" } else { "ahead of" };
        format!("this machine's clock is {amount} {side} AWS's")
    }

    /// What to do about it.
    pub const FIX: &'static str =
        "set the system clock (on Linux `timedatectl set-ntp true`; elsewhere turn on automatic time)";
}

/// Whether an AWS error is a refusal of the request's signing time.
pub fn is_clock_error(code: &str, message: &str) -> bool {
    code == "RequestTimeTooSkewed"
        || code == "RequestExpired"
        || code == "RequestInTheFuture"
        || (matches!(
            code,
            "SignatureDoesNotMatch" | "InvalidSignatureException" | "AuthFailure"
        ) && (message.contains("Signature expired") || message.contains("not yet current")))
}

/// An interceptor that keeps the offset the last answer's `Date` gives.
#[derive(Debug, Clone, Default)]
pub struct ClockProbe {
    sent: Arc<Mutex<Option<SystemTime>>>,
    offset: Arc<Mutex<Option<ClockOffset>>>,
}

impl ClockProbe {
    pub fn offset(&self) -> Option<ClockOffset> {
        self.offset.lock().ok().and_then(|o| *o)
    }
}

impl Intercept for ClockProbe {
    fn name(&self) -> &'static str {
        "ClockProbe"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut sent) = self.sent.lock() {
            *sent = Some(SystemTime::now());
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let received = SystemTime::now();
        let sent = self.sent.lock().ok().and_then(|s| *s);
        let measured = match (sent, ctx.response().headers().get("date")) {
            (Some(sent), Some(date)) => ClockOffset::from_date(date, sent, received),
            _ => None,
        };
        if let (Some(m), Ok(mut offset)) = (measured, self.offset.lock()) {
            *offset = Some(m);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_is_read_from_the_date_and_said_in_minutes() {
        let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let received = sent + Duration::from_secs(2);
        // AWS's clock: 1 s after sending (the midpoint) plus 10 min 3 s.
        let aws = DateTime::from(sent + Duration::from_secs(1 + 603))
            .fmt(Format::HttpDate)
            .expect("date");
        let o = ClockOffset::from_date(&aws, sent, received).expect("offset");
        assert_eq!(o, ClockOffset(603_000));
        assert!(o.matters());
        assert_eq!(
            o.describe(),
            "this machine's clock is about 10 min behind AWS's"
        );
        assert_eq!(
            ClockOffset(-7_200_000).describe(),
            "this machine's clock is about 2 h 0 min ahead of AWS's"
        );
        assert!(!ClockOffset(-90_000).matters());
        assert!(ClockOffset::from_date("yesterday", sent, received).is_none());
    }

    #[test]
    fn only_a_refused_signing_time_is_a_clock_error() {
        assert!(is_clock_error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large."
        ));
        assert!(is_clock_error(
            "InvalidSignatureException",
            "Signature expired: 20261202T120000Z is now earlier than 20261202T120500Z (20261202T121000Z - 5 min.)"
        ));
        assert!(!is_clock_error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided."
        ));
        assert!(!is_clock_error(
            "AccessDeniedException",
            "Signature expired"
        ));
    }
}
