//! Stagecraft core: everything that discovers, collects, classifies, links, audits, stores and deploys.
//!
//! The crate never depends on Tauri. The CLI (`src/bin/stagecraft.rs`), the tests and the desktop shell
//! (`src-tauri/`) all call the same functions here. Modules follow the data flow of a scan:
//! `config` → `aws` → `discover` → `collect` → `scan`, with `sandbox` building the local organization the
//! tests and the demo run against.

pub mod analysis;
pub mod audit;
pub mod aws;
pub mod collect;
pub mod config;
pub mod deletion;
pub mod deploy;
pub mod discover;
pub mod error;
pub mod graph;
pub mod link;
pub mod logging;
pub mod matrix;
pub mod model;
pub mod own;
pub mod sandbox;
pub mod scan;
pub mod serverless;
pub mod store;
pub mod terraform;

#[cfg(test)]
pub(crate) mod testkit;

pub use error::{Error, UiError};
