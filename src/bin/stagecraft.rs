//! `stagecraft`: the headless CLI over the same core the desktop app uses.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use stagecraft::audit::{Finding, Severity};
use stagecraft::aws::AwsEnv;
use stagecraft::config::Workspace;
use stagecraft::graph::Graph;
use stagecraft::model::{AccountStatus, ScanReport};
use stagecraft::sandbox::{self, SeedSpec, UpOptions};
use stagecraft::scan::{self, ScanEvent, ScanOptions};
use stagecraft::store::Store;
use stagecraft::{Error, UiError};

#[derive(Parser)]
#[command(
    name = "stagecraft",
    version,
    about = "Who owns what across an AWS Organization run with Terraform + Serverless"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Discover the organization, scan every account, decide every resource's owner, store a snapshot.
    Scan(ScanArgs),
    /// List the stored snapshots, newest first.
    Snapshots(StoreArgs),
    /// What changed between two snapshots (default: the one before the latest, and the latest).
    Diff(DiffArgs),
    /// The graph of links (SSM writes and reads, policies, mappings, authorizers, stacks) as text,
    /// JSON, DOT or Mermaid.
    Graph(GraphArgs),
    /// What is pending deletion across the organization (secrets, KMS keys, stacks stuck deleting,
    /// buckets gone since an earlier snapshot) and which deploys each will break.
    Deletions(DeletionsArgs),
    /// Undo a pending deletion: restore a secret or cancel a KMS key's deletion (asks for
    /// confirmation; a protected stage's name must be typed), then rescan its account.
    Undelete(UndeleteArgs),
    /// The phased deploy of a stage: Terraform, the services in dependency order, Terraform again
    /// when the stage needs it. `--dry-run` shows the plan with each step's reason.
    Deploy(DeployArgs),
    /// Findings where Terraform and Serverless overlap or drift. Exit code 3 when findings at or
    /// above --fail-on exist, 2 when an account could not be scanned completely.
    Audit(AuditArgs),
    /// Start, stop or describe the local sandbox organization.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

#[derive(Args)]
struct ScanArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Where a report comes from: a fresh scan (stored unless `--no-store`), or a stored snapshot.
#[derive(Args)]
struct SourceArgs {
    /// The management account's AWS profile (default: the workspace config, then AWS_PROFILE).
    #[arg(long)]
    profile: Option<String>,
    /// The workspace config (stagecraft.toml).
    #[arg(long, env = "STAGECRAFT_CONFIG")]
    config: Option<PathBuf>,
    /// Regions to scan (repeatable; default: the config, then the profile's region).
    #[arg(long = "region")]
    regions: Vec<String>,
    /// Accounts scanned at once.
    #[arg(long)]
    parallelism: Option<usize>,
    /// Do not store this scan as a snapshot.
    #[arg(long)]
    no_store: bool,
    /// The snapshot store (SQLite). Default: the platform's data dir (`~/.local/share/stagecraft/`).
    #[arg(long = "store", env = "STAGECRAFT_STORE")]
    store: Option<PathBuf>,
    /// Rescan only this account; the others keep what the latest snapshot has.
    #[arg(long)]
    account: Option<String>,
}

#[derive(Args)]
struct SnapshotArg {
    /// Use a stored snapshot (`latest` or its id) instead of scanning now.
    #[arg(long)]
    snapshot: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Args)]
struct GraphArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    snapshot: SnapshotArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: GraphFormat,
    /// Only this stage's nodes.
    #[arg(long)]
    stage: Option<String>,
    /// Only the neighbourhood of this node id (an ARN, `terraform:…`) or unique resource name.
    #[arg(long)]
    focus: Option<String>,
    /// How many links away from --focus to go.
    #[arg(long, default_value_t = 1)]
    depth: usize,
}

#[derive(Args)]
struct DeletionsArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    snapshot: SnapshotArg,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Only this stage.
    #[arg(long)]
    stage: Option<String>,
}

#[derive(Args)]
struct DeployArgs {
    /// The stage to deploy.
    #[arg(long)]
    stage: String,
    /// Show the plan and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
    /// Run without asking (an unprotected stage).
    #[arg(long)]
    yes: bool,
    /// The stage name, typed to confirm a deploy of a protected stage.
    #[arg(long)]
    confirm_stage: Option<String>,
    /// Start at this step (1-based, as the plan numbers them): a retry from the step that failed.
    #[arg(long, default_value_t = 1)]
    from_step: usize,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    snapshot: SnapshotArg,
}

