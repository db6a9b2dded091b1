// Who changed what, with which tool: the scan reads each account's CloudTrail event history (the
// sandbox's proxy records every write it forwards and answers `LookupEvents` as CloudTrail does).

use stagecraft_sandbox::harness;

use aws_types::app_name::AppName;
use stagecraft_analysis::{audit, deletion, graph};
use stagecraft_aws::collect::ValueHasher;
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::change::Tool;
use stagecraft_model::{Owner, ScanReport};
use stagecraft_sandbox::proxy::{Faults, Proxy, ProxyOptions};

async fn scan_of(env: &AwsEnv, ws: &Workspace, last: Option<ScanReport>) -> ScanReport {
    let opts = ScanOptions {
        hasher: Some(ValueHasher::new([7; 32])),
        last: last.map(std::sync::Arc::new),
        ..ScanOptions::default()
    };
    scan::scan(env, ws, &opts, &|_| {}).await.expect("scan")
}

/// The `dev` profile's SDK config, as a client whose user agent ends in `app/<app>`.
async fn as_app(env: &AwsEnv, app: &str) -> aws_config::SdkConfig {
    let config = env.sdk_config("dev", None).await;
    config
        .into_builder()
        .app_name(AppName::new(app.to_owned()).expect("app name"))
        .build()
}

/// Writes a parameter's value again, unchanged: only who wrote it last changes.
async fn write_again(config: &aws_config::SdkConfig, name: &str, value: &str) {
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name(name)
        .value(value)
        .overwrite(true)
        .send()
        .await
        .expect("PutParameter");
}

