// The deploy plan against the sandbox organization: phases, the services' order with its reasons,
// and the post-deploy Terraform step exactly where the stage needs it.

use stagecraft_sandbox::harness;

use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;

#[tokio::test]
async fn the_plan_orders_terraform_the_services_by_dependency_and_the_catch_22() {
    let sb = &harness::demo().sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");

    let qa = stagecraft_ops::deploy::plan(&ws, &report, "qa", &Default::default()).expect("plan");
    let titles: Vec<(u8, &str)> = qa
        .steps
        .iter()
        .map(|s| (s.phase.number(), s.title.as_str()))
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
            (2, "deploy reports"),
        ],
        "qa is mapped already: no post-deploy step"
    );
    assert!(!qa.protected);
    assert_eq!(qa.profile, "qa");
    assert!(qa.steps.iter().all(|s| s.profile == "qa"));
    assert_eq!(
        qa.steps[1].command[1..],
        ["workspace", "select", "-or-create", "qa"]
    );
    assert_eq!(
        qa.steps[0].command[1..],
        [
            "init",
            "-input=false",
            "-backend-config=force_path_style=true"
        ],
        "the config's init arguments"
    );
    // Every Terraform step gets the stage's profile, the backend's and the provider's, each with the
    // account it must act in and where it is named.
    let uses: Vec<(&str, &str, Option<&str>, String)> = qa.steps[2]
        .profiles
        .iter()
        .map(|u| {
            let at = u.named_at.rsplit('/').next().unwrap_or("").to_owned();
            (
                u.profile.as_str(),
                u.used_by.as_str(),
                u.account.as_deref(),
                at,
            )
        })
        .collect();
    let master = report.organization.management_account_id.as_str();
    let qa_account = qa.account_id.as_deref().expect("qa's account");
    assert_eq!(
        uses,
        [
            (
                "qa",
                "AWS_PROFILE (the stage's profile)",
                Some(qa_account),
                "stagecraft.toml:12".to_owned()
            ),
            (
                "master",
                "the S3 backend (state in s3://acme-terraform-state)",
                Some(master),
                "main.tf:9".to_owned()
            ),
            (
                "qa",
                "provider \"aws\"",
                Some(qa_account),
                "main.tf:23".to_owned()
            ),
        ]
    );
    // auth's serverless.yml names a profile of its own (`provider.profile: ${self:provider.stage}`).
    let auth: Vec<(&str, &str, &str)> = qa.steps[3]
        .profiles
        .iter()
        .map(|u| {
            let at = u.named_at.rsplit("services/").next().unwrap_or("");
            let at = at
                .rsplit('/')
                .next()
                .filter(|_| !at.contains("serverless"))
                .unwrap_or(at);
            (u.profile.as_str(), u.used_by.as_str(), at)
        })
        .collect();
    assert_eq!(
        auth,
        [
            (
                "qa",
                "AWS_PROFILE (the stage's profile)",
                "stagecraft.toml:12"
            ),
            (
                "qa",
                "the Serverless CLI (provider.profile)",
                "auth/serverless.yml:17"
            )
        ]
    );
    // Terraform before 1.4 has no `-or-create`: select, and `new` when that fails.
    let old = stagecraft_ops::deploy::Tools {
        terraform: Some(stagecraft_ops::deploy::tools::Terraform {
            version: Some((1, 0, 3)),
            ..Default::default()
        }),
    };
    let qa_old = stagecraft_ops::deploy::plan(&ws, &report, "qa", &old).expect("plan");
    assert_eq!(qa_old.steps[1].command[1..], ["workspace", "select", "qa"]);
    assert_eq!(
        qa_old.steps[1].fallback.as_ref().map(|f| &f[1..]),
        Some(&["workspace".to_owned(), "new".to_owned(), "qa".to_owned()][..])
    );
    // The sandbox names its pinned Serverless install when there is one.
    assert!(qa.steps[3].command[0].ends_with("serverless"));
    assert_eq!(qa.steps[3].command[1..], ["deploy", "--stage", "qa"]);
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
    assert_eq!(qa.steps[6].reason, "depends on no other service");

    // prod has no base path mapping: Terraform runs again after the services.
    let prod =
        stagecraft_ops::deploy::plan(&ws, &report, "prod", &Default::default()).expect("plan");
    assert!(prod.protected);
    let last = prod.steps.last().expect("steps");
    assert_eq!(last.phase, stagecraft_ops::deploy::Phase::PostDeploy);
    assert_eq!(
        last.reason,
        "the base path mapping needs API stage `prod`, created by phase 2's first deploy (it is not mapped yet)"
    );

    let err =
        stagecraft_ops::deploy::plan(&ws, &report, "staging", &Default::default()).unwrap_err();
    assert_eq!(err.code(), stagecraft_model::ErrorCode::InvalidInput);

    // The config can set the order and the post-deploy step.
    let mut custom = ws.clone();
    custom.config.deploy.order = vec![
        "reports".into(),
        "orders".into(),
        "users".into(),
        "auth".into(),
    ];
    custom.config.deploy.post_deploy = "always".into();
    let p =
        stagecraft_ops::deploy::plan(&custom, &report, "qa", &Default::default()).expect("plan");
    let titles: Vec<&str> = p.steps.iter().skip(3).map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "deploy reports",
            "deploy orders",
            "deploy users",
            "deploy auth",
            "terraform apply, post-deploy (qa)"
        ]
    );
    custom.config.deploy.order = vec!["billing".into()];
    let err =
        stagecraft_ops::deploy::plan(&custom, &report, "qa", &Default::default()).unwrap_err();
    assert!(err.to_string().contains("`billing`"), "{err}");
}

