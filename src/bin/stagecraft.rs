//! `stagecraft`: the headless CLI over the same core the desktop app uses.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use stagecraft::aws::AwsEnv;
use stagecraft::config::Workspace;
use stagecraft::model::{AccountStatus, ScanReport};
use stagecraft::sandbox::{self, SeedSpec, UpOptions};
use stagecraft::scan::{self, ScanEvent, ScanOptions};
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
    /// Discover the organization and scan every account.
    Scan(ScanArgs),
    /// Start, stop or describe the local sandbox organization.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

#[derive(Args)]
struct ScanArgs {
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
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STAGECRAFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = matches!(&cli.command, Command::Scan(a) if a.json);
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
        Command::Sandbox(SandboxCommand::Up {
            dir,
            venv,
            examples,
            stages,
            extra_services,
            extra_functions,
            clean,
        }) => {
            let opts = UpOptions {
                dir,
                venv,
                examples: examples.canonicalize().ok(),
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

async fn scan_cmd(args: ScanArgs) -> Result<ExitCode, Error> {
    let workspace = match &args.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let opts = ScanOptions {
        profile: args.profile,
        regions: args.regions,
        parallelism: args.parallelism,
    };
    let bars = std::io::stderr().is_terminal().then(Bars::default);
    let progress = |event: ScanEvent| {
        if let Some(bars) = &bars {
            bars.update(&event);
        }
    };
    let report = scan::scan(&AwsEnv::from_environment(), &workspace, &opts, &progress).await?;
    if let Some(bars) = &bars {
        bars.multi.clear().ok();
    }
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Sandbox(format!("serializing the report: {e}")))?;
        println!("{text}");
    } else {
        print_table(&report);
    }
    let failed = report
        .accounts
        .iter()
        .filter(|a| a.status == AccountStatus::Error)
        .count();
    if failed > 0 {
        eprintln!("{failed} account(s) could not be scanned; see the error column");
        return Ok(ExitCode::from(2));
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
        "{:<14} {:<20} {:<12} {:<10} {:>6}  STATUS",
        "ACCOUNT", "NAME", "OU", "STAGE", "SSM"
    );
    for a in &report.accounts {
        let status = match (&a.status, &a.error, &a.identity) {
            (AccountStatus::Error, Some(e), _) => format!("✗ {}", e.message),
            (_, _, Some(id)) => format!("✔ {}", id.arn),
            _ => "…".to_owned(),
        };
        println!(
            "{:<14} {:<20} {:<12} {:<10} {:>6}  {}",
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
            a.counts
                .get("ssm_parameters")
                .map(u64::to_string)
                .unwrap_or_else(|| "-".into()),
            status
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
                    bar.finish_with_message(match &account.error {
                        Some(e) => format!("✗ {}", e.code),
                        None => "✔".to_owned(),
                    });
                }
            }
            ScanEvent::Started { .. } | ScanEvent::Finished { .. } => {}
        }
    }
}
