//! What a scan saw and what it did not: accounts × regions × collectors, where Terraform state was
//! looked for and found, and what was left out and why. A picture built on missing data says so.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A scan's coverage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Coverage {
    /// How the regions were chosen: `option` (`--region`), `config` (`regions = […]`), `in use`
    /// (found per account), or `profile` (the management profile's region only).
    pub region_source: String,
    /// Per account: the regions scanned there and the collectors run and failed.
    pub accounts: Vec<AccountCoverage>,
    pub state: StateCoverage,
    /// Regions in use that the scan did not cover (named by a state's resources or a service's
    /// `provider.region`, or found in use while `regions` limited the scan).
    pub left_out: Vec<LeftOut>,
    /// Why no Terraform state was found at all, when none was (then what Terraform owns shows as
    /// unmanaged).
    #[serde(default)]
    pub no_state: Option<String>,
    /// Anything else not seen, each with the reason.
    pub skipped: Vec<String>,
    /// Something was not seen: an account or collector failed, a region was left out, or no
    /// Terraform state was found at all.
    pub partial: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct AccountCoverage {
    pub account_id: String,
    pub regions: Vec<String>,
    /// Collector runs (one per regional collector and region, plus the global ones).
    pub collectors: u32,
    pub failed: u32,
    /// Calls spent finding the regions in use (0 when the regions were given).
    pub region_probe_calls: u32,
}

/// Where Terraform state was looked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StateCoverage {
    /// The backend `stagecraft.toml` names, if any (`s3://bucket/key` or a local path).
    pub configured: Option<String>,
    /// Whether every scanned account's buckets were searched.
    pub discovery: bool,
    pub accounts_searched: u32,
    pub buckets_probed: u32,
    /// S3 calls the search made (one `ListObjectsV2` page per bucket decides; state buckets are
    /// then listed in full).
    pub calls: u32,
    /// `s3://bucket` of every bucket holding `*.tfstate` objects, with its account.
    pub state_buckets: Vec<StateBucket>,
    pub states_read: u32,
    pub states_unreadable: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StateBucket {
    pub bucket: String,
    pub account_id: String,
    pub region: String,
    pub states: u32,
    /// DynamoDB tables keyed by `LockID` in the same account and region, checked for locks.
    pub lock_tables: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct LeftOut {
    pub account_id: Option<String>,
    pub region: String,
    pub why: String,
}
