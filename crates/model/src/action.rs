//! The undo actions (restore a secret, cancel a key deletion): what is asked and what was done.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What the window or the CLI asks for.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ActionRequest {
    /// `restore_secret` or `cancel_key_deletion`.
    pub action: String,
    pub resource_id: String,
    /// The stage name as the user typed it (required for protected stages).
    pub typed_stage: Option<String>,
}

/// One action taken, as the history keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ActionRecord {
    /// RFC 3339.
    pub at: String,
    /// The AWS identity that acted (its ARN) and the local user.
    pub who: String,
    pub action: String,
    pub account_id: String,
    pub stage: Option<String>,
    pub resource_id: String,
    pub resource_name: String,
    pub outcome: ActionOutcome,
    pub message: String,
}

/// How an undo action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ActionOutcome {
    Done,
    Failed,
}

impl ActionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Done => "done",
            ActionOutcome::Failed => "failed",
        }
    }

    /// Reads a stored outcome; `None` for a word this build does not know.
    pub fn parse(word: &str) -> Option<ActionOutcome> {
        match word {
            "done" => Some(ActionOutcome::Done),
            "failed" => Some(ActionOutcome::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for ActionOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
