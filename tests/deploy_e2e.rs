//! A whole stage deploy against the sandbox: Terraform through the recording stand-in (Terraform
//! cannot be installed here), then the real Serverless Framework v3 CLI deploying the demo services
//! to the emulator, and the new service's stack in the rescan.

mod common;

use stagecraft::config::Workspace;
use stagecraft::deploy::{execute, DeployOptions};
use stagecraft::model::Owner;
use stagecraft::sandbox::SeedSpec;
use stagecraft::scan::{self, ScanOptions};

#[tokio::test(flavor = "multi_thread")]
async fn one_command_deploys_qa_in_order_with_the_real_serverless_cli() {
    assert!(
        stagecraft::sandbox::serverless_home(Some(&common::repo().join("examples"))).is_some(),
        "the Serverless Framework is not installed: run scripts/test (it installs it) or set STAGECRAFT_SERVERLESS_HOME"
    );
    let running = common::start(SeedSpec {
        stages: vec!["dev".into(), "qa".into()],
        plant_problems: false,
        ..SeedSpec::default()
    });
    let sb = &running.sandbox;
    let mut ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    if let Some(t) = ws.config.terraform.as_mut() {
        t.binary = common::repo()
            .join("tests/bin/terraform-stand-in")
            .display()
            .to_string();
    }
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    assert!(
        !report.resources.iter().any(|r| r.name == "reports-qa"),
        "reports is not deployed before"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("terraform-calls");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let lines = std::sync::Mutex::new(Vec::new());
    let on = |e: stagecraft::deploy::run::RunEvent| {
        if let stagecraft::deploy::run::RunEvent::Line { index, text, .. } = e {
            lines.lock().expect("lock").push((index, text));
        }
    };
    let opts = DeployOptions {
        env: vec![(
            "TERRAFORM_STAND_IN_RECORD".into(),
            record.display().to_string(),
        )],
        ..DeployOptions::default()
    };
    let run = execute(
        &sb.aws_env(),
        &ws,
        &report,
        "qa",
        &dir.path().join("stagecraft.db"),
        opts,
        rx,
        &on,
    )
    .await
    .expect("deploy");
    let steps: Vec<(&str, &str)> = run
        .steps
        .iter()
        .map(|s| (s.title.as_str(), s.outcome.as_str()))
        .collect();
    assert_eq!(
        run.outcome,
        "succeeded",
        "{steps:?}\n{}",
        run.steps
            .iter()
            .map(|s| s.log.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        steps.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [
            "terraform init (qa)",
            "select workspace (qa)",
            "terraform apply (qa)",
            "deploy auth",
            "deploy users",
            "deploy orders",
            "deploy reports"
        ]
    );
    let streamed = lines.lock().expect("lock").clone();
    assert!(
        streamed
            .iter()
            .any(|(i, t)| *i == 6 && t.contains("Service deployed to stack reports-qa")),
        "the Serverless CLI's own output streamed"
    );

    // The rescan shows what was deployed.
    let after = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("rescan");
    let stack = after
        .resources
        .iter()
        .find(|r| r.name == "reports-qa" && r.type_name == "AWS::CloudFormation::Stack")
        .expect("the new stack");
    assert!(matches!(&stack.owner, Owner::Serverless(c) if c.service == "reports"));
    let function = after
        .resources
        .iter()
        .find(|r| r.name == "reports-qa-daily")
        .expect("its function");
    assert!(matches!(&function.owner, Owner::Serverless(_)));
    let graph = stagecraft::graph::Graph::build(&after);
    let param = after
        .resources
        .iter()
        .find(|r| r.name == "/orders/table_name" && r.stage.as_deref() == Some("qa"))
        .expect("parameter");
    assert!(graph.consumers(&param.id).iter().any(|n| n.id == stack.id));
}
