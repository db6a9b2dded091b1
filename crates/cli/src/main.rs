//! `stagecraft`: the headless CLI over the same crates the desktop app uses.
//!
//! `args` declares the command line, `commands/` holds one module per command, `source` finds the
//! report a command works on, `output` and `progress` are what it prints.
#![allow(clippy::print_stdout)]

mod args;
mod commands;
mod output;
mod progress;
mod source;

use std::process::ExitCode;

use clap::Parser as _;
use stagecraft_model::{Error, UiError};

use crate::args::{AuditFormat, Cli, Command, GraphFormat};

/// jemalloc rather than glibc's allocator: a scan allocates on one runtime thread and frees on
/// another millions of times, and assembling a thousand accounts holds millions of small strings;
/// measured against glibc on the same builds (BENCHMARKS.md), a fifth less CPU for a scan and
/// a tenth less peak memory for assembling.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    stagecraft_aws::logging::init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = match &cli.command {
        Command::Scan(a) => a.json,
        Command::Watch(a) => a.json,
        Command::Snapshots(a) => a.store.json,
        Command::Diff(a) => a.store.json,
        Command::Graph(a) => matches!(a.format, GraphFormat::Json),
        Command::Audit(a) => a.json || matches!(a.format, AuditFormat::Json),
        Command::Deletions(a) => a.json,
        Command::Publish(a) => a.json,
        Command::Team(a) => a.json,
        Command::Undelete(_) => false,
        Command::Deploy(a) => a.json,
        Command::Sandbox(_) | Command::Login(_) | Command::Init(_) => false,
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if json {
                let body = serde_json::json!({ "error": UiError::from(&e) });
                println!("{body}");
            }
            eprintln!("error: {e}");
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Scan(args) => commands::scan::scan_cmd(args).await,
        Command::Watch(args) => commands::watch::watch_cmd(args).await,
        Command::Snapshots(args) => commands::snapshots::snapshots_cmd(&args),
        Command::Diff(args) => commands::diff::diff_cmd(&args),
        Command::Graph(args) => commands::graph::graph_cmd(args).await,
        Command::Audit(args) => commands::audit::audit_cmd(args).await,
        Command::Deletions(args) => commands::deletions::deletions_cmd(args).await,
        Command::Publish(args) => commands::publish::publish_cmd(args).await,
        Command::Team(args) => commands::publish::team_cmd(args).await,
        Command::Undelete(args) => commands::undelete::undelete_cmd(args).await,
        Command::Deploy(args) => commands::deploy::deploy_cmd(args).await,
        Command::Login(args) => commands::login::login_cmd(args).await,
        Command::Init(args) => commands::init::init_cmd(&args),
        Command::Sandbox(cmd) => commands::sandbox::run(cmd).await,
    }
}

/// What to type next, for the errors the command line fixes.
fn hint(e: &Error) -> Option<String> {
    match e {
        Error::ProfileMissing { .. } | Error::NotManagement { .. } => Some(
            "name the management account's profile with --profile (or [organization] profile in stagecraft.toml)"
                .to_owned(),
        ),
        Error::SignedOut { profile, .. } => Some(format!("stagecraft login --profile {profile}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        crate::args::Cli::command().debug_assert();
    }
}
