// The `spread` organization scanned as a new user would: AWS profiles only, no stagecraft.toml. Its
// state lives in a tooling account under per-stage keys, prod runs a service in a second region,
// SAM and CDK stacks stand beside the Serverless ones, and parameters are read from templates and
// by Terraform. Every owner, every SSM link and the coverage are asserted exactly.

use std::collections::{BTreeMap, BTreeSet};

use stagecraft_analysis::link::{self, LinkKind};
use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::terraform::StageRule;
use stagecraft_model::{Owner, ScanReport, StageSource};
use stagecraft_sandbox::harness;

const TF_STATE: &str = "s3://globex-tfstate/live";

async fn scan_spread() -> ScanReport {
    let sb = &harness::spread().sandbox;
    assert!(
        !sb.workspace_file().exists(),
        "the spread organization has no stagecraft.toml"
    );
    let opts = ScanOptions {
        profile: Some("master".into()),
        ..ScanOptions::default()
    };
    scan::scan(&sb.aws_env(), &Workspace::default(), &opts, &|_| {})
        .await
        .expect("scan")
}

/// An account's label: its stage, `tooling`, or `mgmt`.
fn labels(report: &ScanReport) -> BTreeMap<String, String> {
    report
        .accounts
        .iter()
        .map(|a| {
            let label = match (&a.stage, a.is_management) {
                (Some(s), _) => s.clone(),
                (None, true) => "mgmt".to_owned(),
                (None, false) => a.name.trim_start_matches("globex-").to_owned(),
            };
            (a.id.clone(), label)
        })
        .collect()
}

fn owner(o: &Owner) -> String {
    match o {
        Owner::Unmanaged => "unmanaged".into(),
        Owner::Conflict { .. } => "conflict".into(),
        other => match other.claims().first() {
            Some(stagecraft_model::Claim::Terraform(t)) => format!(
                "terraform {}",
                t.state
                    .trim_start_matches("s3://")
                    .trim_end_matches("/terraform.tfstate")
            ),
            Some(stagecraft_model::Claim::Serverless(s)) => format!("serverless {}", s.stack),
            Some(stagecraft_model::Claim::Cloudformation(s)) => {
                format!("cloudformation {}", s.stack)
            }
            None => "none".into(),
        },
    }
}

