// Inventory and ownership against the sandbox organization: every seeded resource, its owner and the
// evidence, snapshots stored and diffed, and an account that cannot be scanned.

use stagecraft_sandbox::harness;

use std::collections::BTreeSet;

use stagecraft_analysis::own::cfn_type_of;
use stagecraft_aws::scan::{self, ScanEvent, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_iac::terraform::Instance;
use stagecraft_model::{AccountStatus, Claim, Owner, Resource, ScanReport};
use stagecraft_sandbox::{Sandbox, SeedSpec, SECRET_MARKER};
use stagecraft_store::Store;

async fn scan_of(sb: &Sandbox) -> ScanReport {
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan")
}

fn account_of(sb: &Sandbox, stage: &str) -> String {
    sb.seeded
        .accounts
        .iter()
        .find(|a| a.stage == stage)
        .map(|a| a.id.clone())
        .expect("stage account")
}

fn find<'a>(report: &'a ScanReport, account: &str, type_name: &str, name: &str) -> &'a Resource {
    report
        .resources
        .iter()
        .find(|r| {
            r.account_id == account && r.type_name == type_name && (r.name == name || r.id == name)
        })
        .unwrap_or_else(|| panic!("no {type_name} {name} in {account}"))
}

/// Terraform addresses claimed by any resource of the report (conflicts included).
fn claimed_addresses(report: &ScanReport) -> BTreeSet<String> {
    report
        .resources
        .iter()
        .flat_map(|r| r.owner.claims())
        .filter_map(|c| match c {
            Claim::Terraform(t) => Some(format!("{}:{}", t.workspace, t.address)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_seeded_resource_is_found_with_its_owner_and_the_evidence() {
    let sb = &harness::demo().sandbox;
    let report = scan_of(sb).await;
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(
        report
            .accounts
            .iter()
            .all(|a| a.status == AccountStatus::Ok),
        "{:#?}",
        report.accounts
    );

    // Terraform: every managed instance of a collected type is matched to a live resource.
    let claimed = claimed_addresses(&report);
    for (workspace, addresses) in &sb.seeded.terraform {
        for address in addresses.iter().filter(|a| !a.contains("data.")) {
            let ty = address.rsplit('.').nth(1).unwrap_or_default().to_owned();
            let inst = Instance {
                address: address.clone(),
                mode: "managed".into(),
                type_name: ty,
                attributes: Default::default(),
            };
            if cfn_type_of(&inst).is_some() {
                assert!(
                    claimed.contains(&format!("{workspace}:{address}")),
                    "{workspace}: {address} not matched"
                );
            }
        }
        let state = report
            .terraform
            .iter()
            .find(|t| &t.workspace == workspace)
            .expect("state of the workspace");
        assert_eq!(state.stage.as_deref(), Some(workspace.as_str()));
        assert!(
            state.unmatched.is_empty(),
            "{workspace}: {:?}",
            state.unmatched
        );
        assert!(state.lock.is_none());
    }

    for stage in ["dev", "qa", "prod"] {
        let account = account_of(sb, stage);
        // Every stack is a Serverless service of the stage.
        for stack in &sb.seeded.stacks[stage] {
            let r = find(&report, &account, "AWS::CloudFormation::Stack", stack);
            let Owner::Serverless(s) = &r.owner else {
                panic!("{stack}: {:?}", r.owner)
            };
            assert_eq!(s.stage, stage);
            assert_eq!(format!("{}-{}", s.service, s.stage), *stack);
        }
        // The execution role is not tagged by CloudFormation: it is owned through the stack's resource list.
        let role = find(
            &report,
            &account,
            "AWS::IAM::Role",
            &format!("users-{stage}-us-east-1-lambdaRole"),
        );
        assert!(
            matches!(&role.owner, Owner::Serverless(s) if s.stack == format!("users-{stage}")
                && s.logical_id.as_deref() == Some("IamRoleLambdaExecution")
                && s.matched_by == "stack resources"),
            "{:?}",
            role.owner
        );
        // The websocket API (API Gateway v2) belongs to the orders service.
        let ws = report
            .resources
            .iter()
            .find(|r| r.account_id == account && r.type_name == "AWS::ApiGatewayV2::Api")
            .expect("websocket API");
        assert_eq!(ws.attr_str("protocol"), Some("WEBSOCKET"));
        assert!(
            matches!(&ws.owner, Owner::Serverless(s) if s.service == "orders"),
            "{:?}",
            ws.owner
        );
        // The shared REST API and its parameters are Terraform's.
        let api = find(&report, &account, "AWS::ApiGateway::RestApi", "acme-api");
        assert!(
            matches!(&api.owner, Owner::Terraform(t) if t.address == "module.api.aws_api_gateway_rest_api.main" && t.workspace == stage),
            "{:?}",
            api.owner
        );
        let p = find(&report, &account, "AWS::SSM::Parameter", "/db_pw_policy");
        assert!(
            matches!(&p.owner, Owner::Terraform(t) if t.address == "aws_ssm_parameter.db_pw_policy"),
            "{:?}",
            p.owner
        );
        // Every function is a Serverless function but Terraform's rotation function; its
        // environment is names with keyed hashes only.
        for f in report
            .resources
            .iter()
            .filter(|r| r.account_id == account && r.type_name == "AWS::Lambda::Function")
        {
            if f.name == stagecraft_sandbox::seed::rotation_function(stage) {
                assert!(
                    matches!(&f.owner, Owner::Terraform(t) if t.address == "aws_lambda_function.rotate_db_password" && t.workspace == stage),
                    "{}: {:?}",
                    f.name,
                    f.owner
                );
            } else {
                assert!(
                    matches!(f.owner, Owner::Serverless(_)),
                    "{}: {:?}",
                    f.name,
                    f.owner
                );
            }
            if let Some(env) = f.attributes.get("environment").and_then(|e| e.as_object()) {
                assert!(env
                    .values()
                    .all(|v| v.as_str().is_some_and(|h| h.starts_with("sha256:"))));
            }
        }
        // SecureString values are never read; plain values are.
        let token = find(
            &report,
            &account,
            "AWS::SSM::Parameter",
            "/internal/service_token",
        );
        assert_eq!(token.attr_str("parameter_type"), Some("SecureString"));
        assert!(!token.attributes.contains_key("value"));
        assert_eq!(p.attr_str("parameter_type"), Some("String"));
        assert!(p
            .attr_str("value")
            .is_some_and(|v| v.starts_with("arn:aws:iam::")));
        // Every resource carries its account's stage and a region.
        for r in report.resources.iter().filter(|r| r.account_id == account) {
            assert_eq!(r.stage.as_deref(), Some(stage), "{}", r.id);
            assert!(!r.region.is_empty() && !r.id.is_empty() && !r.type_name.is_empty());
        }
    }

    // The planted cases.
    for planted in &sb.seeded.planted {
        let account = account_of(sb, &planted.stage);
        match planted.kind.as_str() {
            "ownership_conflict" => {
                let t = find(&report, &account, "AWS::DynamoDB::Table", &planted.resource);
                let Owner::Conflict { claims } = &t.owner else {
                    panic!("{:?}", t.owner)
                };
                assert!(claims.iter().any(|c| matches!(c, Claim::Terraform(_))));
                assert!(claims.iter().any(|c| matches!(c, Claim::Serverless(s) if s.stack == format!("auth-{}", planted.stage))));
            }
            "unmanaged_bucket" => {
                let b = find(&report, &account, "AWS::S3::Bucket", &planted.resource);
                assert_eq!(b.owner, Owner::Unmanaged);
            }
            "pending_kms_key" => {
                let k = report
                    .resources
                    .iter()
                    .find(|r| {
                        r.account_id == account
                            && r.id.contains(&planted.resource)
                            && r.type_name == "AWS::KMS::Key"
                    })
                    .unwrap_or_else(|| panic!("kms key {}", planted.resource));
                assert_eq!(k.attr_str("key_state"), Some("PendingDeletion"));
                assert!(k.attr_str("deletion_date").is_some());
            }
            "pending_secret" => {
                let s = report
                    .resources
                    .iter()
                    .find(|r| {
                        r.account_id == account
                            && r.type_name == "AWS::SecretsManager::Secret"
                            && (r.id == planted.resource || r.name == planted.resource)
                    })
                    .unwrap_or_else(|| panic!("secret {}", planted.resource));
                assert!(s.attr_str("deleted_date").is_some(), "{:?}", s.attributes);
            }
            _ => {}
        }
    }

    // No secret value anywhere in what a user could see or store.
    let json = serde_json::to_string(&report).expect("json");
    assert!(
        !json.contains(SECRET_MARKER),
        "a secret value leaked into the report"
    );
}

#[tokio::test]
async fn a_second_scan_is_stored_and_the_diff_shows_what_changed() {
    // It adds a parameter: the scratch organization, so no test counting the demo's sees it.
    let (_turn, running) = harness::scratch().await;
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("stagecraft.db")).expect("store");
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let opts = ScanOptions::default();
    let first_id = scan::scan_and_store(&sb.aws_env(), &ws, &opts, &mut store, &|_| {})
        .await
        .expect("scan")
        .id;

    // Between the scans, someone adds a parameter by hand in a test-only namespace.
    let qa = sb.aws_env().sdk_config("qa", None).await;
    let name = format!("/stagecraft-test/diff-{}", std::process::id());
    aws_sdk_ssm::Client::new(&qa)
        .put_parameter()
        .name(&name)
        .value("added by hand")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put parameter");
    let stored = scan::scan_and_store(&sb.aws_env(), &ws, &opts, &mut store, &|_| {})
        .await
        .expect("scan");
    let (second, second_id) = (stored.report, stored.id);
    aws_sdk_ssm::Client::new(&qa)
        .delete_parameter()
        .name(&name)
        .send()
        .await
        .expect("clean up");

    // Reopen: nothing lost, and the latest is the second scan.
    drop(store);
    let store = Store::open(&dir.path().join("stagecraft.db")).expect("reopen");
    assert_eq!(store.list().expect("list").len(), 2);
    assert_eq!(store.latest().expect("latest").expect("a snapshot"), second);
    let d = stagecraft_store::diff(
        &store.load(first_id).expect("first"),
        &store.load(second_id).expect("second"),
        Some(first_id),
        Some(second_id),
    );
    let added: Vec<_> = d
        .added
        .iter()
        .map(|r| (r.name.as_str(), r.owner.kind()))
        .collect();
    assert_eq!(added, [(name.as_str(), "unmanaged")]);
    assert!(d.removed.is_empty(), "{:?}", d.removed);
    // Environment hashes are keyed by the store, so an unchanged function does not show as changed.
    assert!(
        d.changed
            .iter()
            .all(|c| c.type_name != "AWS::Lambda::Function"),
        "{:#?}",
        d.changed
    );
}

#[tokio::test]
async fn an_account_whose_role_is_missing_is_reported_while_the_others_complete() {
    // A sandbox of its own: the role is deleted for good.
    let running = harness::start(SeedSpec {
        stages: vec!["dev".into(), "qa".into()],
        plant_problems: false,
        ..SeedSpec::default()
    });
    let sb = &running.sandbox;
    let qa = sb.aws_env().sdk_config("qa", None).await;
    aws_sdk_iam::Client::new(&qa)
        .delete_role()
        .role_name("OrganizationAccountAccessRole")
        .send()
        .await
        .expect("delete the role");

    // Somebody is applying qa right now: the lock table holds its lock.
    let master = sb.aws_env().sdk_config("master", None).await;
    let lock_id = format!("{}/env:/qa/{}", sb.seeded.state_bucket, sb.seeded.state_key);
    aws_sdk_dynamodb::Client::new(&master)
        .put_item()
        .table_name(stagecraft_sandbox::seed::LOCK_TABLE)
        .item("LockID", aws_sdk_dynamodb::types::AttributeValue::S(lock_id))
        .item(
            "Info",
            aws_sdk_dynamodb::types::AttributeValue::S(
                r#"{"ID":"5c2a","Operation":"OperationTypeApply","Who":"lead@laptop","Created":"2026-11-29T01:00:00Z"}"#.into(),
            ),
        )
        .send()
        .await
        .expect("lock");

    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let events = std::sync::Mutex::new(Vec::new());
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|e| {
        events.lock().expect("lock").push(e)
    })
    .await
    .expect("the scan completes");
    let qa_id = account_of(sb, "qa");
    let dev_id = account_of(sb, "dev");
    let qa = report.accounts.iter().find(|a| a.id == qa_id).expect("qa");
    assert_eq!(qa.status, AccountStatus::Error);
    let err = qa.error.as_ref().expect("reason");
    assert_eq!(err.code, stagecraft_model::ErrorCode::RoleMissing);
    assert!(
        err.message.contains("OrganizationAccountAccessRole") && err.message.contains(&qa_id),
        "{}",
        err.message
    );
    assert!(report.resources.iter().all(|r| r.account_id != qa_id));

    let dev = report
        .accounts
        .iter()
        .find(|a| a.id == dev_id)
        .expect("dev");
    assert_eq!(dev.status, AccountStatus::Ok);
    assert!(report
        .resources
        .iter()
        .any(|r| r.account_id == dev_id && r.type_name == "AWS::Lambda::Function"));
    let qa_state = report
        .terraform
        .iter()
        .find(|t| t.workspace == "qa")
        .expect("qa state");
    let lock = qa_state.lock.as_ref().expect("the held lock is shown");
    assert_eq!(
        (lock.via.as_str(), lock.who.as_deref()),
        ("dynamodb", Some("lead@laptop"))
    );
    assert!(report
        .terraform
        .iter()
        .find(|t| t.workspace == "dev")
        .is_some_and(|t| t.lock.is_none()));
    // Progress came per collector for the account that worked.
    let events = events.into_inner().expect("lock");
    let steps: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            ScanEvent::AccountProgress {
                account_id, step, ..
            } if *account_id == dev_id => Some(step.clone()),
            _ => None,
        })
        .collect();
    for expected in [
        "identity",
        "lambda us-east-1",
        "cloudformation us-east-1",
        "iam",
        "s3",
    ] {
        assert!(
            steps.contains(expected),
            "{expected} missing from {steps:?}"
        );
    }
}
