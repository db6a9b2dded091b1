//! The preview of a stage's deploy: what each step would change, found the way its tool finds it,
//! with the credentials the deploy itself would get (each profile checked first).
//!
//! - Terraform: `init`, then `plan -lock=false -out` in the stage's workspace (`TF_WORKSPACE`,
//!   nothing selected or created) and `show -json`: each resource's create / update / delete /
//!   replace; values Terraform marks sensitive are masked, an SSM parameter's value is only said to
//!   change.
//! - Each Serverless service: `serverless package --stage S`, then a CloudFormation change set on
//!   the packaged template (created, described — nested stacks included — and deleted; never
//!   executed): Add / Modify / Remove per logical id, with replacement where CloudFormation says so.
//! - A service whose `${ssm:…}` inputs the Terraform plan changes is provisional: it is packaged
//!   again after phase 1.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType};
use serde_json::Value;

use crate::aws::AwsEnv;
use crate::config::Workspace;
use crate::model::deploy::{Change, ChangeAction, Phase, Plan, StageChanges, Step, StepChanges};
use crate::model::ScanReport;
use crate::Error;
use stagecraft_aws::sdk_error::aws_message;

use super::{plan, profiles, tools::Tools};

/// How long one command of the preview may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// What the preview of `stage` would change, step by step. `progress` hears what it is doing.
pub async fn preview_changes(
    env: &AwsEnv,
    ws: &Workspace,
    report: &ScanReport,
    stage: &str,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<StageChanges, Error> {
    let tools = Tools::detect(ws).await;
    let plan = plan::plan(ws, report, stage, &tools)?;
    let scratch = Scratch::new()?;
    let workspace = plan::workspace_of(ws, stage);
    let mut steps = Vec::new();
    let mut changed_parameters: BTreeSet<String> = BTreeSet::new();
    let mut terraform_failed = false;
    let (_never, not_cancelled) = tokio::sync::watch::channel(false);
    for (i, step) in plan.steps.iter().enumerate() {
        let index = i as u32;
        if !matches!(
            (step.phase, step.command.get(1).map(String::as_str)),
            (Phase::Terraform, Some("apply")) | (Phase::Services, _)
        ) {
            // Nothing to preview in `init` and `workspace`; phase 3 is said to plan later.
            if step.phase != Phase::PostDeploy {
                continue;
            }
        }
        // One tool at a time in a directory: a deploy running there finishes its step first.
        let wait_note = |what: String| progress(&what);
        let _held = if step.phase == Phase::PostDeploy {
            None
        } else {
            super::run::hold_dir(&step.dir, &wait_note, &not_cancelled).await
        };
        let entry = |source: String| StepChanges {
            index,
            title: step.title.clone(),
            tool: step.tool.clone(),
            source,
            changes: Vec::new(),
            provisional: None,
            error: None,
        };
        match (step.phase, step.command.get(1).map(String::as_str)) {
            (Phase::Terraform, Some("apply")) => {
                progress(&format!("planning {}", step.title));
                let mut out = entry("terraform plan -lock=false, then show -json".into());
                match terraform_plan(env, ws, &plan, step, &workspace, &scratch.0, index).await {
                    Ok(Planned::Plan(plan_json)) => {
                        out.changes = terraform_changes(&plan_json);
                        changed_parameters.extend(changed_parameter_names(&plan_json));
                    }
                    Ok(Planned::NoWorkspace) => {
                        out.source = format!(
                            "workspace `{workspace}` does not exist yet (Terraform would create it to plan, so it is not planned): \
                             the deploy creates it and every resource the code declares"
                        );
                        out.changes = declared_resources(Path::new(&step.dir), &workspace)
                            .into_iter()
                            .map(|(address, type_name)| Change {
                                address,
                                type_name,
                                action: ChangeAction::Create,
                                details: Vec::new(),
                            })
                            .collect();
                        // Every parameter the code writes is new.
                        changed_parameters.extend(
                            report
                                .declared
                                .iter()
                                .filter(|d| {
                                    d.tool == "terraform"
                                        && d.stage == stage
                                        && d.type_name == "AWS::SSM::Parameter"
                                })
                                .map(|d| d.name.clone()),
                        );
                    }
                    Err(e) => {
                        terraform_failed = true;
                        out.error = Some(e);
                    }
                }
                steps.push(out);
            }
            (Phase::PostDeploy, _) => {
                let mut out = entry("terraform plan, after the services".into());
                out.provisional = Some(
                    "Terraform plans again after the services deploy: what needs the API stage they create, and whatever phase 1 left".into(),
                );
                steps.push(out);
            }
            (Phase::Services, _) => {
                progress(&format!("packaging and a change set for {}", step.title));
                let mut out = entry(String::new());
                let service = report.services.iter().find(|s| {
                    s.stage == stage && Path::new(&s.path).parent() == Some(Path::new(&step.dir))
                });
                match service_changes(env, ws, &plan, step, service, &scratch.0, index).await {
                    Ok((source, changes)) => {
                        out.source = source;
                        out.changes = changes;
                    }
                    Err(e) => out.error = Some(e),
                }
                if let Some(svc) = service {
                    let reads: Vec<String> = svc
                        .ssm_reads()
                        .iter()
                        .map(|v| crate::model::serverless::ssm_name(&v.argument))
                        .filter(|n| changed_parameters.contains(n))
                        .collect();
                    if !reads.is_empty() {
                        out.provisional = Some(format!(
                            "provisional: evaluated again after phase 1, which changes {}",
                            reads.join(", ")
                        ));
                    } else if terraform_failed {
                        out.provisional = Some(
                            "provisional: the Terraform plan could not be made, so its inputs may still change".into(),
                        );
                    }
                }
                steps.push(out);
            }
            _ => {}
        }
    }
    let destructive = steps
        .iter()
        .flat_map(|s| &s.changes)
        .any(|c| c.action.destroys());
    Ok(StageChanges {
        stage: stage.to_owned(),
        made_at: super::now(),
        steps,
        destructive,
    })
}

/// A private directory for one preview's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, Error> {
        let dir = tempfile_dir()?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<PathBuf, Error> {
    use std::os::unix::fs::DirBuilderExt as _;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "stagecraft-preview-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

/// Runs one command of the preview with `vars` (and none of this process's `AWS_*`); its stdout,
/// or its error with the end of what it printed.
async fn capture(
    command: &[String],
    dir: &str,
    vars: &[(String, String)],
) -> Result<String, String> {
    let Some((program, args)) = command.split_first() else {
        return Err("no command".into());
    };
    let mut cmd = super::run::clean_command(program);
    cmd.args(args)
        .current_dir(dir)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let shown = command.join(" ");
    let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("`{shown}` took over {} s", COMMAND_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot run `{shown}` in {dir}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<String> = text
            .lines()
            .map(|l| super::run::plain(l.to_owned()))
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = tail[tail.len().saturating_sub(12)..].join("\n");
        Err(format!("`{shown}` failed ({}):\n{tail}", out.status))
    }
}

/// The environment of a preview command of `step`: its checked profiles' keys, the config's
/// environment for every step and for its tool.
async fn step_vars(
    env: &AwsEnv,
    ws: &Workspace,
    plan: &Plan,
    step: &Step,
    scratch: &Path,
    index: u32,
) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = ws
        .config
        .deploy
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.extend(
        profiles::step_environment(env, &step.profiles, &plan.profile, scratch, index)
            .await
            .map_err(|b| b.to_string())?,
    );
    if step.tool == "terraform" {
        vars.extend(profiles::terraform_env(
            ws,
            &plan::workspace_of(ws, &plan.stage),
        ));
    }
    Ok(vars)
}

/// What planning a workspace gave.
enum Planned {
    /// `terraform show -json` of the plan.
    Plan(Value),
    /// The workspace does not exist: planning it would create it (the S3 backend writes an empty
    /// state for a new workspace), so it was not planned.
    NoWorkspace,
}

/// The workspaces `terraform workspace list` prints (`* default`, `  qa`).
fn workspace_names(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .map(|l| l.trim_start_matches('*').trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The resources the root in `dir` declares in `workspace` (its local modules' too, `count = 0`
/// left out), by address.
fn declared_resources(dir: &Path, workspace: &str) -> Vec<(String, String)> {
    use hcl::eval::{Context, Evaluate};
    let mut out = Vec::new();
    let mut todo = vec![(dir.to_owned(), String::new())];
    while let Some((d, prefix)) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        files.sort();
        for file in files {
            let Ok(Ok(body)) = std::fs::read_to_string(&file).map(|t| hcl::parse(&t)) else {
                continue;
            };
            let mut ctx = Context::new();
            ctx.declare_var("terraform", hcl::value!({ workspace = (workspace) }));
            for block in body.blocks() {
                let labels: Vec<&str> = block.labels().iter().map(|l| l.as_str()).collect();
                match (block.identifier(), labels.as_slice()) {
                    ("resource", [ty, name]) => {
                        let count = block
                            .body()
                            .attributes()
                            .find(|a| a.key() == "count")
                            .and_then(|a| a.expr().evaluate(&ctx).ok());
                        match count {
                            Some(hcl::Value::Number(n)) => {
                                for i in 0..n.as_u64().unwrap_or(0) {
                                    out.push((
                                        format!("{prefix}{ty}.{name}[{i}]"),
                                        (*ty).to_owned(),
                                    ));
                                }
                            }
                            _ => out.push((format!("{prefix}{ty}.{name}"), (*ty).to_owned())),
                        }
                    }
                    ("module", [name]) => {
                        let source = block.body().attributes().find(|a| a.key() == "source");
                        if let Some(hcl::Expression::String(src)) = source.map(|a| a.expr()) {
                            if src.starts_with("./") || src.starts_with("../") {
                                todo.push((d.join(src), format!("{prefix}module.{name}.")));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// `init`, then `plan -out` and `show -json` in the stage's workspace.
async fn terraform_plan(
    env: &AwsEnv,
    ws: &Workspace,
    plan: &Plan,
    step: &Step,
    workspace: &str,
    scratch: &Path,
    index: u32,
) -> Result<Planned, String> {
    let mut vars = step_vars(env, ws, plan, step, scratch, index).await?;
    let binary = step.command[0].clone();
    let init = plan
        .steps
        .iter()
        .find(|s| s.command.get(1).map(String::as_str) == Some("init"))
        .map(|s| s.command.clone())
        .unwrap_or_else(|| vec![binary.clone(), "init".into(), "-input=false".into()]);
    capture(&init, &step.dir, &vars).await?;
    let listed = capture(
        &[binary.clone(), "workspace".into(), "list".into()],
        &step.dir,
        &vars,
    )
    .await?;
    if !workspace_names(&listed).contains(workspace) {
        return Ok(Planned::NoWorkspace);
    }
    // The workspace is chosen for these commands only: nothing is selected or created.
    vars.push(("TF_WORKSPACE".into(), workspace.to_owned()));
    let file = scratch.join("tfplan");
    let planned = capture(
        &[
            binary.clone(),
            "plan".into(),
            "-input=false".into(),
            "-lock=false".into(),
            format!("-out={}", file.display()),
        ],
        &step.dir,
        &vars,
    )
    .await;
    if let Err(e) = planned {
        if e.contains("does not exist") && e.contains(workspace) {
            return Err(format!(
                "workspace `{workspace}` does not exist yet: the deploy creates it, and with it everything the root declares"
            ));
        }
        return Err(e);
    }
    let shown = capture(
        &[
            binary,
            "show".into(),
            "-json".into(),
            file.display().to_string(),
        ],
        &step.dir,
        &vars,
    )
    .await?;
    serde_json::from_str(&shown)
        .map(Planned::Plan)
        .map_err(|e| format!("`terraform show -json` printed no plan: {e}"))
}

/// Whether the value at a path of Terraform's `*_sensitive` mirror is marked.
fn marked(mirror: &Value) -> bool {
    match mirror {
        Value::Bool(b) => *b,
        Value::Object(o) => o.values().any(marked),
        Value::Array(a) => a.iter().any(marked),
        _ => false,
    }
}

/// A value in one short line.
fn short(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

/// Attributes whose value is never shown, whatever Terraform marks: an SSM parameter's value is
/// only said to change.
const VALUE_ATTRIBUTES: [&str; 2] = ["value", "insecure_value"];

/// A plan's `actions` list as one change; `None` for `no-op` and `read`.
fn action_of(actions: &Value) -> Option<ChangeAction> {
    let words: Vec<&str> = actions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match words.as_slice() {
        ["create"] => Some(ChangeAction::Create),
        ["update"] => Some(ChangeAction::Update),
        ["delete"] => Some(ChangeAction::Delete),
        ["delete", "create"] | ["create", "delete"] => Some(ChangeAction::Replace),
        _ => None,
    }
}

/// The changes of a `terraform show -json` plan (resources, then the root's outputs).
pub fn terraform_changes(plan: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        if rc["mode"] == "data" {
            continue;
        }
        let change = &rc["change"];
        let Some(action) = action_of(&change["actions"]) else {
            continue;
        };
        let type_name = rc["type"].as_str().unwrap_or_default().to_owned();
        let mut details = Vec::new();
        if matches!(action, ChangeAction::Update | ChangeAction::Replace) {
            let empty = serde_json::Map::new();
            let before = change["before"].as_object().unwrap_or(&empty);
            let after = change["after"].as_object().unwrap_or(&empty);
            let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
            let forces: BTreeSet<String> = change["replace_paths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.get(0).and_then(Value::as_str).map(str::to_owned))
                .collect();
            for k in keys {
                let unknown = change["after_unknown"][k.as_str()] == Value::Bool(true);
                let (b, a) = (before.get(k), after.get(k));
                if b == a && !unknown {
                    continue;
                }
                let sensitive = marked(&change["before_sensitive"][k.as_str()])
                    || marked(&change["after_sensitive"][k.as_str()]);
                let what =
                    if type_name == "aws_ssm_parameter" && VALUE_ATTRIBUTES.contains(&k.as_str()) {
                        "changes".to_owned()
                    } else if sensitive {
                        "(sensitive value) changes".to_owned()
                    } else if unknown {
                        format!(
                            "{} → (known after apply)",
                            b.map(short).unwrap_or_else(|| "null".into())
                        )
                    } else {
                        format!(
                            "{} → {}",
                            b.map(short).unwrap_or_else(|| "null".into()),
                            a.map(short).unwrap_or_else(|| "null".into())
                        )
                    };
                let forced = if forces.contains(k.as_str()) {
                    " (forces replacement)"
                } else {
                    ""
                };
                details.push(format!("{k}: {what}{forced}"));
            }
        }
        out.push(Change {
            address: rc["address"].as_str().unwrap_or_default().to_owned(),
            type_name,
            action,
            details,
        });
    }
    for (name, oc) in plan["output_changes"].as_object().into_iter().flatten() {
        let Some(action) = action_of(&oc["actions"]) else {
            continue;
        };
        let sensitive = marked(&oc["before_sensitive"]) || marked(&oc["after_sensitive"]);
        let details = if sensitive {
            vec!["(sensitive value)".to_owned()]
        } else if oc["after_unknown"] == Value::Bool(true) {
            vec!["(known after apply)".to_owned()]
        } else {
            match action {
                ChangeAction::Delete => Vec::new(),
                ChangeAction::Create => vec![short(&oc["after"])],
                _ => vec![format!(
                    "{} → {}",
                    short(&oc["before"]),
                    short(&oc["after"])
                )],
            }
        };
        out.push(Change {
            address: format!("output.{name}"),
            type_name: "output".into(),
            action,
            details,
        });
    }
    out
}

/// The names of the SSM parameters a Terraform plan creates, changes or deletes.
pub fn changed_parameter_names(plan: &Value) -> BTreeSet<String> {
    plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rc| rc["type"] == "aws_ssm_parameter" && rc["mode"] != "data")
        .filter(|rc| {
            let a = &rc["change"]["actions"];
            a.as_array()
                .is_some_and(|a| a.iter().any(|x| x != "no-op" && x != "read"))
        })
        .flat_map(|rc| {
            [
                &rc["change"]["before"]["name"],
                &rc["change"]["after"]["name"],
            ]
            .into_iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect::<Vec<_>>()
        })
        .collect()
}

/// `serverless package`, then a change set on its template in the service's account and region.
async fn service_changes(
    env: &AwsEnv,
    ws: &Workspace,
    plan: &Plan,
    step: &Step,
    service: Option<&crate::model::serverless::ResolvedService>,
    scratch: &Path,
    index: u32,
) -> Result<(String, Vec<Change>), String> {
    let svc = service.ok_or_else(|| {
        format!(
            "{} is not in the snapshot for stage {}: rescan first",
            step.dir, plan.stage
        )
    })?;
    let package_dir = scratch.join(format!("package-{}", index + 1));
    let vars = step_vars(env, ws, plan, step, scratch, index).await?;
    let binary = step.command[0].clone();
    capture(
        &[
            binary,
            "package".into(),
            "--stage".into(),
            plan.stage.clone(),
            "--package".into(),
            package_dir.display().to_string(),
        ],
        &step.dir,
        &vars,
    )
    .await?;
    let template_path = package_dir.join("cloudformation-template-update-stack.json");
    let template = std::fs::read_to_string(&template_path).map_err(|e| {
        format!(
            "`serverless package` left no template at {}: {e}",
            template_path.display()
        )
    })?;
    let profile = service_profile(step, plan);
    let config = env.sdk_config(&profile, Some(&svc.region)).await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let name = format!("stagecraft-preview-{}", std::process::id());
    let changes = change_set(&cfn, &svc.stack, &name, &template).await?;
    Ok((
        format!(
            "serverless package, then change set {name} on stack {} ({}), deleted after",
            svc.stack, svc.region
        ),
        changes,
    ))
}

/// The profile the Serverless CLI uses for `step`: the service's own, else the stage's.
fn service_profile(step: &Step, plan: &Plan) -> String {
    step.profiles
        .iter()
        .find(|u| u.used_by.contains("provider.profile"))
        .map(|u| u.profile.clone())
        .unwrap_or_else(|| plan.profile.clone())
}

/// CloudFormation's largest inline template (`TemplateBody`).
const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// Creates a change set of `template` for `stack`, reads its changes (nested stacks' too), and
/// deletes it, and the stack it created when the stack did not exist yet. Never executes it.
pub async fn change_set(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    name: &str,
    template: &str,
) -> Result<Vec<Change>, String> {
    if template.len() > TEMPLATE_BODY_LIMIT {
        return Err(format!(
            "the packaged template is {} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT}-byte limit for an inline template: \
             this preview does not upload templates, so it cannot show this service's changes",
            template.len()
        ));
    }
    let exists = match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(out) => out.stacks().iter().any(|s| {
            s.stack_status()
                .is_some_and(|st| st.as_str() != "REVIEW_IN_PROGRESS")
        }),
        Err(e) => {
            let text = aws_message(&e);
            if text.contains("does not exist") {
                false
            } else {
                return Err(format!("describing stack {stack}: {text}"));
            }
        }
    };
    let created = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .change_set_type(if exists {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        })
        .template_body(template)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .include_nested_stacks(true)
        .description("Stagecraft preview: read and deleted, never executed")
        .send()
        .await
        .map_err(|e| format!("creating change set {name} on {stack}: {}", aws_message(&e)))?;
    let id = created.id().unwrap_or(name).to_owned();
    let result = read_change_set(cfn, &id, "").await;
    // Always clean up: the change set, and the empty stack a CREATE change set leaves.
    let deleted = cfn.delete_change_set().change_set_name(&id).send().await;
    if !exists {
        // The empty stack the CREATE change set made, and only while it is that: still under review.
        let under_review = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .ok()
            .is_some_and(|out| {
                out.stacks().iter().all(|s| {
                    s.stack_status()
                        .is_some_and(|st| st.as_str() == "REVIEW_IN_PROGRESS")
                })
            });
        if under_review {
            let _ = cfn.delete_stack().stack_name(stack).send().await;
        }
    }
    let changes = result?;
    deleted.map_err(|e| {
        format!(
            "change set {name} on {stack} was read but not deleted ({}): delete it in the console",
            aws_message(&e)
        )
    })?;
    Ok(changes)
}

/// Waits for a change set to be made, then reads its changes, following nested stacks' change
/// sets (their logical ids prefixed with `prefix`).
fn read_change_set<'a>(
    cfn: &'a aws_sdk_cloudformation::Client,
    id: &'a str,
    prefix: &'a str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Change>, String>> + Send + 'a>> {
    Box::pin(async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let mut wait = Duration::from_millis(250);
        let mut pages = Vec::new();
        loop {
            let out = cfn
                .describe_change_set()
                .change_set_name(id)
                .send()
                .await
                .map_err(|e| format!("reading change set {id}: {}", aws_message(&e)))?;
            match out.status() {
                Some(ChangeSetStatus::CreateComplete) => {
                    let mut next = out.next_token().map(str::to_owned);
                    pages.push(out);
                    while let Some(token) = next {
                        let page = cfn
                            .describe_change_set()
                            .change_set_name(id)
                            .next_token(token)
                            .send()
                            .await
                            .map_err(|e| format!("reading change set {id}: {}", aws_message(&e)))?;
                        next = page.next_token().map(str::to_owned);
                        pages.push(page);
                    }
                    break;
                }
                Some(ChangeSetStatus::Failed) => {
                    let reason = out.status_reason().unwrap_or("").to_owned();
                    // CloudFormation fails a change set that changes nothing.
                    if reason.contains("didn't contain changes") || reason.contains("No updates") {
                        return Ok(Vec::new());
                    }
                    return Err(format!(
                        "CloudFormation could not make the change set: {reason}"
                    ));
                }
                _ if std::time::Instant::now() > deadline => {
                    return Err(format!("change set {id} was not ready after 5 minutes"));
                }
                _ => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        let mut changes = Vec::new();
        for page in &pages {
            for c in page.changes() {
                let Some(rc) = c.resource_change() else {
                    continue;
                };
                let logical = rc.logical_resource_id().unwrap_or_default();
                let address = format!("{prefix}{logical}");
                let action = match rc.action().map(|a| a.as_str()) {
                    Some("Add") => ChangeAction::Create,
                    Some("Remove") => ChangeAction::Delete,
                    Some("Modify") | Some("Dynamic") => {
                        match rc.replacement().map(|r| r.as_str()) {
                            Some("True") | Some("Conditional") => ChangeAction::Replace,
                            _ => ChangeAction::Update,
                        }
                    }
                    Some("Import") => ChangeAction::Create,
                    _ => continue,
                };
                let mut details: Vec<String> = rc
                    .details()
                    .iter()
                    .filter_map(|d| {
                        let t = d.target()?;
                        let attribute = t
                            .attribute()
                            .map(|a| a.as_str().to_owned())
                            .unwrap_or_default();
                        let name = t.name().map(|n| format!(".{n}")).unwrap_or_default();
                        let recreation = match t.requires_recreation().map(|r| r.as_str()) {
                            Some("Always") => " (requires replacement)",
                            Some("Conditionally") => " (may require replacement)",
                            _ => "",
                        };
                        Some(format!("{attribute}{name}{recreation}"))
                    })
                    .collect();
                details.dedup();
                if rc.replacement().map(|r| r.as_str()) == Some("Conditional") {
                    details.push("CloudFormation: replacement conditional".into());
                }
                changes.push(Change {
                    address: address.clone(),
                    type_name: rc.resource_type().unwrap_or_default().to_owned(),
                    action,
                    details,
                });
                if let Some(nested) = rc.change_set_id() {
                    changes.extend(read_change_set(cfn, nested, &format!("{address}/")).await?);
                }
            }
        }
        Ok(changes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan in the JSON format Terraform documents (`terraform show -json`).
    fn plan() -> Value {
        serde_json::json!({
            "format_version": "1.0",
            "resource_changes": [
                {"address": "aws_ssm_parameter.token", "mode": "managed", "type": "aws_ssm_parameter",
                 "change": {"actions": ["update"],
                            "before": {"name": "/t", "value": "old-secret", "tier": "Standard"},
                            "after": {"name": "/t", "value": "new-secret", "tier": "Advanced"},
                            "after_unknown": {}, "before_sensitive": {"value": true}, "after_sensitive": {"value": true}}},
                {"address": "aws_db_instance.main", "mode": "managed", "type": "aws_db_instance",
                 "change": {"actions": ["delete", "create"],
                            "before": {"identifier": "a", "password": "hunter2", "arn": "arn:1"},
                            "after": {"identifier": "b", "password": "hunter3"},
                            "after_unknown": {"arn": true}, "before_sensitive": {"password": true},
                            "after_sensitive": {"password": true}, "replace_paths": [["identifier"]]}},
                {"address": "aws_s3_bucket.logs", "mode": "managed", "type": "aws_s3_bucket",
                 "change": {"actions": ["delete"], "before": {"bucket": "logs"}, "after": null}},
                {"address": "aws_s3_bucket.same", "mode": "managed", "type": "aws_s3_bucket",
                 "change": {"actions": ["no-op"], "before": {}, "after": {}}},
                {"address": "data.aws_caller_identity.me", "mode": "data", "type": "aws_caller_identity",
                 "change": {"actions": ["read"]}},
                {"address": "aws_ssm_parameter.new", "mode": "managed", "type": "aws_ssm_parameter",
                 "change": {"actions": ["create"], "before": null, "after": {"name": "/new", "value": "v"}}}
            ],
            "output_changes": {
                "stage": {"actions": ["create"], "before": null, "after": "qa", "after_unknown": false},
                "secret": {"actions": ["update"], "before": "a", "after": "b", "after_sensitive": true}
            }
        })
    }

    #[test]
    fn a_terraform_plan_reads_as_changes_without_a_secret_value() {
        let changes = terraform_changes(&plan());
        let seen: Vec<(&str, &str, Vec<&str>)> = changes
            .iter()
            .map(|c| {
                (
                    c.address.as_str(),
                    c.action.as_str(),
                    c.details.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "aws_ssm_parameter.token",
                    "update",
                    vec!["tier: \"Standard\" → \"Advanced\"", "value: changes"]
                ),
                (
                    "aws_db_instance.main",
                    "replace",
                    vec![
                        "arn: \"arn:1\" → (known after apply)",
                        "identifier: \"a\" → \"b\" (forces replacement)",
                        "password: (sensitive value) changes"
                    ]
                ),
                ("aws_s3_bucket.logs", "delete", vec![]),
                ("aws_ssm_parameter.new", "create", vec![]),
                ("output.secret", "update", vec!["(sensitive value)"]),
                ("output.stage", "create", vec!["\"qa\""]),
            ]
        );
        let text = serde_json::to_string(&changes).unwrap();
        for secret in [
            "old-secret",
            "new-secret",
            "hunter2",
            "hunter3",
            "\"a\" → \"b\"\"]",
        ] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        assert_eq!(
            changed_parameter_names(&plan())
                .into_iter()
                .collect::<Vec<_>>(),
            ["/new", "/t"]
        );
    }
}
