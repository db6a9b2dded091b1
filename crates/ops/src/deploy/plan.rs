//! The phased plan of a stage deploy: Terraform, then each Serverless service in dependency order,
//! then Terraform again when something only exists after the first Serverless deploy (the base path
//! mapping needs the API stage — the catch-22). Every step says why it is where it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate};

use crate::config::Workspace;
use crate::graph::Graph;
use crate::link::LinkKind;
pub use crate::model::deploy::{Phase, Plan, Step};
use crate::model::{Owner, ScanReport};
use crate::serverless::ResolvedService;
use crate::Error;

use super::profiles;
use super::tools::Tools;

/// The Terraform workspace of a stage: the config's mapping, else the stage's own name.
pub fn workspace_of(ws: &Workspace, stage: &str) -> String {
    ws.config
        .terraform
        .as_ref()
        .and_then(|t| t.workspaces.iter().find(|(_, s)| *s == stage))
        .map(|(w, _)| w.clone())
        .unwrap_or_else(|| stage.to_owned())
}

/// The profile a stage deploys with: the config's, else one named after the stage.
pub fn profile_of(ws: &Workspace, stage: &str) -> String {
    ws.config
        .stages
        .get(stage)
        .and_then(|s| s.profile.clone())
        .unwrap_or_else(|| stage.to_owned())
}

/// Terraform resource types the code creates in `workspace` (`count = 0` ones left out).
fn terraform_types(dir: &Path, workspace: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in stagecraft_iac::declared::tf_files(dir) {
        let Ok(Ok(body)) = std::fs::read_to_string(&p).map(|t| hcl::parse(&t)) else {
            continue;
        };
        for block in body.blocks().filter(|b| b.identifier() == "resource") {
            let Some(ty) = block.labels().first().map(|l| l.as_str().to_owned()) else {
                continue;
            };
            let mut ctx = Context::new();
            ctx.declare_var("terraform", hcl::value!({ workspace = (workspace) }));
            let skipped = block
                .body()
                .attributes()
                .find(|a| a.key() == "count")
                .and_then(|a| a.expr().evaluate(&ctx).ok())
                .is_some_and(|v| matches!(v, hcl::Value::Number(n) if n.as_u64() == Some(0)));
            if !skipped {
                out.insert(ty);
            }
        }
    }
    out
}

/// Service (by name) → the services it must come after, each with why.
fn service_dependencies(
    report: &ScanReport,
    graph: &Graph,
    services: &[&ResolvedService],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let names: BTreeSet<&str> = services.iter().map(|s| s.service.as_str()).collect();
    // Which service owns a node (a function, a stack member).
    let service_of = |id: &str| -> Option<String> {
        report
            .resources
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| match &r.owner {
                Owner::Serverless(c) => Some(c.service.clone()),
                _ => None,
            })
            .filter(|s| names.contains(s.as_str()))
    };
    let mut deps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for svc in services {
        let entry = deps.entry(svc.service.clone()).or_default();
        // An authorizer an http event names by its function's ARN.
        for f in &svc.functions {
            for e in &f.events {
                let Some(auth) = &e.authorizer else { continue };
                for other in services.iter().filter(|o| o.service != svc.service) {
                    if let Some(fname) = other
                        .functions
                        .iter()
                        .map(|g| g.name.as_str())
                        .find(|n| auth.ends_with(&format!(":function:{n}")) || auth == n)
                    {
                        entry.entry(other.service.clone()).or_insert_with(|| {
                            format!("its http events use an authorizer that calls {fname}")
                        });
                    }
                }
            }
        }
        // A parameter it reads that names something another service owns, or an authorizer
        // calling another service's function (Terraform's shared authorizer).
        let reads: Vec<String> = svc
            .ssm_reads()
            .iter()
            .map(|v| crate::model::serverless::ssm_name(&v.argument))
            .collect();
        for node in graph.nodes().filter(|n| {
            n.is_parameter()
                && n.stage.as_deref() == Some(svc.stage.as_str())
                && reads.contains(&n.name)
        }) {
            for (_, target) in graph.outgoing(&node.id, Some(LinkKind::Names)) {
                let mut owners = vec![(
                    service_of(&target.id),
                    format!("{} names `{}`", node.name, target.name),
                )];
                for (_, f) in graph.outgoing(&target.id, Some(LinkKind::Invokes)) {
                    owners.push((
                        service_of(&f.id),
                        format!(
                            "{} names authorizer `{}`, which calls {}",
                            node.name, target.name, f.name
                        ),
                    ));
                }
                for (owner, why) in owners {
                    if let Some(o) = owner.filter(|o| *o != svc.service) {
                        entry.entry(o).or_insert(why);
                    }
                }
            }
        }
    }
    deps
}

