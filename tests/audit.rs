//! The graph and the audit against the sandbox organization: the SSM seam linked end to end in every
//! stage, every planted problem found once with the right rule, nothing else found, and the CLI's
//! exit codes for CI.

mod common;

use std::collections::BTreeMap;

use stagecraft::audit::{audit, Finding};
use stagecraft::config::Workspace;
use stagecraft::graph::Graph;
use stagecraft::link::{terraform_node, LinkKind};
use stagecraft::model::{Resource, ScanReport};
use stagecraft::sandbox::{Sandbox, SeedSpec};
use stagecraft::scan::{self, ScanOptions};

async fn scan_of(sb: &Sandbox) -> ScanReport {
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan")
}

fn one<'a>(report: &'a ScanReport, stage: &str, type_name: &str, name: &str) -> &'a Resource {
    let found: Vec<&Resource> = report
        .resources
        .iter()
        .filter(|r| r.stage.as_deref() == Some(stage) && r.type_name == type_name && r.name == name)
        .collect();
    assert_eq!(found.len(), 1, "{type_name} {name} in {stage}: {found:?}");
    found[0]
}

/// Which audit rule a planted problem must raise (`pending_*` belong to the deletions view).
fn rule_for(planted_kind: &str) -> Option<&'static str> {
    Some(match planted_kind {
        "unread_parameter" => "ssm-unread-write",
        "missing_parameter" => "ssm-dangling-read",
        "stale_deployment" => "stale-deployment",
        "ownership_conflict" => "ownership-conflict",
        "unmanaged_bucket" => "unmanaged",
        "own_authorizer" => "duplicate-authorizer",
        "missing_base_path_mapping" => "base-path-mapping",
        "pending_secret" | "pending_kms_key" => return None,
        other => panic!("planted kind {other} has no expected finding: add it here"),
    })
}

/// Whether a finding is about `what` (an id, a name, or the stack owning one of its resources).
fn concerns(f: &Finding, report: &ScanReport, what: &str) -> bool {
    f.message.contains(what)
        || f.resources.iter().any(|id| {
            id == what
                || report.resources.iter().any(|r| {
                    &r.id == id
                        && (r.name == what
                            || r.owner.claims().iter().any(|c| match c {
                                stagecraft::model::Claim::Serverless(s) => s.stack == what,
                                _ => false,
                            }))
                })
        })
}

