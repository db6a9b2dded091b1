//! What Stagecraft decides from a snapshot: who owns each resource, how resources link (SSM
//! writer → parameter → reader, ARNs and ids), the graph the window, the exports and the audit all
//! read, the audit's findings, the stage matrix and what is waiting out a deletion window.
//!
//! Pure functions over the model: no AWS SDK, no async runtime, no store. That is what lets the
//! rules be tested on hand-built organizations (`testkit`) in milliseconds.

pub mod audit;
pub mod change;
pub mod deletion;
pub mod graph;
mod intern;
pub mod link;
pub mod matrix;
pub mod own;
pub mod views;

#[cfg(test)]
pub(crate) mod testkit;

use stagecraft_iac::{config, serverless, terraform};
use stagecraft_model as model;
