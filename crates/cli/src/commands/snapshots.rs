//! `stagecraft snapshots`: the stored snapshots, newest first.

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::print_json;
use crate::source::open_store;

pub(crate) fn snapshots_cmd(args: &StoreArgs) -> Result<ExitCode, Error> {
    let store = open_store(args)?;
    let list = store.list()?;
    if args.json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>5}  {:<25} {:>8} {:>9} {:>10}  PROFILE",
        "ID", "STARTED", "ACCOUNTS", "RESOURCES", "DURATION"
    );
    for s in list {
        println!(
            "{:>5}  {:<25} {:>8} {:>9} {:>8}ms  {}{}",
            s.id,
            s.started_at,
            s.accounts,
            s.resources,
            s.duration_ms,
            s.profile,
            if s.accounts_with_errors > 0 {
                format!("  ({} account(s) with errors)", s.accounts_with_errors)
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
