//! `stagecraft scan`: scan now, store the snapshot, print the accounts (or the report as JSON).

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::{print_json, print_table};
use crate::source::{incomplete_accounts, scan_now};

pub(crate) async fn scan_cmd(args: ScanArgs) -> Result<ExitCode, Error> {
    if args.since_last {
        return super::watch::since_last(args).await;
    }
    let report = scan_now(&args.source).await?;
    if args.json {
        print_json(&report)?;
    } else {
        print_table(&report);
    }
    if incomplete_accounts(&report) > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
