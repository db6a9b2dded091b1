//! Any text as a `stagecraft.toml`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = stagecraft_iac::config::WorkspaceConfig::parse(text);
});