#[derive(Args)]
struct UndeleteArgs {
    /// The resource id (ARN) from `stagecraft deletions`, or its name when that is unique.
    resource: String,
    #[command(flatten)]
    source: SourceArgs,
    /// Confirm without asking (for an unprotected stage).
    #[arg(long)]
    yes: bool,
    /// The stage name, typed to confirm an action in a protected stage.
    #[arg(long)]
    confirm_stage: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AuditFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Args)]
struct AuditArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    snapshot: SnapshotArg,
    /// Output format (`--json` is short for `--format json`).
    #[arg(long, value_enum, default_value = "text")]
    format: AuditFormat,
    #[arg(long)]
    json: bool,
    /// Only this stage's findings.
    #[arg(long)]
    stage: Option<String>,
    /// Exit with 3 when a finding at or above this severity exists (info, low, medium, high).
    #[arg(long, default_value = "medium")]
    fail_on: Severity,
}

#[derive(Args)]
struct StoreArgs {
    /// The snapshot store (SQLite). Default: the platform's data dir (`~/.local/share/stagecraft/`).
    #[arg(long = "store", env = "STAGECRAFT_STORE")]
    path: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DiffArgs {
    /// The older snapshot id.
    from: Option<i64>,
    /// The newer snapshot id (default: the latest).
    to: Option<i64>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Start moto on loopback, seed the demo organization, write D/aws-config and D/stagecraft.toml.
    Up {
        #[arg(long)]
        dir: PathBuf,
        /// Python venv for the pinned moto (created when missing).
        #[arg(long, env = "STAGECRAFT_VENV", default_value = ".venv")]
        venv: PathBuf,
        /// The demo workspace the written stagecraft.toml points at.
        #[arg(long, default_value = "examples")]
        examples: PathBuf,
        /// Stages, one member account each.
        #[arg(long, value_delimiter = ',', default_value = "dev,qa,prod")]
        stages: Vec<String>,
        /// Generic API services beside auth, users and orders.
        #[arg(long, default_value_t = 0)]
        extra_services: usize,
        /// Extra functions per service.
        #[arg(long, default_value_t = 0)]
        extra_functions: usize,
        /// Seed without the planted problems.
        #[arg(long)]
        clean: bool,
    },
    /// Stop the sandbox started from D.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the shell exports for the sandbox in D.
    Env {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    stagecraft::logging::init();
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
        Command::Snapshots(a) => a.json,
        Command::Diff(a) => a.store.json,
        Command::Graph(a) => matches!(a.format, GraphFormat::Json),
        Command::Audit(a) => a.json || matches!(a.format, AuditFormat::Json),
        Command::Deletions(a) => a.json,
        Command::Undelete(_) => false,
        Command::Deploy(a) => a.json,
        Command::Sandbox(_) => false,
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if json {
                let body = serde_json::json!({ "error": UiError::from(&e) });
                println!("{body}");
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Scan(args) => scan_cmd(args).await,
        Command::Snapshots(args) => snapshots_cmd(&args),
        Command::Diff(args) => diff_cmd(&args),
        Command::Graph(args) => graph_cmd(args).await,
        Command::Audit(args) => audit_cmd(args).await,
        Command::Deletions(args) => deletions_cmd(args).await,
        Command::Undelete(args) => undelete_cmd(args).await,
        Command::Deploy(args) => deploy_cmd(args).await,
        Command::Sandbox(SandboxCommand::Up {
            dir,
            venv,
            examples,
            stages,
            extra_services,
            extra_functions,
            clean,
        }) => {
            let found = examples.canonicalize().ok();
            if found.is_none() {
                eprintln!(
                    "note: no demo workspace at `{}` (pass --examples DIR): the written stagecraft.toml maps the stages to the accounts, with no Terraform or Serverless code to plan deploys from",
                    examples.display()
                );
            }
            let opts = UpOptions {
                dir,
                venv,
                examples: found,
                spec: SeedSpec {
                    stages,
                    extra_services,
                    extra_functions,
                    plant_problems: !clean,
                    ..SeedSpec::default()
                },
                tied: false,
            };
            let running = sandbox::up(&opts, &mut |line| eprintln!("{line}")).await?;
            let sandbox = &running.sandbox;
            eprintln!(
                "sandbox organization {} ready: {} accounts. Use it with:",
                sandbox.seeded.organization_id,
                sandbox.seeded.accounts.len() + 1
            );
            for (k, v) in sandbox.env_vars() {
                println!("export {k}='{v}'");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox(SandboxCommand::Down { dir }) => {
            if sandbox::down(&dir)? {
                eprintln!("sandbox in {} stopped", dir.display());
            } else {
                eprintln!("sandbox in {} was not running", dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox(SandboxCommand::Env { dir }) => {
            let sandbox = sandbox::Sandbox::load(&dir)?;
            for (k, v) in sandbox.env_vars() {
                println!("export {k}='{v}'");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Scans now (storing the snapshot unless `--no-store`), with progress bars on a terminal.
async fn scan_now(args: &SourceArgs) -> Result<ScanReport, Error> {
    let workspace = match &args.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let rescan = match &args.account {
        None => None,
        Some(id) => {
            let store = open_store_at(args.store.as_deref())?;
            let previous = store.latest()?.ok_or_else(|| {
                Error::Input(
                    "--account rescans one account of the latest snapshot, and there is none yet: run `stagecraft scan` first".into(),
                )
            })?;
            Some(scan::Rescan {
                account_id: id.clone(),
                previous: std::sync::Arc::new(previous),
            })
        }
    };
    let opts = ScanOptions {
        profile: args.profile.clone(),
        regions: args.regions.clone(),
        parallelism: args.parallelism,
        rescan,
        ..ScanOptions::default()
    };
    let bars = std::io::stderr().is_terminal().then(Bars::default);
    let progress = |event: ScanEvent| {
        if let Some(bars) = &bars {
            bars.update(&event);
        }
    };
    let env = AwsEnv::from_environment();
    let report = if args.no_store {
        scan::scan(&env, &workspace, &opts, &progress).await?
    } else {
        let mut store = open_store_at(args.store.as_deref())?;
        let (report, id) =
            scan::scan_and_store(&env, &workspace, &opts, &mut store, &progress).await?;
        eprintln!("stored as snapshot {id} in {}", store.path().display());
        report
    };
    if let Some(bars) = &bars {
        bars.multi.clear().ok();
    }
    for w in &report.warnings {
        eprintln!("warning: {}", w.message);
    }
    Ok(report)
}

/// The report a command works on: a stored snapshot with `--snapshot`, else a fresh scan.
async fn report_for(source: &SourceArgs, snapshot: &SnapshotArg) -> Result<ScanReport, Error> {
    let Some(which) = &snapshot.snapshot else {
        return scan_now(source).await;
    };
    let store = open_store_at(source.store.as_deref())?;
    let id = if which == "latest" {
        store
            .latest_id()?
            .ok_or_else(|| Error::Store("no snapshots yet; run `stagecraft scan` first".into()))?
    } else {
        which.parse::<i64>().map_err(|_| {
            Error::Store(format!(
                "--snapshot takes `latest` or a snapshot id (see `stagecraft snapshots`), not `{which}`"
            ))
        })?
    };
    Ok(store.load(id)?)
}

/// How many accounts the report could not scan completely (reported on stderr).
fn incomplete_accounts(report: &ScanReport) -> usize {
    let failed = report
        .accounts
        .iter()
        .filter(|a| matches!(a.status, AccountStatus::Error | AccountStatus::Partial))
        .count();
    if failed > 0 {
        eprintln!("{failed} account(s) could not be scanned completely; see the status column of `stagecraft scan`");
    }
    failed
}

async fn scan_cmd(args: ScanArgs) -> Result<ExitCode, Error> {
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

/// The graph of the report, narrowed to a stage and/or a node's neighbourhood.
fn narrowed_graph(
    report: &ScanReport,
    stage: Option<&str>,
    focus: Option<(&str, usize)>,
) -> Result<Graph, Error> {
    let mut graph = Graph::build(report);
    if let Some(stage) = stage {
        let known: Vec<String> = report
            .accounts
            .iter()
            .filter_map(|a| a.stage.clone())
            .collect();
        if !known.iter().any(|s| s == stage) {
            return Err(Error::Input(format!(
                "no account of the snapshot is stage `{stage}`; stages: {}",
                known.join(", ")
            )));
        }
        graph = graph.stage(stage);
    }
    if let Some((focus, depth)) = focus {
        let id = if graph.node(focus).is_some() {
            focus.to_owned()
        } else {
            let named: Vec<&stagecraft::graph::Node> =
                graph.nodes().filter(|n| n.name == focus).collect();
            match named.as_slice() {
                [one] => one.id.clone(),
                [] => {
                    return Err(Error::Input(format!(
                        "--focus `{focus}` is neither a node id nor a resource name in the graph"
                    )))
                }
                many => {
                    return Err(Error::Input(format!(
                        "--focus `{focus}` names {} nodes; pass one id: {}",
                        many.len(),
                        many.iter()
                            .map(|n| n.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
        };
        graph = graph.focus(&id, depth);
    }
    Ok(graph)
}

async fn graph_cmd(args: GraphArgs) -> Result<ExitCode, Error> {
    let report = report_for(&args.source, &args.snapshot).await?;
    let graph = narrowed_graph(
        &report,
        args.stage.as_deref(),
        args.focus.as_deref().map(|f| (f, args.depth)),
    )?;
    match args.format {
        GraphFormat::Json => print_json(&graph.data())?,
        GraphFormat::Text => print!("{}", stagecraft::graph::to_text(&graph)),
        GraphFormat::Dot => print!("{}", stagecraft::graph::to_dot(&graph)),
        GraphFormat::Mermaid => print!("{}", stagecraft::graph::to_mermaid(&graph)),
    }
    if incomplete_accounts(&report) > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_cmd(args: AuditArgs) -> Result<ExitCode, Error> {
    let report = report_for(&args.source, &args.snapshot).await?;
    let graph = Graph::build(&report);
    let mut findings = stagecraft::audit::audit(&report, &graph);
    if let Some(stage) = &args.stage {
        let known = report
            .accounts
            .iter()
            .any(|a| a.stage.as_deref() == Some(stage));
        if !known {
            return Err(Error::Input(format!(
                "no account of the snapshot is stage `{stage}`"
            )));
        }
        findings.retain(|f| f.stage.as_deref() == Some(stage.as_str()));
    }
    let format = if args.json {
        AuditFormat::Json
    } else {
        args.format
    };
    match format {
        AuditFormat::Json => print_json(&stagecraft::audit::AuditReport::new(
            &report,
            findings.clone(),
        ))?,
        AuditFormat::Markdown => print!("{}", stagecraft::audit::to_markdown(&report, &findings)),
        AuditFormat::Text => print_findings(&findings),
    }
    let incomplete = incomplete_accounts(&report) > 0;
    let failing = findings
        .iter()
        .filter(|f| f.severity >= args.fail_on)
        .count();
    if failing > 0 {
        eprintln!("{failing} finding(s) at or above {}", args.fail_on.as_str());
        return Ok(ExitCode::from(3));
    }
    if incomplete {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Buckets recent snapshots saw (for "deleted recently"); none without a store.
fn gone_buckets(store: Option<&std::path::Path>) -> Vec<stagecraft::deletion::GoneBucket> {
    open_store_at(store)
        .ok()
        .and_then(|s| stagecraft::deletion::recently_seen_buckets(&s).ok())
        .unwrap_or_default()
}

/// Asks on the terminal and returns the answer, trimmed.
fn ask(prompt: &str) -> Result<String, Error> {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the confirmation", e))?;
    Ok(line.trim().to_owned())
}

async fn deletions_cmd(args: DeletionsArgs) -> Result<ExitCode, Error> {
    let report = report_for(&args.source, &args.snapshot).await?;
    let mut list =
        stagecraft::deletion::pending(&report, &gone_buckets(args.source.store.as_deref()));
    if let Some(stage) = &args.stage {
        list.retain(|p| p.stage.as_deref() == Some(stage.as_str()));
    }
    if args.json {
        print_json(&list)?;
    } else if list.is_empty() {
        println!("nothing is pending deletion");
    } else {
        let now = time::OffsetDateTime::now_utc();
        for p in &list {
            let left = p
                .deletion_date
                .as_deref()
                .map(|d| format!("{} left", stagecraft::deletion::time_left(d, now)))
                .unwrap_or_else(|| p.state.clone());
            println!(
                "{:<6} {:<28} {:<30} {:<20} {}",
                p.stage.as_deref().unwrap_or("-"),
                p.type_name,
                p.name,
                left,
                p.detail
            );
            for b in &p.blocks {
                println!("       ✗ {}", b.message);
            }
        }
    }
    if incomplete_accounts(&report) > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

async fn undelete_cmd(args: UndeleteArgs) -> Result<ExitCode, Error> {
    use stagecraft::deletion::actions;
    let workspace = match &args.source.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let store = open_store_at(args.source.store.as_deref())?;
    let report = store
        .latest()?
        .ok_or_else(|| Error::Input("no snapshot yet; run `stagecraft scan` first".into()))?;
    let pending = stagecraft::deletion::pending(&report, &[]);
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
    let protected = !stage.is_empty() && actions::is_protected(&workspace, &stage);
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
    let req = actions::ActionRequest {
        action,
        resource_id: item.id.clone(),
        typed_stage,
    };
    let record = actions::perform(&AwsEnv::from_environment(), &workspace, &report, &req).await?;
    store.record_action(&record)?;
    eprintln!("{}: {}", record.outcome, record.message);
    if record.outcome != "done" {
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

async fn deploy_cmd(args: DeployArgs) -> Result<ExitCode, Error> {
    let workspace = match &args.source.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let report = report_for(&args.source, &args.snapshot).await?;
    let plan = stagecraft::deploy::plan(&workspace, &report, &args.stage)?;
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
        let mut phase = 0;
        for (i, s) in plan.steps.iter().enumerate() {
            if s.phase != phase {
                phase = s.phase;
                println!(
                    "phase {phase}: {}",
                    match phase {
                        1 => "Terraform",
                        2 => "Serverless services",
                        _ => "Terraform, post-deploy",
                    }
                );
            }
            println!("  {:>2}. {:<40} $ {}", i + 1, s.title, s.command.join(" "));
            println!("      in {} as profile `{}`", s.dir, s.profile);
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
    let lock_dir = stagecraft::deploy::lock_dir(&store_path);
    let env = AwsEnv::from_environment();
    eprintln!("preflight:");
    for p in stagecraft::deploy::preflight(&env, &plan, &report, &lock_dir).await {
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
    let on = |e: stagecraft::deploy::run::RunEvent| {
        use stagecraft::deploy::run::RunEvent;
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
    let opts = stagecraft::deploy::DeployOptions {
        from_step: args.from_step.saturating_sub(1),
        typed_stage,
        ..Default::default()
    };
    let run = stagecraft::deploy::execute(
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
    if run.outcome != "succeeded" {
        if let Some(failed) = run.steps.iter().find(|s| s.outcome != "succeeded") {
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

fn print_findings(findings: &[Finding]) {
    if findings.is_empty() {
        println!("no findings");
        return;
    }
    let mut stage = None;
    for f in findings {
        if stage != Some(&f.stage) {
            stage = Some(&f.stage);
        }
        println!(
            "{:<6} {:<30} [{}] {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.stage.as_deref().unwrap_or("-"),
            f.message
        );
        println!("       fix: {}", f.fix);
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::io("serialising JSON", std::io::Error::other(e)))?;
    println!("{text}");
    Ok(())
}

fn open_store(args: &StoreArgs) -> Result<Store, Error> {
    open_store_at(args.path.as_deref())
}

fn open_store_at(path: Option<&std::path::Path>) -> Result<Store, Error> {
    let path = path.map(PathBuf::from).unwrap_or_else(Store::default_path);
    Ok(Store::open(&path)?)
}

fn snapshots_cmd(args: &StoreArgs) -> Result<ExitCode, Error> {
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

fn diff_cmd(args: &DiffArgs) -> Result<ExitCode, Error> {
    let store = open_store(&args.store)?;
    let to = match args.to {
        Some(id) => id,
        None => store
            .latest_id()?
            .ok_or_else(|| Error::Store("no snapshots yet; run `stagecraft scan` first".into()))?,
    };
    let from = match args.from {
        Some(id) => id,
        None => store.previous_id(to)?.ok_or_else(|| {
            Error::Store(format!(
                "snapshot {to} is the first one; scan again to have something to compare"
            ))
        })?,
    };
    let a = store.load(from)?;
    let b = store.load(to)?;
    let d = stagecraft::store::diff(&a, &b, Some(from), Some(to));
    if args.store.json {
        print_json(&d)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "snapshot {from} ({}) → {to} ({})",
        d.from_started_at, d.to_started_at
    );
    if d.is_empty() {
        println!("no changes");
    }
    for r in &d.added {
        println!(
            "+ {} {} ({}, {})",
            r.type_name,
            r.name,
            r.account_id,
            r.owner.kind()
        );
    }
    for r in &d.removed {
        println!(
            "- {} {} ({}, {})",
            r.type_name,
            r.name,
            r.account_id,
            r.owner.kind()
        );
    }
    for c in &d.changed {
        println!("~ {} {} ({})", c.type_name, c.name, c.account_id);
        for f in &c.changes {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "∅".into())
            };
            println!("    {}: {} → {}", f.field, show(&f.before), show(&f.after));
        }
    }
    for a in &d.accounts {
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "∅".into())
        };
        println!(
            "! account {}: {} → {}",
            a.field,
            show(&a.before),
            show(&a.after)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(report: &ScanReport) {
    println!(
        "organization {} (management {}), profile `{}`, regions {}, {} ms",
        report.organization.id,
        report.organization.management_account_id,
        report.profile,
        report.regions.join(","),
        report.duration_ms
    );
    println!(
        "{:<14} {:<20} {:<12} {:<10} {:>9} {:>5} {:>5} {:>5} {:>5}  STATUS",
        "ACCOUNT", "NAME", "OU", "STAGE", "RESOURCES", "TF", "SLS", "UNMGD", "CONFL"
    );
    let count = |a: &stagecraft::model::Account, k: &str| a.counts.get(k).copied().unwrap_or(0);
    for a in &report.accounts {
        let status = match (&a.status, &a.error, &a.identity) {
            (AccountStatus::Error, Some(e), _) => format!("✗ {}", e.message),
            (AccountStatus::Partial, _, _) => format!(
                "◐ {}",
                a.collect_errors
                    .iter()
                    .map(|e| format!("{} {}: {}", e.collector.name(), e.region, e.code))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            (_, _, Some(id)) => format!("✔ {}", id.arn),
            _ => "…".to_owned(),
        };
        println!(
            "{:<14} {:<20} {:<12} {:<10} {:>9} {:>5} {:>5} {:>5} {:>5}  {}",
            a.id,
            a.name,
            if a.ou_path.is_empty() {
                "(root)".to_owned()
            } else {
                a.ou_path.join("/")
            },
            a.stage
                .as_deref()
                .unwrap_or(if a.is_management { "mgmt" } else { "-" }),
            count(a, "resources"),
            count(a, "terraform"),
            count(a, "serverless"),
            count(a, "unmanaged"),
            count(a, "conflict"),
            status
        );
    }
    for t in &report.terraform {
        println!(
            "terraform {} (workspace {}, stage {}): {} resources{}{}",
            t.location,
            t.workspace,
            t.stage.as_deref().unwrap_or("-"),
            t.managed_resources,
            t.lock
                .as_ref()
                .map(|l| format!(", LOCKED by {}", l.who.as_deref().unwrap_or("?")))
                .unwrap_or_default(),
            t.error
                .as_ref()
                .map(|e| format!(", ✗ {}", e.message))
                .unwrap_or_default()
        );
    }
}

/// One progress bar per account on a terminal.
#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn update(&self, event: &ScanEvent) {
        let style = ProgressStyle::with_template("{prefix:<22} {bar:24} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        match event {
            ScanEvent::Discovered { accounts, .. } => {
                for a in accounts {
                    let bar = self.multi.add(ProgressBar::new(1));
                    bar.set_style(style.clone());
                    bar.set_prefix(format!("{} {}", a.name, a.stage.as_deref().unwrap_or("")));
                    bars.insert(a.id.clone(), bar);
                }
            }
            ScanEvent::AccountProgress {
                account_id,
                step,
                done,
                total,
            } => {
                if let Some(bar) = bars.get(account_id) {
                    bar.set_length(u64::from(*total));
                    bar.set_position(u64::from(*done));
                    bar.set_message(step.clone());
                }
            }
            ScanEvent::AccountFinished { account } => {
                if let Some(bar) = bars.get(&account.id) {
                    bar.finish_with_message(match (&account.error, account.collect_errors.len()) {
                        (Some(e), _) => format!("✗ {}", e.code),
                        (None, 0) => "✔".to_owned(),
                        (None, n) => format!("◐ {n} collector(s) failed"),
                    });
                }
            }
            ScanEvent::Phase { detail, .. } => {
                self.multi.println(detail).ok();
            }
            ScanEvent::Started { .. } | ScanEvent::Finished { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
