// The incremental refresh: after a change, only the collectors of what changed are read again,
// and the patched snapshot is the picture a full scan would give.

use std::collections::BTreeMap;

use aws_types::app_name::AppName;
use stagecraft_analysis::{audit, deletion, graph};
use stagecraft_aws::collect::ValueHasher;
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, Refresh, Refresher, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::change::Tool;
use stagecraft_model::{Collector, Owner, ScanReport};
use stagecraft_sandbox::harness;

/// The scratch organization (held until the test ends), scanned, with a refresher for it.
async fn scanned_scratch() -> (
    tokio::sync::MutexGuard<'static, ()>,
    AwsEnv,
    Workspace,
    ScanReport,
    Refresher,
) {
    let (turn, running) = harness::scratch().await;
    let sb = &running.sandbox;
    let env = sb.aws_env();
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    // Event times are whole seconds: a scan in the second of an earlier test's last change
    // would (rightly) read that change's collectors again at the next pass.
    let into = u64::from(time::OffsetDateTime::now_utc().nanosecond());
    tokio::time::sleep(std::time::Duration::from_nanos(
        1_000_000_000 - into + 10_000_000,
    ))
    .await;
    let before = scan::scan(&env, &ws, &options(), &|_| {})
        .await
        .expect("scan");
    let refresher = Refresher::new(&env, &ws, &options())
        .await
        .expect("refresher");
    (turn, env, ws, before, refresher)
}

fn options() -> ScanOptions {
    ScanOptions {
        hasher: Some(ValueHasher::new([7; 32])),
        ..ScanOptions::default()
    }
}

async fn full_scan(env: &AwsEnv, ws: &Workspace, last: &ScanReport) -> ScanReport {
    full_scan_with(env, ws, &options(), last).await
}

async fn as_app(env: &AwsEnv, app: &str) -> aws_config::SdkConfig {
    env.sdk_config("dev", None)
        .await
        .into_builder()
        .app_name(AppName::new(app.to_owned()).expect("app name"))
        .build()
}

