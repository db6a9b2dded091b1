//! Who changed what, with which tool: the write events of each account's CloudTrail event
//! history, reduced to what identifies the change. Never a request's values: only the names of
//! what it touched and the deletion windows it set.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The tool a change was made with, read from the event's `userAgent`, `invokedBy` and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Tool {
    Terraform,
    /// CloudFormation acting for a stack (`invokedBy: cloudformation.amazonaws.com`), or a stack
    /// operation made by a client it does not name.
    Cloudformation,
    /// The Serverless Framework's CLI.
    Serverless,
    /// The AWS CDK's CLI.
    Cdk,
    /// The AWS SAM CLI.
    Sam,
    /// The AWS Management Console.
    Console,
    /// The AWS CLI.
    Cli,
    /// The AWS SDK for JavaScript v2 with no other mark: what the Serverless Framework v3 sends
    /// (it adds nothing of its own), and what any Node.js script on that SDK sends too.
    JsSdkV2,
    /// An AWS SDK called by a program (boto3, the SDKs for JavaScript v3, Go, Java, Rust, …).
    Sdk,
    /// An AWS service acting on its own (`invokedBy` another service).
    AwsService,
    /// Nothing in the event says.
    Unknown,
}

impl Tool {
    pub fn label(self) -> &'static str {
        match self {
            Tool::Terraform => "Terraform",
            Tool::Cloudformation => "CloudFormation",
            Tool::Serverless => "the Serverless CLI",
            Tool::Cdk => "the CDK CLI",
            Tool::Sam => "the SAM CLI",
            Tool::Console => "the AWS console",
            Tool::Cli => "the AWS CLI",
            Tool::JsSdkV2 => "the Serverless CLI v3 or another JavaScript SDK v2 client",
            Tool::Sdk => "an AWS SDK",
            Tool::AwsService => "an AWS service",
            Tool::Unknown => "an unknown client",
        }
    }
}

/// What a change touched: a resource's ARN, or its name with the type the event implies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChangeTarget {
    /// CloudFormation type name, when the event says which kind of resource it names.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// An ARN, a name, or an id (an API's id, a key's id or alias).
    pub name: String,
}

/// One write call recorded in an account's event history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChangeEvent {
    /// CloudTrail's `eventID`.
    pub id: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub account_id: String,
    pub region: String,
    /// `lambda.amazonaws.com`, …
    pub source: String,
    /// The API action (`UpdateFunctionConfiguration20150331v2`, `DeleteSecret`, …).
    pub action: String,
    /// Who, in words: `role OrganizationAccountAccessRole (session alice)`, `user bob`, `root`,
    /// or the service that acted.
    pub who: String,
    /// The principal's ARN, when the event has one.
    pub who_arn: Option<String>,
    pub tool: Tool,
    /// The client's `userAgent`, cut to 200 characters.
    pub user_agent: String,
    pub targets: Vec<ChangeTarget>,
    /// `DeleteSecret`'s `recoveryWindowInDays` (30 when the request left it out),
    /// `ScheduleKeyDeletion`'s `pendingWindowInDays`.
    pub window_days: Option<u32>,
}

impl ChangeEvent {
    /// Whether this change named `r` (see [`ChangeTarget::names`]).
    pub fn touches(&self, r: &crate::Resource) -> bool {
        self.targets.iter().any(|t| t.names(self, r))
    }
}

impl ChangeTarget {
    /// Whether this target of `change` is `r`: its ARN, or its name, id or the id's last part (a
    /// function's, a key's id) with the type the event implies, in the event's account (or the
    /// ARN's) and region (IAM's global resources in any).
    pub fn names(&self, change: &ChangeEvent, r: &crate::Resource) -> bool {
        let account = arn_account(&self.name).unwrap_or(&change.account_id);
        if account != r.account_id {
            return false;
        }
        let last = r.id.rsplit(['/', ':']).next();
        let named = self.name == r.id || self.name == r.name || last == Some(self.name.as_str());
        named
            && self
                .type_name
                .as_deref()
                .is_none_or(|t| same_kind(t, &r.type_name))
            && (r.region == change.region || r.region == "global" || r.id == self.name)
    }
}

/// The account an ARN names, if it names one.
pub fn arn_account(s: &str) -> Option<&str> {
    s.strip_prefix("arn:")?
        .split(':')
        .nth(3)
        .filter(|a| !a.is_empty())
}

/// CloudTrail's and CloudFormation's names for a type differ in places.
fn same_kind(event_type: &str, resource_type: &str) -> bool {
    event_type == resource_type
        || matches!(
            (event_type, resource_type),
            ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                | (
                    "AWS::ApiGateway::DomainName",
                    "AWS::ApiGatewayV2::DomainName"
                )
        )
}

/// A resource's creation and latest change, as far as the history read reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Provenance {
    pub created: Option<ChangeEvent>,
    pub last_change: Option<ChangeEvent>,
}

/// How much of one account and region's history a scan read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FeedRead {
    pub account_id: String,
    pub region: String,
    /// RFC 3339: the history was read from here (exclusive of events already held)…
    pub since: String,
    /// …to here.
    pub until: String,
    /// Write events read in this pass.
    pub events: u32,
    /// Why the history could not be read; the resources of this account and region then have
    /// no known changes.
    pub error: Option<crate::UiError>,
}

/// How far back CloudTrail's event history reaches.
pub const HISTORY_DAYS: i64 = 90;

/// One collector a refresh ran again, in one account and region (`global` for IAM and S3).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Reread {
    pub account_id: String,
    pub region: String,
    pub collector: crate::Collector,
}

/// One pass of the incremental refresh (the window's Live mode, `stagecraft watch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LivePass {
    /// RFC 3339: when the pass ended.
    pub at: String,
    /// The write events the pass found, newest first.
    pub changes: Vec<ChangeEvent>,
    /// The collectors it ran again.
    pub read_again: Vec<Reread>,
    /// Why it scanned the whole organization instead, when it did.
    pub full_scan: Option<String>,
    /// The snapshot it stored; none when nothing changed.
    #[ts(type = "number | null")]
    pub snapshot: Option<i64>,
    /// Where the history cannot be read: changes there are not seen until a full scan.
    pub unwatched: Vec<FeedRead>,
    /// Terraform states whose object changed since the snapshot with no event to say so (`import`,
    /// `state rm`, `state mv`): read again.
    #[serde(default)]
    pub states_written: Vec<String>,
    /// Where the pass read the history when not each account's own event history: the
    /// organization trail's log group, in words.
    #[serde(default)]
    pub history_from: Option<String>,
}

/// What one Live pass found, with the snapshot now on screen when it changed.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LiveUpdate {
    pub pass: LivePass,
    pub report: Option<crate::ScanReport>,
}
