//! Progress events of a scan: one tagged enum, serialized with `type`, shared by the CLI and the window.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Account, Organization};

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum ScanEvent {
    Started {
        profile: String,
    },
    /// The organization tree is known; every account is still pending.
    Discovered {
        organization: Organization,
        accounts: Vec<Account>,
    },
    /// A scan-wide step: `terraform` (reading states), `services` (reading serverless.yml files),
    /// `ownership`.
    Phase {
        name: String,
        detail: String,
    },
    /// One collector of one account is done (`lambda us-east-1`); `done` of `total` steps.
    AccountProgress {
        account_id: String,
        step: String,
        done: u32,
        total: u32,
    },
    AccountFinished {
        account: Box<Account>,
    },
    Finished {
        #[ts(type = "number")]
        duration_ms: u64,
    },
}
