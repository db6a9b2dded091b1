//! Everything that reads AWS: credentials from profiles, the organization's accounts and their
//! stages, one read-only collector per service, Terraform state in S3, and the scan that runs them
//! across accounts and hands the result to ownership (`stagecraft-analysis`) and the store.
//!
//! Read-only by construction: List/Describe/Get metadata calls only (`docs/read-only-policy.json`).

/// A client of an AWS SDK crate (`client!(aws_sdk_s3, &config)`) with a retry quota of its own
/// ([`credentials::own_retries`]), each API paced once AWS throttles it ([`pace::Paced`]).
macro_rules! client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .retry_partition($crate::credentials::own_retries(stringify!($sdk)))
                .interceptor($crate::pace::Paced::default())
                .build(),
        )
    };
}
pub(crate) use client;

pub mod clock;
pub mod collect;
pub mod credentials;
pub mod discover;
pub mod logging;
pub mod pace;
pub mod remote_state;
pub mod scan;
pub mod sdk_error;
pub mod sso;

use stagecraft_analysis::own;
use stagecraft_iac::{config, serverless};
use stagecraft_model as model;
pub use stagecraft_model::{Error, UiError};
