// Scans of the sandbox organization through the real AWS SDK, against moto over HTTP.

use stagecraft_sandbox::harness;

use std::collections::BTreeMap;

use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, ScanEvent, ScanOptions};
use stagecraft_iac::config::{Workspace, WorkspaceConfig};
use stagecraft_model::{Access, AccountStatus, ScanReport, StageSource};

fn opts() -> ScanOptions {
    ScanOptions {
        profile: Some("master".into()),
        ..ScanOptions::default()
    }
}

async fn run(env: &AwsEnv, ws: &Workspace) -> ScanReport {
    scan::scan(env, ws, &opts(), &|_| {}).await.expect("scan")
}

/// Parameters each stage's Terraform state says it wrote: what the SSM count must equal.
fn seeded_parameters(stage: &str) -> u64 {
    let seeded = &harness::demo().sandbox.seeded;
    seeded.terraform[stage]
        .iter()
        .filter(|a| a.contains("aws_ssm_parameter."))
        .count() as u64
}

#[tokio::test]
async fn every_account_appears_with_its_configured_stage_and_a_verified_identity() {
    let sb = &harness::demo().sandbox;
    let ws =
        Workspace::load(&sb.workspace_file()).expect("workspace config written by the sandbox");
    let report = run(&sb.aws_env(), &ws).await;

    assert_eq!(report.organization.id, sb.seeded.organization_id);
    assert_eq!(report.organization.management_account_id, "123456789012");
    assert_eq!(report.accounts.len(), 4, "{report:#?}");
    let mgmt = &report.accounts[0];
    assert!(mgmt.is_management);
    assert_eq!(
        (mgmt.stage.as_deref(), mgmt.stage_source),
        (None, StageSource::Management)
    );
    assert!(mgmt.ou_path.is_empty());

    for seeded in &sb.seeded.accounts {
        let a = report
            .accounts
            .iter()
            .find(|a| a.id == seeded.id)
            .unwrap_or_else(|| panic!("account {} missing", seeded.id));
        assert_eq!(a.status, AccountStatus::Ok, "{a:#?}");
        assert_eq!(a.stage.as_deref(), Some(seeded.stage.as_str()));
        assert_eq!(a.stage_source, StageSource::Config);
        assert_eq!(a.ou_path, vec!["environments".to_owned()]);
        assert_eq!(
            a.access,
            Some(Access::Profile {
                profile: seeded.stage.clone()
            })
        );
        let id = a.identity.as_ref().expect("identity");
        assert_eq!(id.account, seeded.id);
        assert!(
            id.arn.contains("OrganizationAccountAccessRole"),
            "{}",
            id.arn
        );
        let parameters = report
            .resources
            .iter()
            .filter(|r| r.account_id == a.id && r.type_name == "AWS::SSM::Parameter")
            .count() as u64;
        assert_eq!(
            parameters,
            seeded_parameters(&seeded.stage),
            "{}",
            seeded.stage
        );
        assert_eq!(
            a.counts["resources"],
            report
                .resources
                .iter()
                .filter(|r| r.account_id == a.id)
                .count() as u64
        );
    }
}

#[tokio::test]
async fn without_a_workspace_config_stages_come_from_account_tags() {
    let sb = &harness::demo().sandbox;
    let report = run(&sb.aws_env(), &Workspace::default()).await;
    let stages: BTreeMap<_, _> = report
        .accounts
        .iter()
        .map(|a| (a.name.clone(), (a.stage.clone(), a.stage_source)))
        .collect();
    assert_eq!(stages["acme-qa"], (Some("qa".into()), StageSource::Tag));
    assert_eq!(stages["acme-prod"], (Some("prod".into()), StageSource::Tag));
    assert!(report
        .accounts
        .iter()
        .all(|a| a.status == AccountStatus::Ok));
}

#[tokio::test]
async fn member_accounts_without_a_profile_are_reached_by_assuming_the_org_role() {
    let sb = &harness::demo().sandbox;
    // Only the management profile: every member must be reached through sts:AssumeRole.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        stagecraft_sandbox::aws_config_text(&sb.endpoint, &sb.region, &[]),
    )
    .expect("write");
    let report = run(&AwsEnv::with_config_file(&config), &Workspace::default()).await;
    for a in report.accounts.iter().filter(|a| !a.is_management) {
        assert_eq!(a.status, AccountStatus::Ok, "{a:#?}");
        assert!(
            matches!(&a.access, Some(Access::AssumeRole { role_arn, .. })
            if role_arn == &format!("arn:aws:iam::{}:role/OrganizationAccountAccessRole", a.id))
        );
        assert_eq!(
            a.identity.as_ref().map(|i| i.account.as_str()),
            Some(a.id.as_str())
        );
    }
}

