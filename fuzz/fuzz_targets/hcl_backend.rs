//! Any text as a Terraform file holding a `backend` block.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = stagecraft_iac::terraform::backend::backend_in(std::path::Path::new("main.tf"), text);
});