#[tokio::test]
async fn every_planted_problem_is_one_finding_and_nothing_else_is_found() {
    let sb = &common::demo().sandbox;
    let report = scan_of(sb).await;
    let graph = Graph::build(&report);
    let findings = audit(&report, &graph);

    let expected: Vec<_> = sb
        .seeded
        .planted
        .iter()
        .filter_map(|p| rule_for(&p.kind).map(|rule| (p, rule)))
        .collect();
    for (p, rule) in &expected {
        let matching: Vec<&Finding> = findings
            .iter()
            .filter(|f| {
                f.rule == *rule
                    && f.stage.as_deref() == Some(p.stage.as_str())
                    && concerns(f, &report, &p.resource)
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "planted {} ({}) in {}: {matching:#?}",
            p.kind,
            p.resource,
            p.stage
        );
    }
    assert_eq!(
        findings.len(),
        expected.len(),
        "a finding that was not planted: {findings:#?}"
    );

    // The full list per stage, as a user reads it.
    let mut per_stage: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in &findings {
        per_stage
            .entry(f.stage.as_deref().unwrap_or("-"))
            .or_default()
            .push(&f.rule);
    }
    assert_eq!(
        per_stage,
        BTreeMap::from([
            (
                "dev",
                vec![
                    "duplicate-authorizer",
                    "ssm-unread-write",
                    "ownership-conflict",
                    "unmanaged"
                ]
            ),
            (
                "qa",
                vec![
                    "duplicate-authorizer",
                    "ssm-unread-write",
                    "stale-deployment"
                ]
            ),
            (
                "prod",
                vec![
                    "base-path-mapping",
                    "duplicate-authorizer",
                    "ssm-dangling-read",
                    "ssm-unread-write"
                ]
            ),
        ])
    );
    // Every finding says what to do, and names resources the graph knows.
    for f in &findings {
        assert!(!f.fix.is_empty() && !f.message.is_empty(), "{f:?}");
        for id in &f.resources {
            assert!(graph.node(id).is_some(), "{id} of {f:?} is not a node");
        }
    }
    // The stale deployment names the service to redeploy and its functions.
    let stale = findings
        .iter()
        .find(|f| f.rule == "stale-deployment")
        .expect("stale");
    assert!(
        stale.fix.contains("Redeploy orders-qa") && stale.fix.contains("services/orders"),
        "{}",
        stale.fix
    );
    let names: Vec<&str> = stale
        .resources
        .iter()
        .filter_map(|id| graph.node(id).map(|n| n.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            "/payments/api_url",
            "orders-qa",
            "orders-qa-create",
            "orders-qa-list"
        ]
    );
}

#[tokio::test]
async fn the_ssm_seam_is_linked_end_to_end_in_every_stage() {
    let sb = &common::demo().sandbox;
    let report = scan_of(sb).await;
    let graph = Graph::build(&report);
    let has = |from: &str, to: &str, kind: LinkKind| {
        graph
            .outgoing(from, Some(kind))
            .iter()
            .any(|(_, n)| n.id == to)
    };
    for stage in ["dev", "qa", "prod"] {
        let workspace = report
            .terraform
            .iter()
            .find(|t| t.stage.as_deref() == Some(stage))
            .map(|t| terraform_node(&t.location))
            .expect("workspace");
        let param = |name: &str| one(&report, stage, "AWS::SSM::Parameter", name);
        let stacks: Vec<&Resource> = ["auth", "users", "orders"]
            .iter()
            .map(|s| {
                one(
                    &report,
                    stage,
                    "AWS::CloudFormation::Stack",
                    &format!("{s}-{stage}"),
                )
            })
            .collect();

        // /db_pw_name: written by the workspace, read by every service, naming the secret.
        let name = param("/db_pw_name");
        assert!(has(&workspace, &name.id, LinkKind::SsmWrite), "{stage}");
        for s in &stacks {
            assert!(
                has(&name.id, &s.id, LinkKind::SsmRead),
                "{stage} {}",
                s.name
            );
        }
        let secret = one(
            &report,
            stage,
            "AWS::SecretsManager::Secret",
            "database_password",
        );
        assert!(has(&name.id, &secret.id, LinkKind::Names), "{stage}");
        // Through the Lambda environments too: every function of the three services.
        let readers = graph.consumers(&name.id);
        let functions = readers
            .iter()
            .filter(|n| n.type_name == "AWS::Lambda::Function")
            .count();
        assert_eq!(functions, 8, "{stage}: {readers:?}");

        // /db_pw_policy: names the policy every service role attaches.
        let policy_param = param("/db_pw_policy");
        let policy = one(&report, stage, "AWS::IAM::ManagedPolicy", "db_pw_policy");
        assert!(
            has(&policy_param.id, &policy.id, LinkKind::Names),
            "{stage}"
        );
        for s in &stacks {
            assert!(has(&policy_param.id, &s.id, LinkKind::SsmRead), "{stage}");
            let role = graph
                .outgoing(&s.id, Some(LinkKind::StackMember))
                .into_iter()
                .find(|(_, n)| n.type_name == "AWS::IAM::Role")
                .map(|(_, n)| n.id.clone())
                .expect("role");
            assert!(has(&role, &policy.id, LinkKind::AttachedPolicy), "{stage}");
        }

        // The shared REST API's ids.
        let api = one(&report, stage, "AWS::ApiGateway::RestApi", "acme-api");
        let root = one(&report, stage, "AWS::ApiGateway::Resource", "/");
        assert!(has(&param("/api/rest_api_id").id, &api.id, LinkKind::Names));
        assert!(has(
            &param("/api/root_resource_id").id,
            &root.id,
            LinkKind::Names
        ));
        for s in &stacks {
            assert!(has(&param("/api/rest_api_id").id, &s.id, LinkKind::SsmRead));
        }
        // What a change of the policy parameter means: redeploy the three services (and deploy
        // `reports`, which reads it too but is not deployed yet).
        let mut redeploy: Vec<String> = graph
            .redeploy_if_changed(&policy_param.id)
            .into_iter()
            .map(|r| r.name)
            .collect();
        redeploy.sort();
        assert_eq!(
            redeploy,
            [
                format!("auth-{stage}"),
                format!("orders-{stage}"),
                format!("reports-{stage} (not deployed)"),
                format!("users-{stage}")
            ]
        );
    }
    // The organization's graph orders: nothing needs itself.
    assert!(graph.cycles().is_empty(), "{:?}", graph.cycles());
    assert!(graph.topological_order().is_ok());
}

#[test]
fn the_cli_audit_fails_on_the_sandbox_and_the_graph_exports_read_back() {
    let sb = &common::demo().sandbox;
    let env = sb.env_vars();
    let out = common::cli(&["audit", "--json", "--no-store"], &env);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = v["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 11);
    for f in findings {
        for key in ["rule", "severity", "stage", "message", "fix"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
        assert!(f["resources"].as_array().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(v["counts"]["high"], 3);

    // Below the threshold it passes; one stage can be asked for.
    let low_only = common::cli(
        &["audit", "--no-store", "--stage", "dev", "--fail-on", "high"],
        &env,
    );
    assert_eq!(low_only.status.code(), Some(3), "dev has a conflict (high)");
    let qa = common::cli(
        &["audit", "--no-store", "--stage", "qa", "--fail-on", "high"],
        &env,
    );
    assert_eq!(
        qa.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&qa.stdout)
    );
    let unknown = common::cli(&["audit", "--no-store", "--stage", "staging"], &env);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr)
        .contains("no account of the snapshot is stage `staging`"));

    let json = common::cli(
        &["graph", "--no-store", "--format", "json", "--stage", "qa"],
        &env,
    );
    assert!(json.status.success());
    let g: serde_json::Value = serde_json::from_slice(&json.stdout).expect("graph JSON");
    let links = g["links"].as_array().expect("links");
    for kind in [
        "ssm-write",
        "ssm-read",
        "names",
        "attached-policy",
        "mapping",
    ] {
        assert!(
            links.iter().any(|l| l["kind"] == kind),
            "no {kind} link in qa"
        );
    }
    assert!(g["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .all(|n| n["stage"] == "qa"));

    let dot = common::cli(&["graph", "--no-store", "--format", "dot"], &env);
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("digraph stagecraft {") && dot.contains("label=\"ssm-read\""));
    let mermaid = common::cli(
        &[
            "graph",
            "--no-store",
            "--format",
            "mermaid",
            "--focus",
            "/db_pw_name",
        ],
        &env,
    );
    assert_eq!(
        mermaid.status.code(),
        Some(1),
        "/db_pw_name exists in three stages: the name alone is ambiguous"
    );
    assert!(String::from_utf8_lossy(&mermaid.stderr).contains("names 3 nodes"));
    let mermaid = common::cli(
        &[
            "graph",
            "--no-store",
            "--format",
            "mermaid",
            "--stage",
            "prod",
            "--focus",
            "/db_pw_name",
        ],
        &env,
    );
    let text = String::from_utf8_lossy(&mermaid.stdout);
    assert!(text.starts_with("flowchart LR"), "{text}");
    assert!(text.contains("database_password") && text.contains("|ssm-read|"));

    let md = common::cli(&["audit", "--no-store", "--format", "markdown"], &env);
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(md.starts_with("# Stagecraft audit") && md.contains("## Stage prod"));
}

#[test]
fn a_clean_organization_audits_clean() {
    let running = common::start(SeedSpec {
        stages: vec!["dev".into(), "qa".into()],
        plant_problems: false,
        ..SeedSpec::default()
    });
    let out = common::cli(&["audit", "--no-store"], &running.sandbox.env_vars());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "no findings");
}
