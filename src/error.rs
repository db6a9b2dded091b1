//! Errors of the core, and the `{ code, message }` shape the UI and the JSON output receive.
//!
//! Every variant carries what a user needs to act: which file, which profile, which account.

use std::path::PathBuf;

// Every SDK crate re-exports the same smithy error types; STS's path is as good as any.
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read workspace config {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("workspace config {path} is invalid: {message}")]
    ConfigInvalid { path: PathBuf, message: String },
    #[error("AWS profile `{profile}` is not defined in {files}; add it or pass another --profile")]
    ProfileMissing { profile: String, files: String },
    #[error("cannot read the AWS config files ({files}): {message}")]
    ProfileFiles { files: String, message: String },
    #[error("AWS call {operation} failed for {scope}: {message}")]
    Aws {
        operation: &'static str,
        scope: String,
        message: String,
    },
    #[error(
        "profile `{profile}` is not in an AWS Organization management account ({message}); \
         pass the management account's profile with --profile"
    )]
    NotManagement { profile: String, message: String },
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("{0}")]
    Store(String),
    /// A request names something the snapshot does not know (a stage, a node id, a snapshot id).
    #[error("{0}")]
    Input(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    /// A stable, machine-readable code for the UI and JSON consumers.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ConfigRead { .. } => "config_read",
            Error::ConfigInvalid { .. } => "config_invalid",
            Error::ProfileMissing { .. } => "profile_missing",
            Error::ProfileFiles { .. } => "profile_files",
            Error::Aws { .. } => "aws",
            Error::NotManagement { .. } => "not_management",
            Error::Sandbox(_) => "sandbox",
            Error::Store(_) => "store",
            Error::Input(_) => "invalid_input",
            Error::Io { .. } => "io",
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// What the UI (and `--json` error output) receives: never a bare string to pattern-match.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct UiError {
    pub code: String,
    pub message: String,
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        Error::Store(e.to_string())
    }
}

impl From<&Error> for UiError {
    fn from(e: &Error) -> Self {
        UiError {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        UiError::from(&e)
    }
}

/// Renders an AWS SDK error with its service code and message instead of the SDK's terse "service error".
pub fn aws_message<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => e.to_string(),
            }
        }
        SdkError::DispatchFailure(_) => {
            format!("cannot reach the endpoint ({})", source_chain(err))
        }
        SdkError::TimeoutError(_) => "the call timed out".to_owned(),
        other => source_chain(other),
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}

/// The service's error code (`NoSuchEntity`, …), for callers that treat one code as "absent" rather
/// than a failure.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}