#[tokio::test]
async fn with_no_config_every_owner_is_right_in_every_account_and_region() {
    let report = scan_spread().await;
    let label = labels(&report);
    let stage_of = |name: &str| {
        report
            .accounts
            .iter()
            .find(|a| a.name == name)
            .map(|a| (a.stage.clone(), a.stage_source))
            .expect("account")
    };
    assert_eq!(
        stage_of("globex-dev"),
        (Some("dev".into()), StageSource::Name)
    );
    assert_eq!(
        stage_of("globex-payments-live"),
        (Some("prod".into()), StageSource::Tag)
    );
    assert_eq!(stage_of("globex-tooling"), (None, StageSource::None));

    let got: BTreeSet<String> = report
        .resources
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} = {}",
                label[&r.account_id],
                r.region,
                r.type_name.trim_start_matches("AWS::"),
                r.name,
                owner(&r.owner)
            )
        })
        .collect();
    let core = |stage: &str| format!("terraform globex-tfstate/live/{stage}/core");
    let mut want: Vec<String> = Vec::new();
    for stage in ["dev", "prod"] {
        let c = core(stage);
        want.extend([
            format!("{stage} us-east-1 CloudFormation::Stack api-{stage} = serverless api-{stage}"),
            format!("{stage} us-east-1 Lambda::Function api-{stage}-list = serverless api-{stage}"),
            format!("{stage} us-east-1 S3::Bucket globex-api-{stage}-deploys = serverless api-{stage}"),
            format!("{stage} us-east-1 DynamoDB::Table globex-{stage}-orders = {c}"),
            format!("{stage} us-east-1 SSM::Parameter /core/orders_table_name = {c}"),
            format!("{stage} us-east-1 SSM::Parameter /core/orders_table_arn = {c}"),
            format!("{stage} us-east-1 SSM::Parameter /core/orders_policy_arn = {c}"),
            format!("{stage} global IAM::ManagedPolicy globex-{stage}-orders-rw = {c}"),
            format!("{stage} global IAM::Role api-{stage}-us-east-1-lambdaRole = serverless api-{stage}"),
            format!("{stage} global IAM::Role globex-ci-deployer = terraform globex-tfstate/live/shared/iam"),
            format!("{stage} global IAM::Role OrganizationAccountAccessRole = unmanaged"),
        ]);
    }
    want.extend(
        [
            // A SAM stack named like a Serverless one, and a CDK stack: other CloudFormation.
            "dev us-east-1 CloudFormation::Stack billing-dev = cloudformation billing-dev",
            "dev us-east-1 DynamoDB::Table billing-dev-invoices = cloudformation billing-dev",
            "prod us-east-1 CloudFormation::Stack PaymentsStack = cloudformation PaymentsStack",
            "prod us-east-1 DynamoDB::Table globex-prod-ledger = cloudformation PaymentsStack",
            // The edge state's bucket (its stage from the key) and prod's own state bucket.
            "prod us-east-1 S3::Bucket globex-prod-assets = terraform globex-tfstate/live/prod/edge",
            "prod us-east-1 S3::Bucket globex-prod-tf = unmanaged",
            "prod global IAM::Role globex-prod-reports-reader = terraform globex-prod-tf/reports-consumer",
            // The second region: a service and the DR table.
            "prod eu-west-1 CloudFormation::Stack reports-prod = serverless reports-prod",
            "prod eu-west-1 Lambda::Function reports-prod-build = serverless reports-prod",
            "prod eu-west-1 S3::Bucket globex-reports-prod-deploys = serverless reports-prod",
            "prod eu-west-1 S3::Bucket globex-reports-prod-eu = serverless reports-prod",
            "prod eu-west-1 SSM::Parameter /reports/bucket_name = serverless reports-prod",
            "prod global IAM::Role reports-prod-eu-west-1-lambdaRole = serverless reports-prod",
            "prod eu-west-1 DynamoDB::Table globex-prod-orders-dr = terraform globex-tfstate/live/prod/core",
            // The tooling account's bootstrap, made by hand.
            "tooling us-east-1 S3::Bucket globex-tfstate = unmanaged",
            "tooling us-east-1 DynamoDB::Table globex-tflock = unmanaged",
            "tooling global IAM::Role OrganizationAccountAccessRole = unmanaged",
            // The organization trail's bucket, in the management account.
            "mgmt us-east-1 S3::Bucket aws-controltower-logs-123456789012-us-east-1 = unmanaged",
        ]
        .map(String::from),
    );
    let want: BTreeSet<String> = want.into_iter().collect();
    let missing: Vec<&String> = want.difference(&got).collect();
    let extra: Vec<&String> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "owners differ\nmissing: {missing:#?}\nunexpected: {extra:#?}"
    );
}

#[tokio::test]
async fn every_ssm_write_has_its_writer_and_every_read_its_reader_in_both_directions() {
    let report = scan_spread().await;
    let label = labels(&report);
    let linked = link::infer(&report);
    let name = |id: &str| -> String {
        if let Some(loc) = id.strip_prefix("terraform:") {
            return loc.trim_start_matches("s3://").to_owned();
        }
        let r = report
            .resources
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("node {id}"));
        format!("{}:{}", label[&r.account_id], r.name)
    };
    let got: BTreeSet<String> = linked
        .links
        .iter()
        .filter(|l| matches!(l.kind, LinkKind::SsmWrite | LinkKind::SsmRead))
        .map(|l| format!("{} {} -> {}", l.kind, name(&l.from), name(&l.to)))
        .collect();
    let mut want = BTreeSet::new();
    for stage in ["dev", "prod"] {
        let state = format!("globex-tfstate/live/{stage}/core/terraform.tfstate");
        for p in ["orders_table_name", "orders_table_arn", "orders_policy_arn"] {
            want.insert(format!("ssm-write {state} -> {stage}:/core/{p}"));
        }
        // Read from the deployed template: a policy statement's Resource, ManagedPolicyArns, the
        // function's environment; and from the deployed function itself.
        for p in ["orders_table_name", "orders_table_arn", "orders_policy_arn"] {
            want.insert(format!("ssm-read {stage}:/core/{p} -> {stage}:api-{stage}"));
        }
        want.insert(format!(
            "ssm-read {stage}:/core/orders_table_name -> {stage}:api-{stage}-list"
        ));
    }
    want.extend(
        [
            "ssm-write prod:reports-prod -> prod:/reports/bucket_name",
            "ssm-read prod:/reports/bucket_name -> prod:reports-prod",
            "ssm-read prod:/reports/bucket_name -> prod:reports-prod-build",
            // Serverless → SSM → Terraform.
            "ssm-read prod:/reports/bucket_name -> globex-prod-tf/reports-consumer/terraform.tfstate",
        ]
        .map(String::from),
    );
    let missing: Vec<&String> = want.difference(&got).collect();
    let extra: Vec<&String> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "SSM links differ\nmissing: {missing:#?}\nunexpected: {extra:#?}"
    );
    let policy_read = linked
        .links
        .iter()
        .find(|l| {
            l.kind == LinkKind::SsmRead
                && name(&l.from) == "dev:/core/orders_table_arn"
                && name(&l.to) == "dev:api-dev"
        })
        .expect("the policy statement read");
    assert!(
        policy_read.evidence.contains(
            "Resources.IamRoleLambdaExecution.Properties.Policies[0].PolicyDocument.Statement[0].Resource[0]"
        ),
        "{}",
        policy_read.evidence
    );

    // The audit sees Terraform as a reader: the parameter the stack writes is not "unread".
    let graph = stagecraft_analysis::graph::Graph::build(&report);
    let findings = stagecraft_analysis::audit::audit(&report, &graph);
    assert!(
        !findings
            .iter()
            .any(|f| f.message.contains("/reports/bucket_name") && f.rule == "ssm-unread-write"),
        "{findings:#?}"
    );
}

