// A whole stage deploy against the demo sandbox (with its planted problems): Terraform through the
// recording stand-in (Terraform cannot be installed here), then the real Serverless Framework v3 CLI
// deploying the demo services to the emulator, and what the rescan shows.

use stagecraft_sandbox::harness;

use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::Owner;
use stagecraft_ops::deploy::{execute, DeployOptions};
use stagecraft_ops::undo::{self, ActionRequest};
use stagecraft_sandbox::SeedSpec;

#[tokio::test(flavor = "multi_thread")]
async fn one_command_deploys_qa_in_order_with_the_real_serverless_cli() {
    assert!(
        stagecraft_sandbox::serverless_home(Some(&harness::repo().join("examples"))).is_some(),
        "the Serverless Framework is not installed: run scripts/test (it installs it) or set STAGECRAFT_SERVERLESS_HOME"
    );
    let running = harness::start(SeedSpec::default());
    let sb = &running.sandbox;
    let mut ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    if let Some(t) = ws.config.terraform.as_mut() {
        t.binary = harness::terraform_stand_in().display().to_string();
    }
    // Phase 3 runs too (qa's domain is mapped already; `auto` would leave it out).
    ws.config.deploy.post_deploy = "always".into();
    let scan = || async { scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {}).await };
    let before = scan().await.expect("scan");
    assert!(
        !before.resources.iter().any(|r| r.name == "reports-qa"),
        "reports is not deployed before"
    );
    assert_eq!(
        qa_findings(&before, "stale-deployment"),
        1,
        "orders-qa runs with an old /payments/api_url"
    );
    // What the Deletions view offers first: the secret whose pending deletion blocks `terraform apply`.
    let secret = stagecraft_analysis::deletion::pending(&before, &[])
        .into_iter()
        .find(|p| p.name == "legacy_api_key")
        .expect("the pending secret");
    assert_eq!(secret.blocks.len(), 1, "it blocks qa's apply");
    undo::perform(
        &sb.aws_env(),
        &ws,
        &before,
        &ActionRequest {
            action: "restore_secret".into(),
            resource_id: secret.id,
            typed_stage: None,
        },
    )
    .await
    .expect("restore");
    let report = scan().await.expect("scan after the restore");
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("terraform-calls");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let lines = std::sync::Mutex::new(Vec::new());
    let on = |e: stagecraft_ops::deploy::run::RunEvent| {
        if let stagecraft_ops::deploy::run::RunEvent::Line { index, text, .. } = e {
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
        run.outcome.as_str(),
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
            "deploy reports",
            "terraform apply, post-deploy (qa)"
        ]
    );
    // What the Terraform stand-in was run with: each step in the root, as the stage's profile, every
    // profile the root names resolved from the files the step was handed.
    let backend = "infra|qa|resolved master for backend";
    let provider = "infra|qa|resolved qa for provider[\"registry.terraform.io/hashicorp/aws\"]";
    assert_eq!(
        harness::stand_in_calls(&record),
        [
            "infra|qa|init -input=false -backend-config=force_path_style=true",
            backend,
            "infra|qa|workspace select -or-create qa",
            "infra|qa|apply -input=false -auto-approve",
            backend,
            provider,
            "infra|qa|apply -input=false -auto-approve",
            backend,
            provider,
        ]
    );
    let streamed = lines.lock().expect("lock").clone();
    assert!(
        streamed
            .iter()
            .any(|(i, t)| *i == 6 && t.contains("Service deployed to stack reports-qa")),
        "the Serverless CLI's own output streamed"
    );

    // The rescan shows what was deployed, and the redeploy of orders took today's parameter values.
    let after = scan().await.expect("rescan");
    assert_eq!(qa_findings(&after, "stale-deployment"), 0);
    assert_eq!(
        qa_findings(&after, "stage-drift"),
        0,
        "a deploy-time logical id (ApiGatewayDeployment<ms>) is no drift"
    );
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
    let graph = stagecraft_analysis::graph::Graph::build(&after);
    let param = after
        .resources
        .iter()
        .find(|r| r.name == "/orders/table_name" && r.stage.as_deref() == Some("qa"))
        .expect("parameter");
    assert!(graph
        .consumers(&param.id)
        .iter()
        .any(|n| *n.id == *stack.id));
}

fn qa_findings(report: &stagecraft_model::ScanReport, rule: &str) -> usize {
    stagecraft_analysis::views::analyse(report)
        .findings
        .iter()
        .filter(|f| f.rule == rule && f.stage.as_deref() == Some("qa"))
        .count()
}