#[tokio::test]
async fn a_profile_that_resolves_to_another_account_is_refused_on_that_account_only() {
    let sb = &harness::demo().sandbox;
    let id = |stage: &str| {
        sb.seeded
            .accounts
            .iter()
            .find(|a| a.stage == stage)
            .map(|a| a.id.clone())
            .expect("stage")
    };
    let text = format!(
        "[stages.dev]\naccount = \"{}\"\n[stages.qa]\naccount = \"{}\"\nprofile = \"dev\"\n[stages.prod]\naccount = \"{}\"\n",
        id("dev"),
        id("qa"),
        id("prod")
    );
    let ws = Workspace {
        config: WorkspaceConfig::parse(&text).expect("config"),
        path: None,
    };
    let events = std::sync::Mutex::new(Vec::new());
    let report = scan::scan(&sb.aws_env(), &ws, &opts(), &|e| {
        events.lock().expect("lock").push(e)
    })
    .await
    .expect("scan");
    let qa = report
        .accounts
        .iter()
        .find(|a| a.id == id("qa"))
        .expect("qa");
    assert_eq!(qa.status, AccountStatus::Error);
    let err = qa.error.as_ref().expect("error");
    assert_eq!(err.code, stagecraft_model::ErrorCode::IdentityMismatch);
    assert!(
        err.message.contains(&id("dev")) && err.message.contains("profile `dev`"),
        "{}",
        err.message
    );
    assert!(
        qa.counts.is_empty(),
        "nothing may be collected with the wrong credentials"
    );
    for stage in ["dev", "prod"] {
        let a = report
            .accounts
            .iter()
            .find(|a| a.id == id(stage))
            .expect("account");
        assert_eq!(a.status, AccountStatus::Ok, "{stage}");
    }
    // Progress: discovered once, then every account finishes exactly once.
    let events = events.into_inner().expect("lock");
    assert!(matches!(events.first(), Some(ScanEvent::Started { .. })));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ScanEvent::Discovered { .. }))
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ScanEvent::AccountFinished { .. }))
            .count(),
        4
    );
    assert!(matches!(events.last(), Some(ScanEvent::Finished { .. })));
}

#[tokio::test]
async fn an_unknown_management_profile_is_a_clear_error() {
    let sb = &harness::demo().sandbox;
    let opts = ScanOptions {
        profile: Some("nope".into()),
        ..ScanOptions::default()
    };
    let err = scan::scan(&sb.aws_env(), &Workspace::default(), &opts, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), stagecraft_model::ErrorCode::ProfileMissing);
    assert!(
        err.to_string().contains("`nope`") && err.to_string().contains("aws-config"),
        "{err}"
    );
}

#[tokio::test]
async fn a_member_profile_is_not_a_management_profile() {
    let sb = &harness::demo().sandbox;
    let opts = ScanOptions {
        profile: Some("qa".into()),
        ..ScanOptions::default()
    };
    let err = scan::scan(&sb.aws_env(), &Workspace::default(), &opts, &|_| {})
        .await
        .unwrap_err();
    // Members may describe their organization; they still must not pass for its management account.
    assert_eq!(
        err.code(),
        stagecraft_model::ErrorCode::NotManagement,
        "{err}"
    );
    assert!(err.to_string().contains("123456789012"), "{err}");
}