/// What a user compares between two pictures: each resource with its owner, attributes and tags.
fn picture(r: &ScanReport) -> BTreeMap<String, String> {
    r.resources
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                format!(
                    "{} {} {:?} {:?} {:?}",
                    r.owner.kind(),
                    r.stage.as_deref().unwrap_or("-"),
                    r.attributes,
                    r.tags,
                    r.changed
                        .as_ref()
                        .and_then(|c| c.last_change.as_ref())
                        .map(|c| &c.id)
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_change_is_read_again_alone_and_gives_the_picture_a_full_scan_gives() {
    let (_turn, env, ws, before, refresher) = scanned_scratch().await;

    // Nothing changed: nothing is read again.
    let Refresh::Patched(quiet) = refresher.refresh(&before).await.expect("refresh") else {
        panic!("a refresh right after a scan needs no full scan")
    };
    assert!(quiet.reread.is_empty(), "{:?}", quiet.reread);
    assert!(quiet.new_changes.is_empty(), "{:?}", quiet.new_changes);
    assert!(quiet.unread.is_empty(), "{:?}", quiet.unread);
    assert_eq!(picture(&quiet.report), picture(&before));

    // In the console: a Serverless-owned function's handler changed, a secret deleted with a
    // 12-day window.
    let function = before
        .resources
        .iter()
        .find(|r| {
            r.type_name == "AWS::Lambda::Function"
                && r.stage.as_deref() == Some("dev")
                && matches!(r.owner, Owner::Serverless(_))
        })
        .expect("a Serverless function in dev")
        .clone();
    let secret = before
        .resources
        .iter()
        .find(|r| {
            r.type_name == "AWS::SecretsManager::Secret"
                && r.stage.as_deref() == Some("dev")
                && matches!(r.owner, Owner::Terraform(_))
                && !r.attributes.contains_key("deleted_date")
        })
        .expect("a Terraform secret in dev")
        .clone();
    let console = as_app(&env, "console.amazonaws.com").await;
    aws_sdk_lambda::Client::new(&console)
        .update_function_configuration()
        .function_name(&function.name)
        .handler("edited.in_console")
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    aws_sdk_secretsmanager::Client::new(&console)
        .delete_secret()
        .secret_id(&secret.name)
        .recovery_window_in_days(12)
        .send()
        .await
        .expect("DeleteSecret");

    let Refresh::Patched(refreshed) = refresher.refresh(&before).await.expect("refresh") else {
        panic!("a console change needs no full scan")
    };
    let mut read: Vec<(String, &str)> = refreshed
        .reread
        .iter()
        .map(|r| (r.account_id.clone(), r.collector.name()))
        .collect();
    read.dedup();
    let dev = &function.account_id;
    assert_eq!(
        read,
        [
            (dev.clone(), Collector::Lambda.name()),
            (dev.clone(), Collector::Secretsmanager.name()),
            (dev.clone(), Collector::Tags.name()),
        ],
        "only the dev account's Lambda, Secrets Manager and tags are read again"
    );
    assert_eq!(
        refreshed.new_changes.len(),
        2,
        "{:?}",
        refreshed.new_changes
    );
    let after = &refreshed.report;
    let changed = after
        .resources
        .iter()
        .find(|r| r.id == function.id)
        .expect("the function");
    assert_eq!(changed.attr_str("handler"), Some("edited.in_console"));
    assert!(
        matches!(changed.owner, Owner::Serverless(_)),
        "still its stack's"
    );
    let last = changed
        .changed
        .as_ref()
        .and_then(|c| c.last_change.as_ref())
        .expect("its change is known");
    assert_eq!(last.tool, Tool::Console);
    let graph = graph::Graph::build(after);
    assert!(
        audit::audit(after, &graph)
            .iter()
            .any(|f| f.rule == "changed-outside-owner" && f.resources.contains(&function.id)),
        "the finding appears"
    );
    let pending = deletion::pending(after, &[]);
    let deleted = pending
        .iter()
        .find(|p| p.id == secret.id)
        .expect("the secret is pending deletion");
    assert!(deleted.date_certain);

    // The same picture as a full scan read on from the same snapshot.
    let full = full_scan(&env, &ws, &before).await;
    let (patched, scanned) = (picture(after), picture(&full));
    let differ: Vec<(&String, Option<&String>, Option<&String>)> = patched
        .keys()
        .chain(scanned.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| patched.get(*k) != scanned.get(*k))
        .map(|k| (k, patched.get(k), scanned.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "refresh and full scan differ: {differ:#?}"
    );
    // And the accounts: their status, counts and limits.
    assert_eq!(accounts(after), accounts(&full));
    assert_eq!(after.stacks.len(), full.stacks.len());

    // Put back.
    aws_sdk_lambda::Client::new(&console)
        .update_function_configuration()
        .function_name(&function.name)
        .handler(function.attr_str("handler").unwrap_or("handler.main"))
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    aws_sdk_secretsmanager::Client::new(&console)
        .restore_secret()
        .secret_id(&secret.name)
        .send()
        .await
        .expect("RestoreSecret");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_to_the_organization_asks_for_a_full_scan() {
    let (_turn, env, _, before, refresher) = scanned_scratch().await;
    let dev = before
        .accounts
        .iter()
        .find(|a| a.stage.as_deref() == Some("dev"))
        .expect("dev");
    let mgmt = env.sdk_config(&before.profile, None).await;
    aws_sdk_organizations::Client::new(&mgmt)
        .tag_resource()
        .resource_id(&dev.id)
        .tags(
            aws_sdk_organizations::types::Tag::builder()
                .key("team")
                .value("payments")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("TagResource");
    match refresher.refresh(&before).await.expect("refresh") {
        Refresh::FullScan(why) => assert!(why.contains("organization changed"), "{why}"),
        Refresh::Patched(p) => panic!("patched: {:?}", p.new_changes),
    }
    aws_sdk_organizations::Client::new(&mgmt)
        .untag_resource()
        .resource_id(&dev.id)
        .tag_keys("team")
        .send()
        .await
        .expect("UntagResource");
}

/// The refresh on an organization not shaped like the demo: state in a tooling account, prod's
/// service in a second region, no stagecraft.toml. A console change there is read again in that
/// account and region only, and the patched picture is the full scan's.
#[tokio::test(flavor = "multi_thread")]
async fn on_the_spread_organization_a_change_in_the_second_region_is_read_again_there() {
    let running = tokio::task::block_in_place(|| {
        harness::start(stagecraft_sandbox::SeedSpec {
            shape: stagecraft_sandbox::Shape::Spread,
            ..stagecraft_sandbox::SeedSpec::default()
        })
    });
    let sb = &running.sandbox;
    let env = sb.aws_env();
    let ws = Workspace::default();
    let opts = ScanOptions {
        profile: Some("master".into()),
        ..options()
    };
    let before = scan::scan(&env, &ws, &opts, &|_| {}).await.expect("scan");
    let refresher = Refresher::new(&env, &ws, &opts).await.expect("refresher");
    let second = stagecraft_sandbox::shape::SECOND_REGION;
    let function = before
        .resources
        .iter()
        .find(|r| r.type_name == "AWS::Lambda::Function" && r.region == second)
        .expect("a function in the second region")
        .clone();
    let master = env.sdk_config("master", None).await;
    let member = stagecraft_aws::credentials::assume_role(
        &master,
        &stagecraft_aws::credentials::role_arn(
            &function.account_id,
            "OrganizationAccountAccessRole",
        ),
    )
    .await;
    let console = stagecraft_aws::credentials::in_region(&member, second)
        .into_builder()
        .app_name(AppName::new("console.amazonaws.com").expect("app name"))
        .build();
    aws_sdk_lambda::Client::new(&console)
        .update_function_configuration()
        .function_name(&function.name)
        .handler("edited.in_console")
        .send()
        .await
        .expect("UpdateFunctionConfiguration");

    let Refresh::Patched(refreshed) = refresher.refresh(&before).await.expect("refresh") else {
        panic!("a console change needs no full scan")
    };
    let read: Vec<(String, String, &str)> = refreshed
        .reread
        .iter()
        .map(|r| (r.account_id.clone(), r.region.clone(), r.collector.name()))
        .collect();
    assert_eq!(
        read,
        [
            (function.account_id.clone(), second.to_owned(), "lambda"),
            (function.account_id.clone(), second.to_owned(), "tags"),
        ]
    );
    let after = &refreshed.report;
    let changed = after
        .resources
        .iter()
        .find(|r| r.id == function.id)
        .expect("the function");
    assert_eq!(changed.attr_str("handler"), Some("edited.in_console"));
    assert_eq!(changed.owner.kind(), function.owner.kind());
    let full = full_scan_with(&env, &ws, &opts, &before).await;
    assert_eq!(picture(after), picture(&full));
    assert_eq!(accounts(after), accounts(&full));
    // The states were read again where the scan found them: the tooling account's among them.
    assert!(
        refreshed
            .states
            .iter()
            .any(|s| s.starts_with("s3://globex-tfstate/")),
        "{:?}",
        refreshed.states
    );
    let terraform = |r: &ScanReport| {
        r.terraform
            .iter()
            .map(|t| format!("{} {:?} {:?}", t.location, t.stage, t.unmatched))
            .collect::<Vec<_>>()
    };
    assert_eq!(terraform(after), terraform(&full));
}

async fn full_scan_with(
    env: &AwsEnv,
    ws: &Workspace,
    opts: &ScanOptions,
    last: &ScanReport,
) -> ScanReport {
    let opts = ScanOptions {
        last: Some(std::sync::Arc::new(last.clone())),
        ..opts.clone()
    };
    scan::scan(env, ws, &opts, &|_| {}).await.expect("scan")
}

/// Each account's status, counts, limits and collector errors.
fn accounts(r: &ScanReport) -> Vec<String> {
    r.accounts
        .iter()
        .map(|a| {
            format!(
                "{} {:?} {:?} {:?} {:?}",
                a.id, a.status, a.counts, a.limits, a.collect_errors
            )
        })
        .collect()
}

/// `terraform state rm` writes only the state: an S3 object write, which no event history holds. A
/// pass still sees it (the state's ETag changed), reads that state again with no collector, and
/// the resource it let go is no longer Terraform's, as a full scan says; the next pass is quiet.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_written_with_no_event_is_read_again_and_its_claims_follow() {
    let (_turn, env, ws, before, refresher) = scanned_scratch().await;
    let state = before
        .terraform
        .iter()
        .find(|t| t.workspace == "dev")
        .expect("dev's state")
        .clone();
    assert!(state.etag.is_some(), "the scan keeps the state's ETag");
    let (bucket, key) = state
        .location
        .strip_prefix("s3://")
        .and_then(|l| l.split_once('/'))
        .expect("an S3 state");
    let function = stagecraft_sandbox::seed::rotation_function("dev");
    let owned = |r: &ScanReport| {
        r.resources
            .iter()
            .find(|x| x.type_name == "AWS::Lambda::Function" && x.name == function)
            .map(|x| x.owner.clone())
            .expect("the rotation function")
    };
    assert!(matches!(owned(&before), Owner::Terraform(_)));

    // `terraform state rm aws_lambda_function.rotate_db_password`, as the state file shows it.
    let s3 = aws_sdk_s3::Client::new(&env.sdk_config("master", None).await);
    let original = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("GetObject")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    let mut doc: serde_json::Value = serde_json::from_slice(&original).expect("state JSON");
    doc["serial"] = serde_json::json!(doc["serial"].as_u64().unwrap_or(0) + 1);
    if let Some(resources) = doc["resources"].as_array_mut() {
        resources.retain(|r| r["name"] != "rotate_db_password");
    }
    let put = |body: Vec<u8>| {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
    };
    put(serde_json::to_vec(&doc).expect("JSON"))
        .await
        .expect("PutObject");

    let pass = refresher.refresh(&before).await;
    // Put the state back before asserting: the scratch organization is shared.
    put(original.to_vec()).await.expect("PutObject (restore)");
    let Refresh::Patched(refreshed) = pass.expect("refresh") else {
        panic!("a state write needs no full scan")
    };
    assert!(
        refreshed.new_changes.is_empty(),
        "{:?}",
        refreshed.new_changes
    );
    assert!(refreshed.reread.is_empty(), "{:?}", refreshed.reread);
    assert_eq!(
        refreshed.states_written,
        std::slice::from_ref(&state.location)
    );
    assert!(refreshed.changed(), "the pass stores a snapshot");
    let after = &refreshed.report;
    assert!(
        matches!(owned(after), Owner::Unmanaged),
        "{:?}",
        owned(after)
    );
    let dev = after
        .terraform
        .iter()
        .find(|t| t.location == state.location)
        .expect("dev's state");
    assert_eq!(dev.serial, state.serial.map(|s| s + 1));
    assert_eq!(dev.managed_resources + 1, state.managed_resources);

    // The next pass: the state is as read, nothing is read again.
    let Refresh::Patched(quiet) = refresher.refresh(after).await.expect("refresh") else {
        panic!("a quiet pass needs no full scan")
    };
    // (The state was put back in between: that is a write too.)
    assert_eq!(quiet.states_written, std::slice::from_ref(&state.location));
    assert!(matches!(owned(&quiet.report), Owner::Terraform(_)));
    let Refresh::Patched(quieter) = refresher.refresh(&quiet.report).await.expect("refresh") else {
        panic!("a quiet pass needs no full scan")
    };
    assert!(quieter.states_written.is_empty());
    assert!(!quieter.changed());

    // A full scan agrees with the refreshed picture.
    let full = full_scan(&env, &ws, &quiet.report).await;
    assert_eq!(picture(&quiet.report), picture(&full));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_organization_trail_one_read_of_its_log_group_finds_a_console_change() {
    let running = tokio::task::block_in_place(|| {
        harness::start(stagecraft_sandbox::SeedSpec {
            stages: vec!["dev".into(), "qa".into()],
            org_trail: true,
            ..stagecraft_sandbox::SeedSpec::default()
        })
    });
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = stagecraft_sandbox::proxy::Proxy::start(
        &sb.endpoint,
        stagecraft_sandbox::proxy::ProxyOptions::default(),
    )
    .await
    .expect("counting proxy");
    let env = sb
        .aws_env_through(&counter.endpoint, &dir.path().join("config"))
        .expect("aws config");
    let ws = Workspace::load(&sb.workspace_file()).expect("workspace");
    let before = scan::scan(&env, &ws, &options(), &|_| {})
        .await
        .expect("scan");
    let refresher = Refresher::new(&env, &ws, &options())
        .await
        .expect("refresher");
    let count = |action: &str| {
        counter
            .calls()
            .iter()
            .filter(|c| c.action == action)
            .count()
    };

    // A quiet pass: the organization trail is found and its group read once, for every account
    // and region; no account's own event history is read.
    counter.clear();
    let Refresh::Patched(quiet) = refresher.refresh(&before).await.expect("refresh") else {
        panic!("a refresh right after a scan needs no full scan")
    };
    assert!(quiet.reread.is_empty(), "{:?}", quiet.reread);
    assert!(quiet.unread.is_empty(), "{:?}", quiet.unread);
    assert_eq!(
        (
            count("DescribeTrails"),
            count("GetTrailStatus"),
            count("FilterLogEvents"),
            count("LookupEvents")
        ),
        (1, 1, 1, 0),
        "{:#?}",
        counter.calls()
    );
    assert_eq!(
        quiet.history_from.as_deref(),
        Some(format!(
            "the organization trail {} (log group {} in {})",
            stagecraft_sandbox::seed::ORG_TRAIL,
            stagecraft_sandbox::seed::ORG_TRAIL_GROUP,
            sb.seeded.management_account_id
        ))
        .as_deref(),
        "the pass says where it read the history"
    );
    let places = before.accounts.len();
    assert_eq!(
        quiet.report.feed.len(),
        before.feed.len(),
        "every place the scan read has a read again"
    );
    assert!(places >= 3);

    // A console change in dev: found in the group, with who made it; only dev's Lambda is read
    // again.
    let function = before
        .resources
        .iter()
        .find(|r| {
            r.type_name == "AWS::Lambda::Function"
                && r.stage.as_deref() == Some("dev")
                && matches!(r.owner, Owner::Serverless(_))
        })
        .expect("a Serverless function in dev")
        .clone();
    let console = as_app(&env, "console.amazonaws.com").await;
    aws_sdk_lambda::Client::new(&console)
        .update_function_configuration()
        .function_name(&function.name)
        .handler("edited.in_console")
        .send()
        .await
        .expect("UpdateFunctionConfiguration");
    counter.clear();
    let Refresh::Patched(refreshed) = refresher.refresh(&quiet.report).await.expect("refresh")
    else {
        panic!("a console change needs no full scan")
    };
    assert_eq!(
        (
            count("DescribeTrails"),
            count("GetTrailStatus"),
            count("FilterLogEvents"),
            count("LookupEvents")
        ),
        (0, 1, 1, 0),
        "the trail is checked, not looked for again"
    );
    let change = refreshed
        .new_changes
        .iter()
        .find(|c| c.action == "UpdateFunctionConfiguration")
        .unwrap_or_else(|| panic!("the change: {:?}", refreshed.new_changes));
    assert_eq!(change.tool, Tool::Console);
    assert_eq!(change.account_id, function.account_id);
    let read: Vec<(String, &str)> = refreshed
        .reread
        .iter()
        .map(|r| (r.account_id.clone(), r.collector.name()))
        .collect();
    assert_eq!(
        read,
        [
            (function.account_id.clone(), Collector::Lambda.name()),
            (function.account_id.clone(), Collector::Tags.name()),
        ]
    );
    let after = &refreshed.report;
    assert_eq!(
        after
            .resources
            .iter()
            .find(|r| r.id == function.id)
            .and_then(|r| r.attr_str("handler")),
        Some("edited.in_console")
    );

    // A read that stops at its cap (`ORG_MAX_EVENTS` in a pass) says it covers only up to the
    // newest event it read, even when none of the events it read was one of its places'.
    let in_qa = before
        .resources
        .iter()
        .find(|r| r.type_name == "AWS::Lambda::Function" && r.stage.as_deref() == Some("qa"))
        .expect("a function in qa");
    let qa_console = env
        .sdk_config("qa", None)
        .await
        .into_builder()
        .app_name(AppName::new("console.amazonaws.com").expect("app name"))
        .build();
    aws_sdk_lambda::Client::new(&qa_console)
        .update_function_configuration()
        .function_name(&in_qa.name)
        .description("edited in qa")
        .send()
        .await
        .expect("UpdateFunctionConfiguration in qa");
    let master = env.sdk_config("master", None).await;
    let trail = stagecraft_aws::collect::cloudtrail::org_trail(&master)
        .await
        .expect("the organization trail");
    // An end a minute ahead: the second of the last event read and the end asked for differ.
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let since = until - time::Duration::hours(1);
    let first_page = aws_sdk_cloudwatchlogs::Client::new(&stagecraft_aws::credentials::in_region(
        &master,
        &trail.group_region,
    ))
    .filter_log_events()
    .log_group_name(&trail.group)
    .filter_pattern(stagecraft_aws::collect::cloudtrail::WRITES_PATTERN)
    .start_time(since.unix_timestamp() * 1000)
    .end_time((until.unix_timestamp() + 1) * 1000)
    .limit(1)
    .send()
    .await
    .expect("FilterLogEvents");
    assert!(first_page.next_token().is_some(), "more than one write");
    let oldest = &first_page.events()[0];
    let oldest_at =
        time::OffsetDateTime::from_unix_timestamp(oldest.timestamp().expect("a timestamp") / 1000)
            .expect("a time");
    let oldest_account = serde_json::from_str::<serde_json::Value>(oldest.message().unwrap_or(""))
        .expect("a CloudTrail record")["recipientAccountId"]
        .as_str()
        .expect("its account")
        .to_owned();
    let elsewhere = before
        .accounts
        .iter()
        .find(|a| a.id != oldest_account)
        .expect("another account");
    let capped = stagecraft_aws::collect::cloudtrail::read_org(
        &master,
        &trail,
        &[(elsewhere.id.clone(), sb.region.clone())],
        since,
        until,
        stagecraft_aws::collect::cloudtrail::OrgReadCap {
            events: 1,
            page: Some(1),
        },
    )
    .await;
    assert_eq!(capped.len(), 1);
    assert_eq!(capped[0].read.error, None);
    assert_eq!(
        capped[0].read.events, 0,
        "the one event read is another account's"
    );
    assert_eq!(
        capped[0].read.until,
        stagecraft_aws::collect::cloudtrail::rfc3339(oldest_at),
        "covered up to the one event read, not to the end asked for"
    );

    // The trail stops logging: the group would miss what changes now, so each account's own
    // event history is read instead.
    aws_sdk_cloudtrail::Client::new(&master)
        .stop_logging()
        .name(stagecraft_sandbox::seed::ORG_TRAIL)
        .send()
        .await
        .expect("StopLogging");
    counter.clear();
    let Refresh::Patched(stopped) = refresher.refresh(after).await.expect("refresh") else {
        panic!("no full scan")
    };
    assert_eq!(stopped.history_from, None);
    assert_eq!(count("FilterLogEvents"), 0);
    assert!(
        count("LookupEvents") >= places,
        "each account's history: {}",
        count("LookupEvents")
    );
}
