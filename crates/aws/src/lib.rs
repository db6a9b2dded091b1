//! Everything that reads AWS: credentials from profiles, the organization's accounts and their
//! stages, one read-only collector per service, Terraform state in S3, and the scan that runs them
//! across accounts and hands the result to ownership (`stagecraft-analysis`) and the store.
//!
//! Read-only by construction: List/Describe/Get metadata calls only (`docs/read-only-policy.json`).

pub mod clock;
pub mod collect;
pub mod credentials;
pub mod discover;
pub mod logging;
pub mod remote_state;
pub mod scan;
pub mod sdk_error;
pub mod sso;

use stagecraft_analysis::own;
use stagecraft_iac::{config, serverless};
use stagecraft_model as model;
pub use stagecraft_model::{Error, UiError};
