//! Readers of the files a team keeps beside its code: `stagecraft.toml`, Terraform (the backend
//! block, v4 state, the names the code declares per workspace) and `serverless.yml` (with its
//! variables resolved per stage and CloudFormation's short tags).
//!
//! Everything here is a pure function of file contents: no AWS SDK, no network, no async runtime.
//! The files are untrusted input, so every reader returns an error naming the file and what to do,
//! never a panic; the fuzz targets (`fuzz/`) depend on this crate alone.

pub mod config;
pub mod declared;
pub mod propose;
pub mod serverless;
pub mod state_stage;
pub mod terraform;

/// `services/orders/serverless.yml` out of a full path: enough to find the file, short enough to read.
pub fn short_path(path: &str) -> String {
    let parts: Vec<&str> = path.rsplitn(4, '/').collect();
    match parts.as_slice() {
        [file, dir, parent, _] => format!("{parent}/{dir}/{file}"),
        _ => path.to_owned(),
    }
}
