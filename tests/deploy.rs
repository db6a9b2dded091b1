//! The deploy plan against the sandbox organization: phases, the services' order with its reasons,
//! and the post-deploy Terraform step exactly where the stage needs it.

mod common;

use stagecraft::config::Workspace;
use stagecraft::scan::{self, ScanOptions};

#[tokio::test]
async fn the_plan_orders_terraform_the_services_by_dependency_and_the_catch_22() {
    let sb = &common::demo().sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");

    let qa = stagecraft::deploy::plan(&ws, &report, "qa").expect("plan");
    let titles: Vec<(u8, &str)> = qa
        .steps
        .iter()
        .map(|s| (s.phase, s.title.as_str()))
        .collect();
    assert_eq!(
        titles,
        [
            (1, "terraform init (qa)"),
            (1, "select workspace (qa)"),
            (1, "terraform apply (qa)"),
            (2, "deploy auth"),
            (2, "deploy users"),
            (2, "deploy orders"),
        ],
        "qa is mapped already: no post-deploy step"
    );
    assert!(!qa.protected);
    assert_eq!(qa.profile, "qa");
    assert!(qa.steps.iter().all(|s| s.profile == "qa"));
    assert_eq!(
        qa.steps[1].command,
        ["terraform", "workspace", "select", "-or-create", "qa"]
    );
    assert_eq!(
        qa.steps[3].command,
        ["serverless", "deploy", "--stage", "qa"]
    );
    assert!(qa.steps[3].dir.ends_with("services/auth"));
    assert!(
        qa.steps[2].reason.contains("/db_pw_name")
            && qa.steps[2].reason.contains("/api/rest_api_id"),
        "{}",
        qa.steps[2].reason
    );
    assert_eq!(
        qa.steps[4].reason,
        "after auth: /api/authorizer_id names authorizer `shared-authorizer`, which calls auth-qa-authorize"
    );
    assert_eq!(
        qa.steps[5].reason,
        "after auth: its http events use an authorizer that calls auth-qa-authorize"
    );

    // prod has no base path mapping: Terraform runs again after the services.
    let prod = stagecraft::deploy::plan(&ws, &report, "prod").expect("plan");
    assert!(prod.protected);
    let last = prod.steps.last().expect("steps");
    assert_eq!(last.phase, 3);
    assert_eq!(
        last.reason,
        "the base path mapping needs API stage `prod`, created by phase 2's first deploy (it is not mapped yet)"
    );

    let err = stagecraft::deploy::plan(&ws, &report, "staging").unwrap_err();
    assert_eq!(err.code(), "invalid_input");
}
