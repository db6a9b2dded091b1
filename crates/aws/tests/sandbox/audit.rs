// The graph and the audit against the sandbox organization: the SSM seam linked end to end in every
// stage, every planted problem found once with the right rule, nothing else found, and the CLI's
// exit codes for CI.

use stagecraft_sandbox::harness;

use std::collections::BTreeMap;

use stagecraft_analysis::audit::{audit, Finding};
use stagecraft_analysis::graph::Graph;
use stagecraft_analysis::link::{terraform_node, LinkKind};
use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::{Resource, ScanReport};
use stagecraft_sandbox::Sandbox;

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

/// Which audit rule a planted problem must raise (a KMS key pending deletion belongs to the
/// deletions view; the secret deleted by hand in the console is also a change outside its owner,
/// Terraform).
fn rule_for(planted_kind: &str) -> Option<&'static str> {
    Some(match planted_kind {
        "unread_parameter" => "ssm-unread-write",
        "missing_parameter" => "ssm-dangling-read",
        "stale_deployment" => "stale-deployment",
        "ownership_conflict" => "ownership-conflict",
        "unmanaged_bucket" => "unmanaged",
        "own_authorizer" => "duplicate-authorizer",
        "missing_base_path_mapping" => "base-path-mapping",
        "pending_secret" => "changed-outside-owner",
        "pending_kms_key" => return None,
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
                                stagecraft_model::Claim::Serverless(s) => s.stack == what,
                                _ => false,
                            }))
                })
        })
}

#[tokio::test]
async fn every_planted_problem_is_one_finding_and_nothing_else_is_found() {
    let sb = &harness::demo().sandbox;
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
                    "stale-deployment",
                    "changed-outside-owner"
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
    let sb = &harness::demo().sandbox;
    let report = scan_of(sb).await;
    let graph = Graph::build(&report);
    let has = |from: &str, to: &str, kind: LinkKind| {
        graph
            .outgoing(from, Some(kind))
            .iter()
            .any(|(_, n)| &*n.id == to)
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
        // Through the Lambda environments too: every function of the three services, and
        // Terraform's own rotation function (its `SECRET_ID`).
        let readers = graph.consumers(&name.id);
        let functions: Vec<&str> = readers
            .iter()
            .filter(|n| &*n.type_name == "AWS::Lambda::Function")
            .map(|n| &*n.owner)
            .collect();
        assert_eq!(functions.len(), 9, "{stage}: {readers:?}");
        assert_eq!(
            functions.iter().filter(|o| **o == "terraform").count(),
            1,
            "{stage}: {readers:?}"
        );

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
                .find(|(_, n)| &*n.type_name == "AWS::IAM::Role")
                .map(|(_, n)| n.id.to_string())
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
