//! One module per command; each takes its parsed arguments and returns the process's exit code.

pub(crate) mod audit;
pub(crate) mod deletions;
pub(crate) mod deploy;
pub(crate) mod diff;
pub(crate) mod graph;
pub(crate) mod init;
pub(crate) mod login;
pub(crate) mod publish;
pub(crate) mod sandbox;
pub(crate) mod scan;
pub(crate) mod snapshots;
pub(crate) mod undelete;
pub(crate) mod watch;
