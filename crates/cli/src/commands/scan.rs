//! `stagecraft scan`: scan now, store the snapshot, print the accounts (or the report as JSON).

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::{print_json, print_table};
use std::io::Write as _;

use crate::source::{incomplete_accounts, scan_now, Scanned};

pub(crate) async fn scan_cmd(args: ScanArgs) -> Result<ExitCode, Error> {
    if args.since_last {
        return super::watch::since_last(args).await;
    }
    let Scanned { report, stored } = scan_now(&args.source).await?;
    if args.json {
        match stored {
            // Streamed from the store: the report is never held whole.
            Some(kept) => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                kept.store.write_json(kept.id, &mut out, true)?;
                writeln!(out)
                    .and_then(|()| out.flush())
                    .map_err(|e| Error::io("writing JSON", e))?;
            }
            None => print_json(&report)?,
        }
    } else {
        print_table(&report);
    }
    if incomplete_accounts(&report) > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
