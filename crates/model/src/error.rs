//! Errors of the core, and the `{ code, message }` shape the UI and the JSON output receive.
//!
//! Every variant carries what a user needs to act: which file, which profile, which account.

use std::path::PathBuf;

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
    #[error(
        "AWS profile `{profile}` is not defined in {files}; add it, or choose another profile"
    )]
    ProfileMissing { profile: String, files: String },
    /// The IAM Identity Center sign-in behind a profile is missing or lapsed.
    #[error("the IAM Identity Center sign-in of profile `{profile}` {message}; sign in again")]
    SignedOut { profile: String, message: String },
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
         use the management account's profile instead"
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
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::ConfigRead { .. } => ErrorCode::ConfigRead,
            Error::ConfigInvalid { .. } => ErrorCode::ConfigInvalid,
            Error::ProfileMissing { .. } => ErrorCode::ProfileMissing,
            Error::SignedOut { .. } => ErrorCode::SignedOut,
            Error::ProfileFiles { .. } => ErrorCode::ProfileFiles,
            Error::Aws { .. } => ErrorCode::Aws,
            Error::NotManagement { .. } => ErrorCode::NotManagement,
            Error::Sandbox(_) => ErrorCode::Sandbox,
            Error::Store(_) => ErrorCode::Store,
            Error::Input(_) => ErrorCode::InvalidInput,
            Error::Io { .. } => ErrorCode::Io,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Every code an error carries to the window, the JSON output and the store: the window's titles
/// are an exhaustive switch over it, checked by the type checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorCode {
    // The workspace and the user's AWS configuration.
    ConfigRead,
    ConfigInvalid,
    ProfileMissing,
    ProfileFiles,
    NotManagement,
    /// The IAM Identity Center sign-in is missing or lapsed: sign in (again).
    SignedOut,
    // Reaching an account.
    Credentials,
    IdentityMismatch,
    RoleMissing,
    ExpiredCredentials,
    // One call or collector.
    AccessDenied,
    Throttled,
    Timeout,
    Unreachable,
    /// AWS refused the time the request was signed with: this machine's clock is off.
    ClockSkew,
    Aws,
    // What the tools left behind.
    TerraformBackend,
    TerraformState,
    TerraformCode,
    ServerlessConfig,
    Template,
    // Stagecraft itself.
    Sandbox,
    Store,
    NoSnapshot,
    InvalidInput,
    Io,
    /// A code this build does not know (a snapshot written by a newer Stagecraft).
    #[serde(other)]
    Other,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ConfigRead => "config_read",
            ErrorCode::ConfigInvalid => "config_invalid",
            ErrorCode::ProfileMissing => "profile_missing",
            ErrorCode::ProfileFiles => "profile_files",
            ErrorCode::NotManagement => "not_management",
            ErrorCode::SignedOut => "signed_out",
            ErrorCode::Credentials => "credentials",
            ErrorCode::IdentityMismatch => "identity_mismatch",
            ErrorCode::RoleMissing => "role_missing",
            ErrorCode::ExpiredCredentials => "expired_credentials",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::Throttled => "throttled",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::ClockSkew => "clock_skew",
            ErrorCode::Aws => "aws",
            ErrorCode::TerraformBackend => "terraform_backend",
            ErrorCode::TerraformState => "terraform_state",
            ErrorCode::TerraformCode => "terraform_code",
            ErrorCode::ServerlessConfig => "serverless_config",
            ErrorCode::Template => "template",
            ErrorCode::Sandbox => "sandbox",
            ErrorCode::Store => "store",
            ErrorCode::NoSnapshot => "no_snapshot",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Io => "io",
            ErrorCode::Other => "other",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the UI (and `--json` error output) receives: never a bare string to pattern-match.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct UiError {
    pub code: ErrorCode,
    pub message: String,
}

impl From<&Error> for UiError {
    fn from(e: &Error) -> Self {
        UiError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        UiError::from(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_and_write_as_the_strings_stored_snapshots_hold() {
        for code in [
            ErrorCode::ConfigInvalid,
            ErrorCode::ExpiredCredentials,
            ErrorCode::TerraformBackend,
            ErrorCode::NoSnapshot,
            ErrorCode::InvalidInput,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        // A code written by a newer build still loads.
        let e: UiError =
            serde_json::from_str(r#"{"code": "quota_exceeded", "message": "m"}"#).unwrap();
        assert_eq!(e.code, ErrorCode::Other);
    }
}
