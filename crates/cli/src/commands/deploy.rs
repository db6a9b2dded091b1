//! `stagecraft deploy`: the phased plan of a stage, its preflight, and the run with live output.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::{ask, print_json};
use crate::source::{report_for, scan_now};
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_iac::config::Workspace;
use stagecraft_model::deploy::Outcome;
use stagecraft_store::Store;

pub(crate) async fn deploy_cmd(args: DeployArgs) -> Result<ExitCode, Error> {
    let workspace = match &args.source.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let report = report_for(&args.source, &args.snapshot).await?;
    if args.preview {
        return preview(&workspace, &report, &args).await;
    }
    let tools = stagecraft_ops::deploy::Tools::detect(&workspace).await;
    let plan = stagecraft_ops::deploy::plan(&workspace, &report, &args.stage, &tools)?;
    if args.json {
        print_json(&plan)?;
    } else {
        println!(
            "deploy of stage {} (account {}, profile `{}`{})",
            plan.stage,
            plan.account_id.as_deref().unwrap_or("unknown"),
            plan.profile,
            if plan.protected { ", protected" } else { "" }
        );
        let mut phase = None;
        for (i, s) in plan.steps.iter().enumerate() {
            if phase != Some(s.phase) {
                phase = Some(s.phase);
                println!("phase {}: {}", s.phase.number(), s.phase.title());
            }
            println!("  {:>2}. {:<40} $ {}", i + 1, s.title, s.command.join(" "));
            if let Some(f) = &s.fallback {
                println!("      if that fails: $ {}", f.join(" "));
            }
            println!("      in {} as profile `{}`", s.dir, s.profile);
            for u in s
                .profiles
                .iter()
                .filter(|u| u.used_by != s.profiles[0].used_by)
            {
                println!(
                    "      with profile `{}` for {} ({})",
                    u.profile, u.used_by, u.named_at
                );
            }
            println!("      why: {}", s.reason);
        }
    }
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let store_path = args
        .source
        .store
        .clone()
        .unwrap_or_else(Store::default_path);
    let lock_dir = stagecraft_ops::deploy::lock_dir(&store_path);
    let env = AwsEnv::from_environment();
    eprintln!("preflight:");
    for p in stagecraft_ops::deploy::preflight(&env, &plan, &report, &lock_dir, &tools).await {
        eprintln!(
            "  {} {} — {}{}",
            if p.ok { "✔" } else { "✗" },
            p.check,
            p.detail,
            p.fix.map(|f| format!(" (fix: {f})")).unwrap_or_default()
        );
    }
    let typed_stage = if plan.protected {
        Some(args.confirm_stage.clone().ok_or_else(|| {
            Error::Input(format!(
                "{} is a protected stage: pass --confirm-stage {}",
                plan.stage, plan.stage
            ))
        })?)
    } else if args.yes {
        None
    } else if std::io::stdin().is_terminal() {
        if ask(&format!("deploy {}? type yes: ", plan.stage))? != "yes" {
            eprintln!("not confirmed; nothing done");
            return Ok(ExitCode::FAILURE);
        }
        None
    } else {
        return Err(Error::Input("not confirmed: pass --yes".into()));
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling: SIGTERM to the running step, SIGKILL after 5 s");
            let _ = tx.send(true);
        }
    });
    let titles: Vec<String> = plan.steps.iter().map(|s| s.title.clone()).collect();
    let on = |e: stagecraft_ops::deploy::run::RunEvent| {
        use stagecraft_ops::deploy::run::RunEvent;
        match e {
            RunEvent::StepStarted { index, title, .. } => {
                println!("── step {} of {}: {title}", index + 1, titles.len());
            }
            RunEvent::Line {
                at, stream, text, ..
            } => {
                let clock = at.get(11..19).unwrap_or("");
                let mark = match stream.as_str() {
                    "stderr" => "!",
                    "stagecraft" => "»",
                    _ => " ",
                };
                println!("{clock} {mark} {text}");
            }
            RunEvent::StepFinished {
                index,
                outcome,
                exit_code,
                duration_ms,
            } => {
                println!(
                    "── step {} {outcome}{} in {:.1} s",
                    index + 1,
                    exit_code
                        .map(|c| format!(" (exit {c})"))
                        .unwrap_or_default(),
                    duration_ms as f64 / 1000.0
                );
            }
        }
    };
    let opts = stagecraft_ops::deploy::DeployOptions {
        from_step: args.from_step.saturating_sub(1),
        typed_stage,
        ..Default::default()
    };
    let run = stagecraft_ops::deploy::execute(
        &env,
        &workspace,
        &report,
        &args.stage,
        &store_path,
        opts,
        rx,
        &on,
    )
    .await?;
    eprintln!("run #{} {}", run.id, run.outcome);
    if run.outcome != Outcome::Succeeded {
        if let Some(failed) = run.steps.iter().find(|s| s.outcome != Outcome::Succeeded) {
            eprintln!(
                "retry from the step that stopped: stagecraft deploy --stage {} --from-step {}",
                args.stage,
                failed.index + 1
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    // Show what was deployed: rescan the stage's account.
    if let Some(account) = plan.account_id.clone() {
        let mut source = args.source;
        source.account = Some(account);
        source.no_store = false;
        scan_now(&source).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `deploy --preview`: what each step would change; exit 2 when a step's changes could not be found.
async fn preview(
    workspace: &Workspace,
    report: &stagecraft_model::ScanReport,
    args: &DeployArgs,
) -> Result<ExitCode, Error> {
    use stagecraft_model::deploy::ChangeAction;
    let progress = |what: &str| eprintln!("preview: {what}…");
    let changes = stagecraft_ops::deploy::changes::preview_changes(
        &AwsEnv::from_environment(),
        workspace,
        report,
        &args.stage,
        &progress,
    )
    .await?;
    let incomplete = changes.steps.iter().any(|s| s.error.is_some());
    if args.json {
        print_json(&changes)?;
    } else {
        println!("what the deploy of {} would change", changes.stage);
        for step in &changes.steps {
            println!(
                "step {}: {} — {}",
                step.index + 1,
                step.title,
                if step.source.is_empty() {
                    "not previewed"
                } else {
                    step.source.as_str()
                }
            );
            if let Some(p) = &step.provisional {
                println!("  provisional: {p}");
            }
            if let Some(e) = &step.error {
                for (i, line) in e.lines().enumerate() {
                    println!("  {} {line}", if i == 0 { "✗ no preview:" } else { "   " });
                }
            } else if step.changes.is_empty() && step.provisional.is_none() {
                println!("  no changes");
            }
            for c in &step.changes {
                let mark = match c.action {
                    ChangeAction::Create => "+",
                    ChangeAction::Update => "~",
                    ChangeAction::Replace => "-/+",
                    ChangeAction::Delete => "-",
                };
                println!(
                    "  {mark:>3} {:<8} {} ({})",
                    c.action.as_str(),
                    c.address,
                    c.type_name
                );
                for d in &c.details {
                    println!("               {d}");
                }
            }
        }
        let count = |a: ChangeAction| {
            changes
                .steps
                .iter()
                .flat_map(|s| &s.changes)
                .filter(|c| c.action == a)
                .count()
        };
        println!(
            "{} to create, {} to update, {} to replace, {} to delete",
            count(ChangeAction::Create),
            count(ChangeAction::Update),
            count(ChangeAction::Replace),
            count(ChangeAction::Delete)
        );
        if changes.destructive {
            println!(
                "it deletes or replaces resources: the deploy needs the stage's name typed (--confirm-stage {})",
                changes.stage
            );
        }
    }
    if incomplete {
        eprintln!("some steps could not be previewed (see above)");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
