//! Logging to stderr, at the level `STAGECRAFT_LOG` asks for (`warn` by default), with one limit no
//! setting lifts: the AWS SDK and HTTP crates never log at `trace`, the level at which they print
//! request and response bodies (templates, function environments, parameter values).

use tracing::subscriber::Interest;
use tracing::Level;
use tracing_subscriber::filter::{dynamic_filter_fn, EnvFilter, FilterExt as _};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// Crates whose `trace` output holds what AWS answered.
const WIRE_CRATES: [&str; 5] = ["aws_", "hyper", "h2", "rustls", "tower"];

/// Whether an event of `target` at `level` may be logged.
pub fn allowed(target: &str, level: &Level) -> bool {
    *level != Level::TRACE || !WIRE_CRATES.iter().any(|c| target.starts_with(c))
}

/// Installs the stderr logger.
pub fn init() {
    use std::io::IsTerminal as _;
    let wanted =
        EnvFilter::try_from_env("STAGECRAFT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = logger(wanted, std::io::stderr, std::io::stderr().is_terminal()).try_init();
}

/// The logger: what `wanted` asks for, within [`allowed`], written to `writer`.
///
/// One filter holds both rules, each decided once per callsite (neither depends on more than where
/// an event or span is written), so a span the logger does not want is never created. The SDK
/// opens several debug spans for every request; two filters stacked one on the other kept each of
/// them alive in the subscriber's registry, because the outer one, deciding call by call, could not
/// say "never" (about 5 % of a scan's CPU, BENCHMARKS.md).
fn logger<W>(wanted: EnvFilter, writer: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let wire = dynamic_filter_fn(|meta, _| allowed(meta.target(), meta.level()))
        .with_callsite_filter(|meta| match allowed(meta.target(), meta.level()) {
            true => Interest::always(),
            false => Interest::never(),
        });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
        .with_filter(wanted.and(wire));
    tracing_subscriber::registry().with(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_never_logs_at_trace() {
        assert!(!allowed("aws_smithy_runtime::client::http", &Level::TRACE));
        assert!(!allowed("hyper_util::client", &Level::TRACE));
        assert!(allowed("aws_smithy_runtime::client::http", &Level::DEBUG));
        assert!(allowed("stagecraft::scan", &Level::TRACE));
    }

    /// What the logger wrote while `f` ran, with `directives` as `STAGECRAFT_LOG`.
    fn logged(directives: &str, f: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = {
            let sink = sink.clone();
            move || sink.clone()
        };
        tracing::subscriber::with_default(logger(EnvFilter::new(directives), writer, false), f);
        let bytes = sink.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_level_asked_for_is_logged_and_the_wire_never() {
        let by_default = logged("warn", || {
            tracing::warn!(target: "stagecraft::scan", "a warning");
            tracing::info!(target: "stagecraft::scan", "some news");
        });
        assert!(by_default.contains("a warning"), "{by_default}");
        assert!(!by_default.contains("some news"), "{by_default}");

        let everything = logged("trace", || {
            tracing::trace!(target: "stagecraft::scan", "our own trace");
            tracing::debug!(target: "aws_smithy_runtime::client::http", "sending a request");
            tracing::trace!(target: "aws_smithy_runtime::client::http", "the response body");
            tracing::trace!(target: "hyper_util::client", "raw bytes");
        });
        assert!(everything.contains("our own trace"), "{everything}");
        assert!(everything.contains("sending a request"), "{everything}");
        assert!(!everything.contains("the response body"), "{everything}");
        assert!(!everything.contains("raw bytes"), "{everything}");
    }

    #[test]
    fn a_span_the_logger_does_not_want_is_never_created() {
        logged("warn", || {
            let unwanted =
                tracing::debug_span!(target: "aws_smithy_runtime::client::orchestrator", "invoke");
            assert!(unwanted.is_disabled(), "the SDK's debug span was created");
            let wire = tracing::trace_span!(target: "aws_smithy_runtime::client::http", "body");
            assert!(wire.is_disabled());
            let wanted = tracing::warn_span!(target: "stagecraft::scan", "wanted");
            assert!(!wanted.is_disabled());
        });
        logged("trace", || {
            let wire = tracing::trace_span!(target: "aws_smithy_runtime::client::http", "body");
            assert!(wire.is_disabled(), "the wire is never logged, at any level");
            let asked =
                tracing::debug_span!(target: "aws_smithy_runtime::client::orchestrator", "invoke");
            assert!(!asked.is_disabled());
        });
    }
}