/// The plan for `stage`, with the commands `tools` understand.
pub fn plan(
    ws: &Workspace,
    report: &ScanReport,
    stage: &str,
    tools: &Tools,
) -> Result<Plan, Error> {
    let account = report
        .accounts
        .iter()
        .find(|a| a.stage.as_deref() == Some(stage));
    if account.is_none() && !ws.config.stages.contains_key(stage) {
        return Err(Error::Input(format!(
            "no account of the organization is stage `{stage}`, and stagecraft.toml does not name it"
        )));
    }
    let profile = profile_of(ws, stage);
    let account_id = account.map(|a| a.id.clone());
    let stage_use = profiles::stage_use(ws, stage, &profile, account_id.as_deref());
    let base = ws.base_dir();
    let mut steps = Vec::new();
    let graph = Graph::build(report);

    // Phase 1: Terraform.
    let tf = ws.config.terraform.as_ref();
    let tf_dir: Option<PathBuf> = tf.and_then(|t| t.dir.as_ref()).map(|d| base.join(d));
    let workspace = workspace_of(ws, stage);
    if let (Some(t), Some(dir)) = (tf, &tf_dir) {
        let exported: Vec<String> = graph
            .nodes()
            .filter(|n| n.is_parameter() && n.stage.as_deref() == Some(stage))
            .filter(|n| !graph.consumers(&n.id).is_empty())
            .filter(|n| {
                graph
                    .incoming(&n.id, Some(LinkKind::SsmWrite))
                    .iter()
                    .any(|(_, w)| &*w.type_name == crate::link::TERRAFORM_WORKSPACE)
            })
            .map(|n| n.name.clone())
            .collect();
        let first_reason = if exported.is_empty() {
            "the shared core comes first: the services build on what Terraform creates".to_owned()
        } else {
            format!(
                "first: Terraform writes what the services read ({})",
                exported.join(", ")
            )
        };
        let dir_s = dir.display().to_string();
        let mut uses = vec![stage_use.clone()];
        uses.extend(profiles::terraform_uses(
            ws,
            report,
            dir,
            &workspace,
            account_id.as_deref(),
        ));
        let mut init = vec!["init".to_owned(), "-input=false".to_owned()];
        init.extend(t.init_args_for(&workspace));
        let or_create = tools
            .terraform
            .as_ref()
            .is_none_or(|tf| tf.selects_or_creates());
        let words = |w: &[&str]| w.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        let (select, fallback, select_reason) = if or_create {
            (
                words(&["workspace", "select", "-or-create", &workspace]),
                None,
                format!("the stage's workspace `{workspace}` (created if it does not exist yet)"),
            )
        } else {
            (
                words(&["workspace", "select", &workspace]),
                Some(words(&["workspace", "new", &workspace])),
                format!(
                    "the stage's workspace `{workspace}`; `workspace new` if it does not exist yet (this Terraform is older than 1.4: no `-or-create`)"
                ),
            )
        };
        for (title, args, fallback, reason) in [
            (
                "terraform init",
                init,
                None,
                "the backend and providers, before anything else".to_owned(),
            ),
            ("select workspace", select, fallback, select_reason),
            (
                "terraform apply",
                words(&["apply", "-input=false", "-auto-approve"]),
                None,
                first_reason,
            ),
        ] {
            let with_binary = |args: Vec<String>| {
                let mut command = vec![t.binary.clone()];
                command.extend(args);
                command
            };
            steps.push(Step {
                phase: Phase::Terraform,
                tool: "terraform".into(),
                title: format!("{title} ({workspace})"),
                command: with_binary(args),
                fallback: fallback.map(with_binary),
                dir: dir_s.clone(),
                profile: profile.clone(),
                profiles: uses.clone(),
                reason,
            });
        }
    }

    // Phase 2: the services, in dependency order (the config's order breaks ties).
    if let Some(sls) = &ws.config.serverless {
        let mut svcs: Vec<(&ResolvedService, PathBuf)> = Vec::new();
        for dir in &sls.services {
            let path = base.join(dir);
            let resolved = report
                .services
                .iter()
                .find(|s| s.stage == stage && Path::new(&s.path).parent() == Some(path.as_path()));
            let svc = match resolved {
                Some(s) => s,
                None => {
                    return Err(Error::Input(format!(
                        "{} is not in the snapshot for stage {stage}: rescan, or fix its serverless.yml (the scan's warnings say why)",
                        path.display()
                    )))
                }
            };
            svcs.push((svc, path));
        }
        let only: Vec<&ResolvedService> = svcs.iter().map(|(s, _)| *s).collect();
        let order = &ws.config.deploy.order;
        let deps = if order.is_empty() {
            service_dependencies(report, &graph, &only)
        } else {
            // The config's order: each service after the ones listed before it.
            if let Some(unknown) = order
                .iter()
                .find(|o| !only.iter().any(|s| &s.service == *o))
            {
                return Err(Error::Input(format!(
                    "[deploy] order names `{unknown}`, which is not one of the [serverless] services"
                )));
            }
            let rank = |name: &str| order.iter().position(|o| o == name).unwrap_or(usize::MAX);
            only.iter()
                .map(|s| {
                    let before: BTreeMap<String, String> = only
                        .iter()
                        .filter(|o| rank(&o.service) < rank(&s.service))
                        .map(|o| {
                            (
                                o.service.clone(),
                                "the order set in stagecraft.toml".to_owned(),
                            )
                        })
                        .collect();
                    (s.service.clone(), before)
                })
                .collect()
        };
        let mut done: Vec<String> = Vec::new();
        while done.len() < svcs.len() {
            let next = svcs.iter().find(|(s, _)| {
                !done.contains(&s.service)
                    && deps
                        .get(&s.service)
                        .is_none_or(|d| d.keys().all(|k| done.contains(k)))
            });
            let Some((svc, dir)) = next else {
                let left: Vec<&str> = svcs
                    .iter()
                    .map(|(s, _)| s.service.as_str())
                    .filter(|s| !done.iter().any(|d| d == s))
                    .collect();
                return Err(Error::Input(format!(
                    "the services {} depend on each other in a cycle; set their order in stagecraft.toml ([deploy] order = [...])",
                    left.join(", ")
                )));
            };
            let after: Vec<String> = deps
                .get(&svc.service)
                .map(|d| {
                    d.iter()
                        .map(|(k, why)| format!("after {k}: {why}"))
                        .collect()
                })
                .unwrap_or_default();
            let reason = if after.is_empty() {
                "depends on no other service".to_owned()
            } else {
                after.join("; ")
            };
            steps.push(Step {
                phase: Phase::Services,
                tool: "serverless".into(),
                title: format!("deploy {}", svc.service),
                command: vec![
                    sls.binary.clone(),
                    "deploy".into(),
                    "--stage".into(),
                    stage.to_owned(),
                ],
                dir: dir.display().to_string(),
                fallback: None,
                profile: profile.clone(),
                profiles: std::iter::once(stage_use.clone())
                    .chain(svc.profile.as_deref().map(|p| {
                        profiles::service_use(ws, Path::new(&svc.path), p, account_id.as_deref())
                    }))
                    .collect(),
                reason,
            });
            done.push(svc.service.clone());
        }
    }

    // Phase 3: Terraform again, when its code maps a domain to the API stage the services create.
    if let (Some(t), Some(dir)) = (tf, &tf_dir) {
        let needs_mapping =
            terraform_types(dir, &workspace).contains("aws_api_gateway_base_path_mapping");
        let mapped = report.resources.iter().any(|r| {
            r.stage.as_deref() == Some(stage)
                && r.type_name == "AWS::ApiGateway::BasePathMapping"
                && r.attr_str("stage") == Some(stage)
        });
        let has_serverless = steps.iter().any(|s| s.phase == Phase::Services);
        let wanted = match ws.config.deploy.post_deploy.as_str() {
            "always" => true,
            "never" => false,
            _ => needs_mapping && has_serverless && !mapped,
        };
        if wanted {
            steps.push(Step {
                phase: Phase::PostDeploy,
                tool: "terraform".into(),
                title: format!("terraform apply, post-deploy ({workspace})"),
                command: vec![
                    t.binary.clone(),
                    "apply".into(),
                    "-input=false".into(),
                    "-auto-approve".into(),
                ],
                dir: dir.display().to_string(),
                fallback: None,
                profile: profile.clone(),
                profiles: steps
                    .iter()
                    .find(|s| s.phase == Phase::Terraform)
                    .map(|s| s.profiles.clone())
                    .unwrap_or_else(|| vec![stage_use.clone()]),
                reason: if needs_mapping && !mapped {
                    format!(
                        "the base path mapping needs API stage `{stage}`, created by phase 2's first deploy (it is not mapped yet)"
                    )
                } else {
                    "post_deploy = \"always\" in stagecraft.toml".to_owned()
                },
            });
        }
    }
    Ok(Plan {
        stage: stage.to_owned(),
        account_id,
        profile,
        state_location: tf_dir
            .as_deref()
            .and_then(|d| profiles::state_location(ws, d, &workspace)),
        protected: crate::deletion::is_protected(ws, stage),
        steps,
    })
}