#[tokio::test]
async fn rescanning_one_account_refreshes_it_and_keeps_the_others_as_they_were() {
    // It adds parameters: the scratch organization, so no test counting the demo's sees them.
    let (_turn, running) = harness::scratch().await;
    let sb = &running.sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let first = scan::scan(&sb.aws_env(), &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    let id_of = |stage: &str| {
        sb.seeded
            .accounts
            .iter()
            .find(|a| a.stage == stage)
            .map(|a| a.id.clone())
            .expect("account")
    };
    let (dev, qa) = (id_of("dev"), id_of("qa"));
    // Something changes in both accounts after the first scan.
    let name = format!("/stagecraft-test/rescan-{}", std::process::id());
    for stage in ["dev", "qa"] {
        let cfg = sb.aws_env().sdk_config(stage, None).await;
        aws_sdk_ssm::Client::new(&cfg)
            .put_parameter()
            .name(&name)
            .value("new")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .expect("put parameter");
    }
    let finished = std::sync::Mutex::new(Vec::new());
    let opts = ScanOptions {
        rescan: Some(scan::Rescan {
            account_id: dev.clone(),
            previous: std::sync::Arc::new(first.clone()),
        }),
        ..ScanOptions::default()
    };
    let second = scan::scan(&sb.aws_env(), &ws, &opts, &|e| {
        if let ScanEvent::AccountFinished { account } = e {
            finished.lock().expect("lock").push(account.id.clone());
        }
    })
    .await
    .expect("rescan");
    for stage in ["dev", "qa"] {
        let cfg = sb.aws_env().sdk_config(stage, None).await;
        let _ = aws_sdk_ssm::Client::new(&cfg)
            .delete_parameter()
            .name(&name)
            .send()
            .await;
    }
    let has = |r: &ScanReport, account: &str| {
        r.resources
            .iter()
            .any(|x| x.account_id == account && x.name == name)
    };
    assert!(has(&second, &dev), "the rescanned account shows the change");
    assert!(
        !has(&second, &qa),
        "the other accounts keep the snapshot's view"
    );
    let ids = |r: &ScanReport, account: &str| {
        let mut v: Vec<String> = r
            .resources
            .iter()
            .filter(|x| x.account_id == account)
            .map(|x| format!("{} {}", x.id, x.owner.kind()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&second, &qa), ids(&first, &qa));
    assert_eq!(second.accounts.len(), first.accounts.len());
    assert_eq!(finished.lock().expect("lock").len(), first.accounts.len());

    // An account the organization does not have is refused.
    let opts = ScanOptions {
        rescan: Some(scan::Rescan {
            account_id: "999999999999".into(),
            previous: std::sync::Arc::new(first),
        }),
        ..ScanOptions::default()
    };
    let err = scan::scan(&sb.aws_env(), &ws, &opts, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), stagecraft_model::ErrorCode::InvalidInput);
}

/// A sink that takes accounts until its third, which it refuses.
struct Refusing {
    /// Each taken account's resources: the accounts they are in, and how many.
    taken: Vec<(std::collections::BTreeSet<String>, usize)>,
}

impl scan::Sink for Refusing {
    type Ready = Vec<stagecraft_model::Resource>;
    fn ready(
        resources: Vec<stagecraft_model::Resource>,
        _: Vec<stagecraft_model::StackFacts>,
    ) -> Result<Self::Ready, stagecraft_model::Error> {
        Ok(resources)
    }
    fn account(&mut self, ready: Self::Ready) -> Result<(), stagecraft_model::Error> {
        if self.taken.len() == 2 {
            return Err(stagecraft_model::Error::Input("the disk is full".into()));
        }
        let accounts = ready.iter().map(|r| r.account_id.clone()).collect();
        self.taken.push((accounts, ready.len()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_that_fails_part_way_stops_the_owners_being_decided_and_says_why() {
    let sb = &harness::demo().sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace config");
    let decided = scan::decide(&sb.aws_env(), &ws, &opts(), &|_| {})
        .await
        .expect("scan");
    let mut refusing = Refusing { taken: Vec::new() };
    let err = decided
        .finish(&mut refusing)
        .expect_err("the sink refused an account");
    assert!(err.to_string().contains("the disk is full"), "{err}");
    // Accounts go to the sink in the report's order, each whole, from the thread deciding owners.
    let all = run(&sb.aws_env(), &ws).await;
    let first_two: Vec<_> = all
        .accounts
        .iter()
        .take(2)
        .map(|a| {
            let n = all
                .resources
                .iter()
                .filter(|r| r.account_id == a.id)
                .count();
            let accounts = (n > 0).then(|| a.id.clone()).into_iter().collect();
            (accounts, n)
        })
        .collect();
    assert!(first_two.iter().any(|(_, n)| *n > 0), "{first_two:?}");
    assert_eq!(refusing.taken, first_two);
}

/// A scan holds a small organization in memory as it goes and sets a large one aside on disk:
/// the two ways decide the same owners, links and counts.
#[tokio::test]
async fn an_organization_set_aside_on_disk_is_decided_as_one_held_in_memory() {
    let sb = &harness::demo().sandbox;
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace config");
    let scan_holding = |held_resources| {
        let opts = ScanOptions {
            hasher: Some(stagecraft_aws::collect::ValueHasher::new([3; 32])),
            held_resources,
            ..opts()
        };
        let env = sb.aws_env();
        let ws = ws.clone();
        async move { scan::scan(&env, &ws, &opts, &|_| {}).await.expect("scan") }
    };
    let held = scan_holding(None).await;
    let on_disk = scan_holding(Some(0)).await;
    assert!(held.resources.len() > 100, "{}", held.resources.len());
    assert!(held
        .resources
        .iter()
        .any(|r| matches!(r.owner, stagecraft_model::Owner::Terraform(_))));
    assert_eq!(on_disk.resources, held.resources);
    assert_eq!(on_disk.stacks, held.stacks);
    let counts = |r: &ScanReport| -> Vec<_> {
        r.accounts
            .iter()
            .map(|a| (a.id.clone(), a.counts.clone()))
            .collect()
    };
    assert_eq!(counts(&on_disk), counts(&held));
}
