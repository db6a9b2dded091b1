//! `stagecraft undelete`: restore a secret or cancel a key's deletion, confirmed, recorded, rescanned.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::ask;
use crate::source::{open_store_at, organization, profile_of, scan_now};
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_iac::config::Workspace;
use stagecraft_ops::undo;

pub(crate) async fn undelete_cmd(args: UndeleteArgs) -> Result<ExitCode, Error> {
    let workspace = match &args.source.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let store = open_store_at(args.source.store.as_deref())?;
    let org = organization(
        &store,
        None,
        profile_of(&args.source, &workspace).as_deref(),
    )?;
    let report = store
        .latest_in(org.as_deref())?
        .ok_or_else(|| Error::Input("no snapshot yet; run `stagecraft scan` first".into()))?;
    let pending = stagecraft_analysis::deletion::pending(&report, &[]);
    let matches: Vec<_> = pending
        .iter()
        .filter(|p| p.id == args.resource || p.name == args.resource)
        .collect();
    let item = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::Input(format!(
                "`{}` is not pending deletion in the latest snapshot (see `stagecraft deletions`)",
                args.resource
            )))
        }
        many => {
            return Err(Error::Input(format!(
                "`{}` names {} pending deletions; pass the id: {}",
                args.resource,
                many.len(),
                many.iter()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let Some(action) = item.action.clone() else {
        return Err(Error::Input(format!(
            "{} `{}` cannot be undone from Stagecraft ({})",
            item.type_name, item.name, item.detail
        )));
    };
    let stage = item.stage.clone().unwrap_or_default();
    let verb = if action == "restore_secret" {
        "Restore secret"
    } else {
        "Cancel the deletion of KMS key"
    };
    eprintln!(
        "{verb} `{}` in account {} (stage {})?",
        item.name,
        item.account_id,
        if stage.is_empty() { "none" } else { &stage }
    );
    let protected = !stage.is_empty() && undo::is_protected(&workspace, &stage);
    let typed_stage = if protected {
        match &args.confirm_stage {
            Some(s) => Some(s.clone()),
            None if std::io::stdin().is_terminal() => Some(ask(&format!(
                "{stage} is protected: type its name to confirm: "
            ))?),
            None => {
                return Err(Error::Input(format!(
                    "{stage} is a protected stage: pass --confirm-stage {stage}"
                )))
            }
        }
    } else if args.yes {
        None
    } else if std::io::stdin().is_terminal() {
        if ask("type yes to confirm: ")? != "yes" {
            eprintln!("not confirmed; nothing done");
            return Ok(ExitCode::FAILURE);
        }
        None
    } else {
        return Err(Error::Input("not confirmed: pass --yes".into()));
    };
    let req = undo::ActionRequest {
        action,
        resource_id: item.id.clone(),
        typed_stage,
    };
    let record = undo::perform(&AwsEnv::from_environment(), &workspace, &report, &req).await?;
    store.record_action(&record)?;
    eprintln!("{}: {}", record.outcome, record.message);
    if record.outcome != undo::ActionOutcome::Done {
        return Ok(ExitCode::FAILURE);
    }
    // Refresh the account from AWS so the next look shows the change.
    let account = item.account_id.clone();
    drop(store);
    let mut source = args.source;
    source.account = Some(account);
    scan_now(&source).await?;
    Ok(ExitCode::SUCCESS)
}