/// The sandbox's workspace with Terraform run through the recording stand-in and no services (the
/// Serverless part runs the real CLI, tested on its own).
/// The deploy's tools sign with this machine's clock and may not correct it as Stagecraft's SDK
/// does: a clock 10 minutes off AWS's stops the preflight, saying by how much and what to do.
#[tokio::test(flavor = "multi_thread")]
async fn the_preflight_stops_a_deploy_when_the_clock_is_off() {
    use stagecraft_sandbox::proxy::{Faults, Proxy, ProxyOptions};
    let sb = &harness::demo().sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    let tools = stagecraft_ops::deploy::Tools::detect(&ws).await;
    let plan = stagecraft_ops::deploy::plan(&ws, &report, "qa", &tools).expect("plan");
    let dir = tempfile::tempdir().expect("tempdir");
    let clock_item = |items: Vec<stagecraft_model::deploy::PreflightItem>| {
        items
            .into_iter()
            .find(|i| i.check.contains("clock"))
            .expect("a clock check")
    };

    let agrees = clock_item(
        stagecraft_ops::deploy::preflight(&sb.aws_env(), &plan, &report, dir.path(), &tools).await,
    );
    assert!(agrees.ok, "{agrees:?}");

    let proxy = Proxy::start(
        &sb.endpoint,
        ProxyOptions {
            faults: Faults {
                clock_ahead: Some(-600),
                ..Faults::default()
            },
            ..ProxyOptions::default()
        },
    )
    .await
    .expect("proxy");
    let skewed = sb
        .aws_env_through(&proxy.endpoint, &dir.path().join("aws-config"))
        .expect("aws config");
    let off = clock_item(
        stagecraft_ops::deploy::preflight(&skewed, &plan, &report, dir.path(), &tools).await,
    );
    assert!(!off.ok, "{off:?}");
    assert!(
        off.detail.contains("10 min ahead of AWS's") && off.detail.contains("Terraform"),
        "{}",
        off.detail
    );
    assert!(off
        .fix
        .as_deref()
        .unwrap_or_default()
        .contains("timedatectl"));
}

fn terraform_only(sb: &stagecraft_sandbox::Sandbox) -> Workspace {
    let mut ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    if let Some(t) = ws.config.terraform.as_mut() {
        t.binary = harness::terraform_stand_in().display().to_string();
    }
    ws.config.serverless = None;
    ws
}

