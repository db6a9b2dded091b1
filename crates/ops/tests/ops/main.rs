//! Deploys and undo actions with real processes against sandbox organizations: the runner, the
//! plan, a whole stage deployed with the real Serverless CLI, restoring and cancelling deletions.

mod deletions;
mod deploy;
mod deploy_e2e;
mod preview;
mod publish;
mod runner;
