//! Logging to stderr, at the level `STAGECRAFT_LOG` asks for (`warn` by default), with one limit no
//! setting lifts: the AWS SDK and HTTP crates never log at `trace`, the level at which they print
//! request and response bodies (templates, function environments, parameter values).

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
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
    let wanted =
        EnvFilter::try_from_env("STAGECRAFT_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    use std::io::IsTerminal as _;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(wanted)
        .with_filter(filter_fn(|meta| allowed(meta.target(), meta.level())));
    let _ = tracing_subscriber::registry().with(layer).try_init();
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
}