#[tokio::test]
async fn states_are_found_outside_the_management_account_and_each_says_why_its_stage() {
    let report = scan_spread().await;
    let label = labels(&report);
    let got: BTreeMap<String, (Option<String>, Option<StageRule>)> = report
        .terraform
        .iter()
        .map(|t| (t.location.clone(), (t.stage.clone(), t.stage_rule)))
        .collect();
    let want: BTreeMap<String, (Option<String>, Option<StageRule>)> = [
        (
            format!("{TF_STATE}/dev/core/terraform.tfstate"),
            (Some("dev"), Some(StageRule::Account)),
        ),
        (
            format!("{TF_STATE}/prod/core/terraform.tfstate"),
            (Some("prod"), Some(StageRule::Account)),
        ),
        (
            format!("{TF_STATE}/prod/edge/terraform.tfstate"),
            (Some("prod"), Some(StageRule::Key)),
        ),
        (
            format!("{TF_STATE}/shared/iam/terraform.tfstate"),
            (None, Some(StageRule::Spans)),
        ),
        (
            "s3://globex-prod-tf/reports-consumer/terraform.tfstate".to_owned(),
            (Some("prod"), Some(StageRule::Account)),
        ),
    ]
    .into_iter()
    .map(|(k, (s, r))| (k, (s.map(str::to_owned), r)))
    .collect();
    assert_eq!(got, want);
    for t in &report.terraform {
        assert!(t.error.is_none(), "{}: {:?}", t.location, t.error);
        assert!(t.unmatched.is_empty(), "{}: {:?}", t.location, t.unmatched);
        let owner = label[t.account_id.as_deref().expect("the bucket's account")].as_str();
        let expected = if t.location.starts_with("s3://globex-prod-tf/") {
            "prod"
        } else {
            "tooling"
        };
        assert_eq!(owner, expected, "{}", t.location);
    }
    let spans = report
        .terraform
        .iter()
        .find(|t| t.stage_rule == Some(StageRule::Spans))
        .expect("the shared IAM state");
    assert_eq!(spans.resource_accounts.len(), 2);
    let locked = report
        .terraform
        .iter()
        .find(|t| t.location.ends_with("live/dev/core/terraform.tfstate"))
        .and_then(|t| t.lock.clone())
        .expect("dev's core is locked");
    assert_eq!(locked.via, "dynamodb");
    assert_eq!(locked.who.as_deref(), Some("dana@build-7"));
}

