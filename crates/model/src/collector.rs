//! The collectors a scan runs, and how one failed on an account.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The collectors, in the order a scan runs them. `Iam` and `S3` are account-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Collector {
    Cloudformation,
    Lambda,
    Apigateway,
    Apigatewayv2,
    Ssm,
    Secretsmanager,
    Dynamodb,
    Kms,
    /// The tags of the resource types in [`tags::SWEPT`], one sweep per account and region.
    Tags,
    Iam,
    S3,
}

impl Collector {
    pub const REGIONAL: [Collector; 9] = [
        Collector::Cloudformation,
        Collector::Lambda,
        Collector::Apigateway,
        Collector::Apigatewayv2,
        Collector::Ssm,
        Collector::Secretsmanager,
        Collector::Dynamodb,
        Collector::Kms,
        Collector::Tags,
    ];
    pub const GLOBAL: [Collector; 2] = [Collector::Iam, Collector::S3];

    pub fn name(self) -> &'static str {
        match self {
            Collector::Cloudformation => "cloudformation",
            Collector::Lambda => "lambda",
            Collector::Apigateway => "apigateway",
            Collector::Apigatewayv2 => "apigatewayv2",
            Collector::Ssm => "ssm",
            Collector::Secretsmanager => "secretsmanager",
            Collector::Dynamodb => "dynamodb",
            Collector::Kms => "kms",
            Collector::Tags => "tags",
            Collector::Iam => "iam",
            Collector::S3 => "s3",
        }
    }
}

/// A collector that failed on an account: which one, where, and why.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct CollectError {
    pub collector: Collector,
    pub region: String,
    /// `access_denied`, `expired_credentials`, `throttled`, `timeout`, `unreachable`, `template` or
    /// `aws`.
    pub code: crate::ErrorCode,
    /// The AWS operation and the service's own message.
    pub message: String,
}
