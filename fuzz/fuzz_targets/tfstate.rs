//! Any bytes as a Terraform state: an error or a state, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stagecraft_iac::terraform::parse_state(data, "fuzz.tfstate");
});