#[tokio::test]
async fn coverage_lists_every_account_and_region_scanned_and_where_state_was_found() {
    let report = scan_spread().await;
    let label = labels(&report);
    let c = &report.coverage;
    assert_eq!(c.region_source, "in use");
    let regions: BTreeMap<String, Vec<String>> = c
        .accounts
        .iter()
        .map(|a| (label[&a.account_id].clone(), a.regions.clone()))
        .collect();
    let want: BTreeMap<String, Vec<String>> = [
        ("mgmt", vec!["us-east-1"]),
        ("dev", vec!["us-east-1"]),
        ("prod", vec!["us-east-1", "eu-west-1"]),
        ("tooling", vec!["us-east-1"]),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(regions, want);
    for a in &c.accounts {
        assert_eq!(a.failed, 0, "{a:?}");
        assert_eq!(a.collectors, 9 * a.regions.len() as u32 + 2);
        assert!(a.region_probe_calls > 0, "regions were probed");
    }
    let buckets: BTreeSet<(String, String, u32)> = c
        .state
        .state_buckets
        .iter()
        .map(|b| (label[&b.account_id].clone(), b.bucket.clone(), b.states))
        .collect();
    assert_eq!(
        buckets,
        [
            ("prod".to_owned(), "globex-prod-tf".to_owned(), 1),
            ("tooling".to_owned(), "globex-tfstate".to_owned(), 4)
        ]
        .into()
    );
    assert_eq!(c.state.states_read, 5);
    assert!(c.state.discovery && c.state.configured.is_none());
    assert!(c.left_out.is_empty(), "{:?}", c.left_out);
    assert!(!c.partial, "{:?}", c.skipped);

    // Limited to the home region, the scan says what it left out and that it is partial.
    let sb = &harness::spread().sandbox;
    let opts = ScanOptions {
        profile: Some("master".into()),
        regions: vec!["us-east-1".into()],
        ..ScanOptions::default()
    };
    let narrow = scan::scan(&sb.aws_env(), &Workspace::default(), &opts, &|_| {})
        .await
        .expect("scan");
    assert!(narrow.coverage.partial);
    let left: Vec<(String, String)> = narrow
        .coverage
        .left_out
        .iter()
        .map(|l| {
            (
                label[l.account_id.as_deref().expect("account")].clone(),
                l.region.clone(),
            )
        })
        .collect();
    assert_eq!(left, [("prod".to_owned(), "eu-west-1".to_owned())]);
    assert!(narrow.coverage.left_out[0]
        .why
        .contains("live/prod/core/terraform.tfstate"));

    // With the search turned off and no backend named, no state is found, and the scan says so.
    let blind = Workspace {
        config: stagecraft_iac::config::WorkspaceConfig::parse("[terraform]\ndiscover = false\n")
            .expect("config"),
        path: None,
    };
    let opts = ScanOptions {
        profile: Some("master".into()),
        ..ScanOptions::default()
    };
    let stateless = scan::scan(&sb.aws_env(), &blind, &opts, &|_| {})
        .await
        .expect("scan");
    assert!(stateless.terraform.is_empty());
    assert!(stateless.coverage.partial);
    let why = stateless.coverage.no_state.expect("why no state");
    assert!(why.contains("discover = false"), "{why}");
    assert_eq!(report.coverage.no_state, None);
}

#[tokio::test]
async fn every_account_shows_its_limits_and_the_planted_near_limit_accounts_are_found() {
    let report = scan_spread().await;
    let label = labels(&report);
    for a in &report.accounts {
        let regions: Vec<&str> = a.limits.iter().map(|l| l.region.as_str()).collect();
        let scanned = report
            .coverage
            .accounts
            .iter()
            .find(|c| c.account_id == a.id)
            .map(|c| c.regions.clone())
            .unwrap_or_default();
        let mut scanned: Vec<&str> = scanned.iter().map(String::as_str).collect();
        scanned.sort();
        assert_eq!(regions, scanned, "{}: a card per scanned region", a.name);
        for l in &a.limits {
            assert!(l.errors.is_empty(), "{}: {:?}", a.name, l.errors);
            assert!(l.stack_limit.is_some() && l.concurrency_limit.is_some());
        }
    }
    let limits = |who: &str, region: &str| {
        let a = report
            .accounts
            .iter()
            .find(|a| label[&a.id] == who)
            .expect("account");
        a.limits
            .iter()
            .find(|l| l.region == region)
            .cloned()
            .expect("region limits")
    };
    let prod = limits("prod", "us-east-1");
    assert_eq!((prod.stacks, prod.stack_limit), (2, Some(2)));
    assert_eq!(limits("prod", "eu-west-1").stacks, 1);
    let dev = limits("dev", "us-east-1");
    assert_eq!(
        (dev.concurrency_limit, dev.unreserved_concurrency),
        (Some(1000), Some(100))
    );
    assert_eq!(
        dev.reserved,
        [("api-dev-list".to_owned(), 900)].into_iter().collect()
    );
    assert_eq!(limits("prod", "us-east-1").reserved.len(), 0);

    let graph = stagecraft_analysis::graph::Graph::build(&report);
    let near: Vec<(Option<String>, String)> = stagecraft_analysis::audit::audit(&report, &graph)
        .into_iter()
        .filter(|f| f.rule == "near-limit")
        .map(|f| (f.stage, f.message))
        .collect();
    assert_eq!(near.len(), 2, "{near:#?}");
    assert!(near.iter().any(|(s, m)| s.as_deref() == Some("dev")
        && m.contains(
            "uses 900 of 1000 Lambda concurrency reserved by functions in us-east-1 (90 %)"
        )));
    assert!(near.iter().any(|(s, m)| s.as_deref() == Some("prod")
        && m.contains("uses 2 of 2 CloudFormation stacks in us-east-1 (100 %)")));
}