#[tokio::test]
async fn a_deploy_runs_stops_on_failure_resumes_and_refuses_what_is_unsafe() {
    use stagecraft_ops::deploy::{execute, DeployOptions};
    use tokio::sync::watch;

    // It restores the planted secret: an organization of its own.
    let running = harness::start(stagecraft_sandbox::SeedSpec::default());
    let sb = &running.sandbox;
    let ws = terraform_only(sb);
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    let dir = tempfile::tempdir().expect("tempdir");
    // qa's planted pending secret is a name the Terraform code creates: the preflight refuses.
    let (_tx0, rx0) = tokio::sync::watch::channel(false);
    let err = execute(
        &sb.aws_env(),
        &ws,
        &report,
        "qa",
        &dir.path().join("stagecraft.db"),
        DeployOptions::default(),
        rx0,
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("terraform apply in qa will fail: secret `legacy_api_key`"),
        "{err}"
    );
    // Restore it, and the stage is clear.
    let secret = stagecraft_analysis::deletion::pending(&report, &[])
        .into_iter()
        .find(|p| p.name == "legacy_api_key")
        .expect("pending secret");
    let restored = stagecraft_ops::undo::perform(
        &sb.aws_env(),
        &ws,
        &report,
        &stagecraft_ops::undo::ActionRequest {
            action: "restore_secret".into(),
            resource_id: secret.id,
            typed_stage: None,
        },
    )
    .await
    .expect("restore");
    assert_eq!(restored.outcome.as_str(), "done");
    let report = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    let store = dir.path().join("stagecraft.db");
    let record = dir.path().join("terraform-calls");
    let base_env = vec![(
        "TERRAFORM_STAND_IN_RECORD".to_owned(),
        record.display().to_string(),
    )];
    let (_tx, rx) = watch::channel(false);
    let lines = std::sync::Mutex::new(Vec::new());
    let on = |e: stagecraft_ops::deploy::run::RunEvent| {
        if let stagecraft_ops::deploy::run::RunEvent::Line { text, .. } = e {
            lines.lock().expect("lock").push(text);
        }
    };

    // The apply fails: the run stops there.
    let mut env = base_env.clone();
    env.push(("TERRAFORM_STAND_IN_FAIL".into(), "apply".into()));
    let opts = DeployOptions {
        env,
        ..DeployOptions::default()
    };
    let run = execute(
        &sb.aws_env(),
        &ws,
        &report,
        "qa",
        &store,
        opts,
        rx.clone(),
        &on,
    )
    .await
    .expect("run");
    assert_eq!(run.outcome.as_str(), "failed");
    let steps: Vec<(&str, &str)> = run
        .steps
        .iter()
        .map(|s| (s.title.as_str(), s.outcome.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("terraform init (qa)", "succeeded"),
            ("select workspace (qa)", "succeeded"),
            ("terraform apply (qa)", "failed")
        ]
    );
    assert!(run.steps[2].log.contains("the stand-in was told to fail"));
    assert_eq!(
        harness::stand_in_calls(&record),
        [
            "infra|qa|init -input=false -backend-config=force_path_style=true",
            "infra|qa|resolved master for backend",
            "infra|qa|workspace select -or-create qa",
            "infra|qa|apply -input=false -auto-approve"
        ],
        "the stand-in saw the directory, the stage's profile, the arguments, and resolved the backend's profile from the files it was given"
    );
    assert!(lines
        .lock()
        .expect("lock")
        .iter()
        .any(|l| l.contains("Switched to workspace \"qa\"")));

    // Retry from the failed step: only the apply runs again.
    std::fs::remove_file(&record).expect("reset record");
    let retry = DeployOptions {
        from_step: 2,
        env: base_env.clone(),
        ..DeployOptions::default()
    };
    let run = execute(
        &sb.aws_env(),
        &ws,
        &report,
        "qa",
        &store,
        retry,
        rx.clone(),
        &on,
    )
    .await
    .expect("retry");
    assert_eq!(run.outcome.as_str(), "succeeded");
    assert_eq!(
        harness::stand_in_calls(&record),
        [
            "infra|qa|apply -input=false -auto-approve",
            "infra|qa|resolved master for backend",
            "infra|qa|resolved qa for provider[\"registry.terraform.io/hashicorp/aws\"]"
        ]
    );
    let history = stagecraft_store::Store::open(&store)
        .expect("store")
        .runs(Some("qa"))
        .expect("runs");
    assert_eq!(
        history
            .iter()
            .map(|r| r.outcome.as_str())
            .collect::<Vec<_>>(),
        ["succeeded", "failed"]
    );

    // A protected stage needs its name typed.
    let err = execute(
        &sb.aws_env(),
        &ws,
        &report,
        "prod",
        &store,
        DeployOptions::default(),
        rx.clone(),
        &on,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("prod is a protected stage"),
        "{err}"
    );

    // A profile that acts in another account blocks the run before anything runs.
    std::fs::remove_file(&record).expect("reset record");
    let mut wrong = ws.clone();
    wrong.config.stages.entry("qa".into()).or_default().profile = Some("dev".into());
    let err = execute(
        &sb.aws_env(),
        &wrong,
        &report,
        "qa",
        &store,
        DeployOptions {
            env: base_env.clone(),
            ..DeployOptions::default()
        },
        rx.clone(),
        &on,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("profile `dev` acts in account"),
        "{err}"
    );
    assert!(harness::stand_in_calls(&record).is_empty(), "nothing ran");

    // A second run on a stage that is being deployed is refused.
    let held = stagecraft_ops::deploy::lock::acquire(dir.path(), "qa", 99, "now").expect("lock");
    let err = execute(
        &sb.aws_env(),
        &ws,
        &report,
        "qa",
        &store,
        DeployOptions {
            env: base_env.clone(),
            ..DeployOptions::default()
        },
        rx.clone(),
        &on,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("run #99"), "{err}");
    drop(held);

    // A run left `running` by a crash is marked interrupted when the stage is next taken.
    let s = stagecraft_store::Store::open(&store).expect("store");
    let plan = stagecraft_ops::deploy::plan(&ws, &report, "qa", &Default::default()).expect("plan");
    let crashed = s
        .start_run(&plan, "someone", "2026-11-29T00:00:00Z")
        .expect("run");
    std::fs::write(
        stagecraft_ops::deploy::lock::lock_path(dir.path(), "qa"),
        format!(r#"{{"pid": 4194304, "run_id": {crashed}, "started_at": "then"}}"#),
    )
    .expect("stale lock");
    execute(
        &sb.aws_env(),
        &ws,
        &report,
        "qa",
        &store,
        DeployOptions {
            env: base_env,
            ..DeployOptions::default()
        },
        rx,
        &on,
    )
    .await
    .expect("run after a crash");
    let runs = s.runs(Some("qa")).expect("runs");
    let old = runs.iter().find(|r| r.id == crashed).expect("crashed run");
    assert_eq!(old.outcome.as_str(), "interrupted");

    // The stage's sign-in lapses while the first step runs: the run stops at the next step
    // boundary, recorded as interrupted with the reason, and nothing more runs.
    let proxy = stagecraft_sandbox::proxy::Proxy::start(&sb.endpoint, Default::default())
        .await
        .expect("proxy");
    let through = sb
        .aws_env_through(&proxy.endpoint, &dir.path().join("aws-config"))
        .expect("aws config");
    let qa = report
        .accounts
        .iter()
        .find(|a| a.stage.as_deref() == Some("qa"))
        .expect("qa")
        .id
        .clone();
    std::fs::remove_file(&record).ok();
    let (_tx, rx) = watch::channel(false);
    let lapse = |e: stagecraft_ops::deploy::run::RunEvent| {
        if let stagecraft_ops::deploy::run::RunEvent::StepFinished { index: 0, .. } = e {
            proxy.expire(&qa);
        }
    };
    let run = execute(
        &through,
        &ws,
        &report,
        "qa",
        &store,
        DeployOptions {
            env: vec![(
                "TERRAFORM_STAND_IN_RECORD".to_owned(),
                record.display().to_string(),
            )],
            ..DeployOptions::default()
        },
        rx,
        &lapse,
    )
    .await
    .expect("run");
    assert_eq!(run.outcome.as_str(), "interrupted");
    let outcomes: Vec<&str> = run.steps.iter().map(|s| s.outcome.as_str()).collect();
    assert_eq!(outcomes, ["succeeded", "interrupted"]);
    let why = &run.steps[1].log;
    assert!(
        why.contains("sign-in of profile `qa` lapsed")
            && why.contains("aws sso login --profile qa")
            && why.contains("resume the run from this step"),
        "{why}"
    );
    assert_eq!(
        harness::stand_in_calls(&record),
        [
            "infra|qa|init -input=false -backend-config=force_path_style=true",
            "infra|qa|resolved master for backend"
        ],
        "nothing ran after the sign-in lapsed"
    );
    let stored = s.runs(Some("qa")).expect("runs");
    assert_eq!(
        stored
            .iter()
            .find(|r| r.id == run.id)
            .map(|r| r.outcome.as_str()),
        Some("interrupted")
    );
}
