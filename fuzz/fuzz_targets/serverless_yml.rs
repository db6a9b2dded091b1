//! Any text as a `serverless.yml`, parsed and resolved for a stage.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let path = std::path::Path::new("serverless.yml");
    if let Ok(service) = stagecraft_iac::serverless::ServiceFile::parse(path, text) {
        let _ = service.resolve(Some("dev"), Some("us-east-1"), Some("123456789012"));
    }
});
