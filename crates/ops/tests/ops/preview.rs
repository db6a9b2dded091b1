// The preview of a stage's deploy against the demo organization: Terraform's plan (through the
// stand-in: the demo root manages AWS resources) and a real CloudFormation change set per service
// on the template the real Serverless CLI packages; nothing is left behind, and a preview that
// deletes or replaces something makes the deploy ask for the stage's name.

use std::collections::BTreeSet;

use stagecraft_sandbox::harness;
use stagecraft_sandbox::proxy::{self, Proxy, ProxyOptions};

use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::deploy::{ChangeAction, StageChanges};
use stagecraft_ops::deploy::{changes, execute, DeployOptions};

fn actions(changes: &StageChanges, title: &str) -> Vec<(String, ChangeAction, Vec<String>)> {
    changes
        .steps
        .iter()
        .find(|s| s.title == title)
        .unwrap_or_else(|| panic!("no step {title}"))
        .changes
        .iter()
        .map(|c| (c.address.clone(), c.action, c.details.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preview_shows_every_steps_changes_and_leaves_nothing_behind() {
    assert!(
        stagecraft_sandbox::serverless_home(Some(&harness::repo().join("examples"))).is_some(),
        "the Serverless Framework is not installed: run scripts/test (it installs it)"
    );
    let (_turn, running) = harness::scratch().await;
    let sb = &running.sandbox;
    let mut ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    if let Some(t) = ws.config.terraform.as_mut() {
        t.binary = harness::terraform_stand_in().display().to_string();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("terraform-calls");
    ws.config.deploy.env.insert(
        "TERRAFORM_STAND_IN_RECORD".into(),
        record.display().to_string(),
    );
    let env = sb.aws_env();
    let before = scan::scan(&env, &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    // Stagecraft's own calls go through a recording proxy (the tools' own go to the emulator).
    let proxy = Proxy::start(&sb.endpoint, ProxyOptions::default())
        .await
        .expect("proxy");
    let proxied = sb
        .aws_env_through(&proxy.endpoint, &dir.path().join("aws-config"))
        .expect("aws config");
    let heard = std::sync::Mutex::new(Vec::new());
    let progress = |what: &str| heard.lock().expect("lock").push(what.to_owned());
    let preview = changes::preview_changes(&proxied, &ws, &before, "qa", &progress)
        .await
        .expect("preview");

    // Terraform was asked as a preview asks: no workspace selected, a plan without the lock, shown
    // as JSON; every profile the root names resolved from the files the preview handed it.
    let backend = "infra|qa|resolved master for backend";
    let provider = "infra|qa|resolved qa for provider[\"registry.terraform.io/hashicorp/aws\"]";
    let calls = harness::stand_in_calls(&record);
    let plan_file = calls
        .iter()
        .find_map(|c| c.strip_prefix("infra|qa|plan -input=false -lock=false -out="))
        .unwrap_or_else(|| panic!("no plan: {calls:?}"))
        .to_owned();
    assert_eq!(
        calls,
        [
            "infra|qa|init -input=false -backend-config=force_path_style=true",
            backend,
            "infra|qa|workspace list",
            &format!("infra|qa|plan -input=false -lock=false -out={plan_file}"),
            backend,
            provider,
            &format!("infra|qa|show -json {plan_file}"),
        ]
    );
    assert!(
        !std::path::Path::new(&plan_file).exists(),
        "the plan file is removed"
    );

    // Its calls are exactly the ones docs/preview-policy.json grants, and its only writes make and
    // delete change sets (and the empty stack a CREATE change set leaves); nothing is executed.
    let used: BTreeSet<String> = proxy
        .calls()
        .iter()
        .map(|c| proxy::iam_action(&c.service, &c.action))
        .collect();
    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(harness::repo().join("docs/preview-policy.json")).expect("policy"),
    )
    .expect("policy JSON");
    let granted: BTreeSet<String> = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .flat_map(|s| s["Action"].as_array().expect("actions").iter())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    assert_eq!(used, granted);
    let writes: BTreeSet<String> = proxy
        .calls()
        .iter()
        .filter(|c| !proxy::is_read_only(c))
        .map(|c| c.action.clone())
        .collect();
    assert_eq!(
        writes.into_iter().collect::<Vec<_>>(),
        ["CreateChangeSet", "DeleteChangeSet", "DeleteStack"]
    );

    let titles: Vec<&str> = preview.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "terraform apply (qa)",
            "deploy auth",
            "deploy users",
            "deploy orders",
            "deploy reports"
        ]
    );
    assert!(
        preview.steps.iter().all(|s| s.error.is_none()),
        "{:#?}",
        preview.steps
    );
    let heard = heard.lock().expect("lock").clone();
    assert_eq!(
        heard.iter().filter(|h| !h.starts_with("waiting")).count(),
        5,
        "each step says what it does: {heard:?}"
    );

    // Terraform: the token's value differs from the code's (shown only as changing), and the
    // certificate in the code names another account than the state holds.
    let tf: Vec<(String, ChangeAction)> = actions(&preview, "terraform apply (qa)")
        .into_iter()
        .map(|(a, k, _)| (a, k))
        .collect();
    assert_eq!(
        tf,
        [
            (
                "aws_ssm_parameter.service_token".to_owned(),
                ChangeAction::Update
            ),
            (
                "module.api.aws_api_gateway_domain_name.main".to_owned(),
                ChangeAction::Update
            ),
        ]
    );
    assert_eq!(
        actions(&preview, "terraform apply (qa)")[0].2,
        ["value: changes"]
    );
    let text = serde_json::to_string(&preview).expect("json");
    assert!(
        !text.contains("STAGECRAFT-TEST-SECRET"),
        "no secret value in the preview: {text}"
    );

    // users reads /internal/service_token, which the plan changes: provisional.
    let users = preview
        .steps
        .iter()
        .find(|s| s.title == "deploy users")
        .expect("users");
    assert_eq!(
        users.provisional.as_deref(),
        Some("provisional: evaluated again after phase 1, which changes /internal/service_token")
    );
    assert!(preview
        .steps
        .iter()
        .filter(|s| s.title != "deploy users")
        .all(|s| s.provisional.is_none()));

    // reports is not deployed in qa: its change set creates every resource of its template.
    let reports = actions(&preview, "deploy reports");
    assert!(
        reports.iter().all(|(_, a, _)| *a == ChangeAction::Create),
        "{reports:?}"
    );
    assert!(
        reports.iter().any(|(a, _, _)| a == "DailyLambdaFunction"),
        "{reports:?}"
    );
    // auth is: its packaged template renames the execution role, which CloudFormation replaces.
    let auth = actions(&preview, "deploy auth");
    let role = auth
        .iter()
        .find(|(a, _, _)| a == "IamRoleLambdaExecution")
        .expect("the role");
    assert_eq!(role.1, ChangeAction::Replace);
    assert!(
        role.2
            .contains(&"Properties.RoleName (requires replacement)".to_owned()),
        "{role:?}"
    );
    assert!(preview.destructive);

    // Nothing is left: no change set on any stack, no stack the preview made.
    let master = env.sdk_config("qa", None).await;
    let cfn = aws_sdk_cloudformation::Client::new(&master);
    for stack in ["auth-qa", "users-qa", "orders-qa"] {
        let sets = cfn
            .list_change_sets()
            .stack_name(stack)
            .send()
            .await
            .expect("list change sets");
        assert!(
            sets.summaries().is_empty(),
            "{stack}: {:?}",
            sets.summaries()
        );
    }
    let gone = cfn.describe_stacks().stack_name("reports-qa").send().await;
    assert!(
        gone.is_err(),
        "the preview's empty reports-qa stack was deleted"
    );
    let after = scan::scan(&env, &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("rescan");
    assert_eq!(before.resources.len(), after.resources.len());

    // The deploy after a preview that replaces something wants qa's name typed, though qa is not
    // protected; nothing runs without it.
    std::fs::remove_file(&record).expect("reset the record");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let err = execute(
        &env,
        &ws,
        &after,
        "qa",
        &dir.path().join("stagecraft.db"),
        DeployOptions {
            env: vec![(
                "TERRAFORM_STAND_IN_RECORD".into(),
                record.display().to_string(),
            )],
            changes: Some(preview),
            ..DeployOptions::default()
        },
        rx,
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("the preview of qa deletes or replaces resources")
            && err.to_string().contains("type `qa` to confirm"),
        "{err}"
    );
    assert!(harness::stand_in_calls(&record).is_empty(), "nothing ran");
}
