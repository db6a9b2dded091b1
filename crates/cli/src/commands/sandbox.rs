//! `stagecraft sandbox up|down|env|synthetic`: the local organization the demo and the tests run
//! against, and synthetic snapshots for the benchmarks.

use std::process::ExitCode;

use stagecraft_model::Error;
use stagecraft_sandbox::{self as sandbox, SeedSpec, UpOptions};

use crate::args::SandboxCommand;

pub(crate) async fn run(cmd: SandboxCommand) -> Result<ExitCode, Error> {
    match cmd {
        SandboxCommand::Up {
            dir,
            venv,
            examples,
            stages,
            extra_services,
            extra_functions,
            shape,
            clean,
        } => {
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
                    shape: if shape == "spread" {
                        sandbox::Shape::Spread
                    } else {
                        sandbox::Shape::Demo
                    },
                    ..SeedSpec::default()
                },
                tied: false,
                sso_server: std::env::current_exe().ok(),
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
        SandboxCommand::Down { dir } => {
            if sandbox::down(&dir)? {
                eprintln!("sandbox in {} stopped", dir.display());
            } else {
                eprintln!("sandbox in {} was not running", dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Env { dir } => {
            let sandbox = sandbox::Sandbox::load(&dir)?;
            for (k, v) in sandbox.env_vars() {
                println!("export {k}='{v}'");
            }
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::SsoServe { dir, upstream } => {
            sandbox::serve_sso(&dir, &upstream).await?;
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Synthetic { nodes, store } => {
            let report = sandbox::synthetic::report(sandbox::synthetic::Size::about(nodes));
            let mut store = crate::source::open_store_at(Some(&store))?;
            let id = store.save(&report)?;
            eprintln!(
                "stored synthetic snapshot {id}: {} resources over {} accounts",
                report.resources.len(),
                report.accounts.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