fn terraform_owned<'a>(
    report: &'a ScanReport,
    type_name: &str,
    stage: &str,
) -> &'a stagecraft_model::Resource {
    report
        .resources
        .iter()
        .find(|r| {
            r.type_name == type_name
                && r.stage.as_deref() == Some(stage)
                && matches!(r.owner, Owner::Terraform(_))
                && !r.attributes.contains_key("deleted_date")
                && r.attr_str("type") != Some("SecureString")
        })
        .unwrap_or_else(|| panic!("no Terraform-owned {type_name} in {stage}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_change_and_a_deletion_are_seen_with_who_when_and_the_exact_deadline() {
    let (_turn, running) = harness::scratch().await;
    let sb = &running.sandbox;
    let env = sb.aws_env();
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let before = scan_of(&env, &ws, None).await;
    let dev = before
        .accounts
        .iter()
        .find(|a| a.stage.as_deref() == Some("dev"))
        .expect("dev")
        .id
        .clone();
    assert!(
        before
            .feed
            .iter()
            .any(|f| f.account_id == dev && f.error.is_none()),
        "the dev account's history was read: {:?}",
        before.feed
    );
    let parameter = terraform_owned(&before, "AWS::SSM::Parameter", "dev").clone();
    let secret = terraform_owned(&before, "AWS::SecretsManager::Secret", "dev").clone();

    // In the console: the parameter written again (same value), the secret deleted with a 12-day
    // recovery window.
    let console = as_app(&env, "console.amazonaws.com").await;
    let ssm = aws_sdk_ssm::Client::new(&console);
    let value = ssm
        .get_parameter()
        .name(&parameter.name)
        .send()
        .await
        .expect("GetParameter")
        .parameter
        .and_then(|p| p.value)
        .expect("a value");
    let t0 = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("time");
    write_again(&console, &parameter.name, &value).await;
    let sm = aws_sdk_secretsmanager::Client::new(&console);
    sm.delete_secret()
        .secret_id(&secret.name)
        .recovery_window_in_days(12)
        .send()
        .await
        .expect("DeleteSecret");
    let t1 = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);

    let after = scan_of(&env, &ws, Some(before.clone())).await;
    let changed = after
        .resources
        .iter()
        .find(|r| r.id == parameter.id)
        .expect("the parameter");
    let last = changed
        .changed
        .as_ref()
        .and_then(|p| p.last_change.as_ref())
        .unwrap_or_else(|| {
            panic!(
                "the change of {} ({}) is not known; changes: {:#?}",
                parameter.id, parameter.region, after.changes
            )
        });
    assert_eq!(last.tool, Tool::Console, "{last:?}");
    assert_eq!(last.action, "PutParameter");
    assert!(
        last.who.contains("OrganizationAccountAccessRole"),
        "who: {}",
        last.who
    );
    let graph = graph::Graph::build(&after);
    let findings = audit::audit(&after, &graph);
    let finding = findings
        .iter()
        .find(|f| f.rule == "changed-outside-owner" && f.resources.contains(&parameter.id))
        .unwrap_or_else(|| panic!("no changed-outside-owner finding: {findings:#?}"));
    assert!(
        finding.message.contains("the AWS console"),
        "{}",
        finding.message
    );
    assert!(finding.message.contains("Terraform"), "{}", finding.message);

    let pending = deletion::pending(&after, &[]);
    let deleted = pending
        .iter()
        .find(|p| p.id == secret.id)
        .expect("the secret is pending deletion");
    let deadline = time::OffsetDateTime::parse(
        deleted.deletion_date.as_deref().expect("a deadline"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    let twelve = time::Duration::days(12);
    assert!(
        deadline >= t0 + twelve && deadline <= t1 + twelve,
        "deadline {deadline} is 12 days after the call ({t0}…{t1})"
    );
    assert!(deleted.date_certain);
    assert!(
        deleted
            .scheduled_by
            .as_deref()
            .is_some_and(|s| s.contains("the AWS console")),
        "{:?}",
        deleted.scheduled_by
    );
    // The second scan read on from the first: the history is held once, and reaches back as far.
    let ids: std::collections::HashSet<&str> =
        after.changes.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), after.changes.len(), "each change once");
    let first = before
        .feed
        .iter()
        .find(|f| f.account_id == dev)
        .expect("read");
    let second = after
        .feed
        .iter()
        .find(|f| f.account_id == dev && f.region == first.region)
        .expect("read");
    assert_eq!(second.since, first.since);

    // Put back, as Terraform would.
    let terraform = as_app(&env, "Terraform").await;
    aws_sdk_secretsmanager::Client::new(&terraform)
        .restore_secret()
        .secret_id(&secret.name)
        .send()
        .await
        .expect("RestoreSecret");
    write_again(&terraform, &parameter.name, &value).await;
    let restored = scan_of(&env, &ws, Some(after)).await;
    let graph = graph::Graph::build(&restored);
    assert!(
        !audit::audit(&restored, &graph)
            .iter()
            .any(|f| f.rule == "changed-outside-owner" && f.resources.contains(&parameter.id)),
        "Terraform's own change clears the finding"
    );
    assert!(!deletion::pending(&restored, &[])
        .iter()
        .any(|p| p.id == secret.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_permission_to_read_the_history_the_scan_says_so_and_goes_on() {
    let sb = &harness::demo().sandbox;
    let proxy = Proxy::start(
        &sb.endpoint,
        ProxyOptions {
            faults: Faults {
                denied: ["cloudtrail:LookupEvents".to_owned()].into_iter().collect(),
                ..Faults::default()
            },
            ..ProxyOptions::default()
        },
    )
    .await
    .expect("proxy");
    let dir = tempfile::tempdir().expect("tempdir");
    let env = sb
        .aws_env_through(&proxy.endpoint, &dir.path().join("aws-config"))
        .expect("aws config");
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let report = scan_of(&env, &ws, None).await;
    assert!(
        report
            .accounts
            .iter()
            .all(|a| a.status == stagecraft_model::AccountStatus::Ok),
        "the resources are still read"
    );
    assert!(!report.feed.is_empty());
    for read in &report.feed {
        let error = read.error.as_ref().expect("each read says it failed");
        assert_eq!(error.code, stagecraft_model::ErrorCode::AccessDenied);
        assert!(
            error.message.contains("cloudtrail:LookupEvents"),
            "{}",
            error.message
        );
    }
    assert!(report.changes.is_empty());
    assert!(
        report
            .coverage
            .skipped
            .iter()
            .any(|s| s.starts_with("CloudTrail history not read") && s.contains("not known")),
        "the coverage says what was not seen: {:?}",
        report.coverage.skipped
    );
}
