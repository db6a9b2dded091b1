//! Scans of sandbox organizations through the real AWS SDK against moto over HTTP: accounts and
//! stages, the inventory and its owners, the audit of what was planted, and hardening through the
//! loopback proxy. One test binary: the read-only tests share one demo organization, the tests
//! that change an organization take the scratch one in turn (`stagecraft_sandbox::harness`).

mod audit;
mod hardening;
mod history;
mod inventory;
mod refresh;
mod replay;
mod scan;
mod signin;
mod spread;
