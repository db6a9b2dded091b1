// Hardening against the sandbox through the loopback proxy (`stagecraft_sandbox::proxy`): a scan
// only reads metadata and needs no more than the documented IAM policy, gives the clean answer under
// injected faults, and says clearly which account failed and why.

use stagecraft_sandbox::harness;

use std::collections::BTreeSet;

use stagecraft_aws::collect::ValueHasher;
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::{AccountStatus, ScanReport};
use stagecraft_sandbox::proxy::{self, Faults, Proxy, ProxyOptions};

async fn through(opts: ProxyOptions, dir: &std::path::Path) -> (Proxy, AwsEnv) {
    let sb = &harness::demo().sandbox;
    let proxy = Proxy::start(&sb.endpoint, opts).await.expect("proxy");
    std::fs::create_dir_all(dir).expect("dir");
    let env = sb
        .aws_env_through(&proxy.endpoint, &dir.join("aws-config"))
        .expect("aws config");
    (proxy, env)
}

/// [`through`] a proxy that injects `faults` and nothing else.
async fn with_faults(faults: Faults, dir: &std::path::Path) -> (Proxy, AwsEnv) {
    through(
        ProxyOptions {
            faults,
            ..ProxyOptions::default()
        },
        dir,
    )
    .await
}

async fn scan_with(env: &AwsEnv) -> ScanReport {
    let ws = Workspace::load(&harness::demo().sandbox.workspace_file()).expect("workspace");
    // One hash key for every scan here, as a store gives its scans, so values compare.
    let opts = ScanOptions {
        hasher: Some(ValueHasher::new([7; 32])),
        ..ScanOptions::default()
    };
    scan::scan(env, &ws, &opts, &|_| {}).await.expect("scan")
}

/// The id of the demo organization's account of `stage`.
fn account_of(stage: &str) -> String {
    harness::demo()
        .sandbox
        .seeded
        .accounts
        .iter()
        .find(|a| a.stage == stage)
        .unwrap_or_else(|| panic!("no {stage} account"))
        .id
        .clone()
}

/// The policy's actions, from `docs/read-only-policy.json`.
fn documented_policy() -> BTreeSet<String> {
    let text = std::fs::read_to_string(harness::repo().join("docs/read-only-policy.json"))
        .expect("docs/read-only-policy.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("policy JSON");
    doc["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}

/// The account-wide listings a scan reads, each with the per-resource calls that replace it when the
/// scan role may not call it.
const BATCHED: [(&str, &[&str]); 2] = [
    (
        "tag:GetResources",
        &[
            "lambda:ListTags",
            "dynamodb:ListTagsOfResource",
            "ssm:ListTagsForResource",
            "kms:ListResourceTags",
            "s3:GetBucketTagging",
        ],
    ),
    (
        "iam:GetAccountAuthorizationDetails",
        &[
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "iam:ListRoleTags",
            "iam:ListPolicies",
        ],
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn a_scan_only_reads_metadata_and_needs_exactly_the_documented_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, env) = through(ProxyOptions::default(), &dir.path().join("clean")).await;
    let report = scan_with(&env).await;
    assert!(
        report
            .accounts
            .iter()
            .all(|a| a.status == AccountStatus::Ok),
        "a clean scan"
    );
    let calls = proxy.calls();
    assert!(calls.len() > 100, "the scan went through the proxy");
    let actions = |calls: &[proxy::Call]| -> BTreeSet<String> {
        calls
            .iter()
            .map(|c| proxy::iam_action(&c.service, &c.action))
            .collect()
    };
    let clean_actions = actions(&calls);
    for (batch, per_resource) in BATCHED {
        assert!(clean_actions.contains(batch), "{batch} was not called");
        for one in per_resource {
            assert!(
                !clean_actions.contains(*one),
                "{one} was called although {batch} answered"
            );
        }
    }

    // The members are reached through profiles that name a role: AssumeRole's answer names the
    // account, so only the management profile is asked who it is, and every identity is still
    // checked against its account.
    let asked: Vec<_> = calls
        .iter()
        .filter(|c| c.action == "GetCallerIdentity")
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    for a in &report.accounts {
        let identity = a.identity.as_ref().expect("an identity");
        assert_eq!(identity.account, a.id, "{}", identity.arn);
    }

    // Each bucket's region comes with ListBuckets (asked with a parameter, as AWS then names it).
    assert!(
        !clean_actions.contains("s3:GetBucketLocation"),
        "a GetBucketLocation per bucket although ListBuckets named their regions"
    );

    // A scan role without the account-wide listings gets the same inventory, tags, policies and
    // owners included, from the per-resource reads the policy also grants.
    let (denied, denied_env) = through(
        ProxyOptions {
            faults: Faults {
                denied: BATCHED.iter().map(|(b, _)| (*b).to_owned()).collect(),
                ..Faults::default()
            },
            ..ProxyOptions::default()
        },
        &dir.path().join("no-sweep"),
    )
    .await;
    let without_sweep = scan_with(&denied_env).await;
    let denied_calls = denied.calls();
    assert!(denied_calls
        .iter()
        .any(|c| c.fault.as_deref() == Some("denied")));
    // It says what it could not tell: regions were judged by their stacks alone.
    assert!(
        without_sweep
            .coverage
            .skipped
            .iter()
            .any(|s| s.contains("tag:GetResources failed")),
        "{:?}",
        without_sweep.coverage.skipped
    );
    let mut diff = Vec::new();
    let mut without_sweep = without_sweep;
    without_sweep.coverage.skipped.clear();
    without_sweep.coverage.partial = report.coverage.partial;
    differences(
        &comparable(&without_sweep),
        &comparable(&report),
        "",
        &mut diff,
    );
    assert!(
        diff.is_empty(),
        "the scan without the account-wide listings differs from the clean one:\n{}",
        diff.join("\n")
    );
    let tagged = report
        .resources
        .iter()
        .filter(|r| r.tags.contains_key("aws:cloudformation:stack-name"))
        .count();
    assert!(tagged > 5, "stack tags were read ({tagged} resources)");

    // The spread organization reaches what the demo does not: its Lambda reservations near the
    // limit, so each function's is read.
    let spread = &harness::spread().sandbox;
    let spread_proxy = Proxy::start(&spread.endpoint, ProxyOptions::default())
        .await
        .expect("proxy");
    let spread_env = spread
        .aws_env_through(
            &spread_proxy.endpoint,
            &dir.path().join("spread-aws-config"),
        )
        .expect("aws config");
    let spread_opts = ScanOptions {
        profile: Some("master".into()),
        ..ScanOptions::default()
    };
    scan::scan(&spread_env, &Workspace::default(), &spread_opts, &|_| {})
        .await
        .expect("spread scan");
    assert!(
        spread_proxy
            .calls()
            .iter()
            .any(|c| c.action == "GetFunctionConcurrency"),
        "the spread scan read the reservations"
    );
    // A Live / `watch` pass after each scan: the demo's reads each account's event history, the
    // spread's its organization trail's log group.
    let ws = Workspace::load(&harness::demo().sandbox.workspace_file()).expect("workspace");
    let demo_opts = ScanOptions {
        hasher: Some(ValueHasher::new([7; 32])),
        ..ScanOptions::default()
    };
    let pass = scan::Refresher::new(&env, &ws, &demo_opts)
        .await
        .expect("refresher")
        .refresh(&report)
        .await
        .expect("demo refresh");
    assert!(matches!(pass, scan::Refresh::Patched(_)));
    let spread_report = scan::scan(&spread_env, &Workspace::default(), &spread_opts, &|_| {})
        .await
        .expect("spread scan");
    let pass = scan::Refresher::new(&spread_env, &Workspace::default(), &spread_opts)
        .await
        .expect("refresher")
        .refresh(&spread_report)
        .await
        .expect("spread refresh");
    assert!(matches!(pass, scan::Refresh::Patched(_)));
    let calls = proxy.calls();
    let spread_calls = spread_proxy.calls();
    assert!(
        spread_calls.iter().any(|c| c.action == "FilterLogEvents"),
        "the spread pass read the organization trail"
    );

    let all = [&calls[..], &denied_calls[..], &spread_calls[..]].concat();
    let writes: Vec<String> = all
        .iter()
        .filter(|c| !proxy::is_read_only(c))
        .map(|c| format!("{} {} {} {}", c.service, c.action, c.method, c.path))
        .collect();
    assert!(writes.is_empty(), "not read-only: {writes:#?}");
    assert!(!all.iter().any(|c| c.action == "GetSecretValue"));
    assert!(!all.iter().any(|c| c.with_decryption));

    let used = actions(&all);
    let policy = documented_policy();
    let missing: Vec<&String> = used.difference(&policy).collect();
    let unused: Vec<&String> = policy.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "the scan used actions docs/read-only-policy.json lacks: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "docs/read-only-policy.json grants actions the scan never uses: {unused:?}"
    );

    // Every member account's calls carry that account's own credentials.
    let accounts = proxy.accounts();
    for a in report.accounts.iter().filter(|a| !a.is_management) {
        assert!(
            accounts.values().any(|v| v == &a.id),
            "no credentials seen for {}",
            a.name
        );
    }
}

/// What two scans of the same organization must agree on: not when, not how long, not the name the
/// SDK gives each role session.
fn comparable(report: &ScanReport) -> serde_json::Value {
    let mut report = report.clone();
    report.started_at.clear();
    report.duration_ms = 0;
    // Each history read ends when its scan started.
    for read in &mut report.feed {
        read.since.clear();
        read.until.clear();
    }
    for a in &mut report.accounts {
        if let Some(identity) = a.identity.as_mut() {
            if let Some((role, _session)) = identity.arn.rsplit_once('/') {
                identity.arn = role.to_owned();
            }
        }
    }
    serde_json::to_value(&report).expect("json")
}

/// The JSON paths where `a` and `b` differ (at most `limit`).
fn differences(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    if out.len() >= 20 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                differences(va, vb, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scan_under_twenty_percent_faults_equals_the_clean_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_clean_proxy, clean_env) =
        through(ProxyOptions::default(), &dir.path().join("clean")).await;
    let clean = scan_with(&clean_env).await;
    let (faulty, faulty_env) = through(
        ProxyOptions {
            faults: Faults::mixed(0.2),
            seed: std::env::var("STAGECRAFT_FAULT_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(20),
            ..ProxyOptions::default()
        },
        &dir.path().join("faulty"),
    )
    .await;
    let rough = scan_with(&faulty_env).await;
    let calls = faulty.calls();
    let injected = |kind: &str| {
        calls
            .iter()
            .filter(|c| c.fault.as_deref() == Some(kind))
            .count()
    };
    let faults = calls.iter().filter(|c| c.fault.is_some()).count();
    assert!(
        faults * 100 >= calls.len() * 15,
        "about 20 % of {} calls faulted, not {faults}",
        calls.len()
    );
    for kind in ["throttle", "server_error", "reset", "slow"] {
        assert!(injected(kind) > 0, "no {kind} was injected");
    }
    let mut diff = Vec::new();
    differences(&comparable(&rough), &comparable(&clean), "", &mut diff);
    assert!(
        diff.is_empty(),
        "the scan under faults differs from the clean one:\n{}",
        diff.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_account_fails_alone_with_its_reason() {
    let qa = account_of("qa");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_proxy, env) = with_faults(
        Faults {
            failing_accounts: vec![qa.clone()],
            ..Faults::default()
        },
        dir.path(),
    )
    .await;
    let report = scan_with(&env).await;
    for a in &report.accounts {
        if a.id == qa {
            assert_eq!(a.status, AccountStatus::Error, "{a:?}");
            let error = a.error.as_ref().expect("a reason");
            // Its role is assumed with the management account's keys, which answer; every
            // request signed with its own keys is dropped.
            assert_eq!(error.code, stagecraft_model::ErrorCode::Unreachable);
            assert!(
                error.message.contains(&qa) && error.message.contains("profile `qa`"),
                "{}",
                error.message
            );
        } else {
            assert_eq!(a.status, AccountStatus::Ok, "{} {:?}", a.name, a.error);
        }
    }
    assert!(report
        .resources
        .iter()
        .any(|r| r.stage.as_deref() == Some("prod")));
    assert!(!report.resources.iter().any(|r| r.account_id == qa));
}

/// An account whose traffic is swallowed (no answer, no error) is given up on at its deadline; the
/// others finish, and the scan does not wait for the SDK's own two-minute operation timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_black_holed_account_times_out_alone_and_is_named() {
    let qa = account_of("qa");
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, env) = with_faults(
        Faults {
            black_holed_accounts: vec![qa.clone()],
            ..Faults::default()
        },
        dir.path(),
    )
    .await;
    let mut ws = Workspace::load(&harness::demo().sandbox.workspace_file()).expect("workspace");
    // Long enough for a healthy account on a loaded machine (a cold CI run gave one 3 s and it
    // was not enough), far below the SDK's own 120 s operation timeout.
    ws.config.scan.account_timeout = 10;
    let t0 = std::time::Instant::now();
    let report = scan::scan(&env, &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect("scan");
    let took = t0.elapsed();
    assert!(
        proxy
            .calls()
            .iter()
            .any(|c| c.fault.as_deref() == Some("black_holed")),
        "the account's traffic was swallowed"
    );
    assert!(
        took < std::time::Duration::from_secs(60),
        "the scan waited {took:?} for an account with a 10 s deadline"
    );
    for a in &report.accounts {
        if a.id == qa {
            assert_eq!(a.status, AccountStatus::Error, "{a:?}");
            let error = a.error.as_ref().expect("a reason");
            assert_eq!(error.code, stagecraft_model::ErrorCode::Timeout);
            assert!(
                error.message.contains(&qa)
                    && error.message.contains("within 10 s")
                    && error.message.contains("account_timeout"),
                "{}",
                error.message
            );
        } else {
            assert_eq!(a.status, AccountStatus::Ok, "{} {:?}", a.name, a.error);
        }
    }
    assert!(report
        .resources
        .iter()
        .any(|r| r.stage.as_deref() == Some("prod")));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_expire_mid_scan_are_named_as_the_reason() {
    let dev = account_of("dev");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_proxy, env) = with_faults(
        Faults {
            expire_after: Some((dev.clone(), 4)),
            ..Faults::default()
        },
        dir.path(),
    )
    .await;
    let report = scan_with(&env).await;
    let account = report
        .accounts
        .iter()
        .find(|a| a.id == dev)
        .expect("dev account");
    assert_ne!(account.status, AccountStatus::Ok);
    let error = account.error.as_ref().expect("a reason");
    assert_eq!(error.code, stagecraft_model::ErrorCode::ExpiredCredentials);
    assert!(
        error.message.contains("expired during the scan") && error.message.contains("rescan"),
        "{}",
        error.message
    );
    assert!(account
        .collect_errors
        .iter()
        .all(|e| e.code == stagecraft_model::ErrorCode::ExpiredCredentials));
    assert!(report
        .accounts
        .iter()
        .filter(|a| a.id != dev)
        .all(|a| a.status == AccountStatus::Ok));
}

/// AWS's clock 10 minutes ahead of this machine's: AWS refuses what is signed with the machine's
/// time, the SDK measures the offset from the refusals' `Date` and signs again, so the scan is
/// complete; and the report says how far off the clock is, because a deploy's tools may not correct.
#[tokio::test(flavor = "multi_thread")]
async fn a_clock_ten_minutes_off_is_corrected_for_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, env) = with_faults(
        Faults {
            clock_ahead: Some(600),
            ..Faults::default()
        },
        dir.path(),
    )
    .await;
    let report = scan_with(&env).await;
    let calls = proxy.calls();
    let refused = calls
        .iter()
        .filter(|c| c.fault.as_deref() == Some("clock_skew"))
        .count();
    println!(
        "{} calls, {refused} refused for the clock and signed again",
        calls.len()
    );
    assert!(refused > 0, "AWS refused the machine's time");
    for a in &report.accounts {
        assert_eq!(a.status, AccountStatus::Ok, "{} {:?}", a.name, a.error);
        assert!(a.collect_errors.is_empty(), "{:?}", a.collect_errors);
    }
    let clean = scan_with(&harness::demo().sandbox.aws_env()).await;
    assert_eq!(report.resources.len(), clean.resources.len());
    let warning = report
        .warnings
        .iter()
        .find(|w| w.code == stagecraft_model::ErrorCode::ClockSkew)
        .unwrap_or_else(|| panic!("the clock is named: {:?}", report.warnings));
    assert!(
        warning.message.contains("10 min")
            && warning.message.contains("behind AWS's")
            && warning.message.contains("timedatectl"),
        "{}",
        warning.message
    );
    assert!(
        !clean
            .warnings
            .iter()
            .any(|w| w.code == stagecraft_model::ErrorCode::ClockSkew),
        "a clock that agrees is not named"
    );
}

/// The accounts start as their pages are listed, while the rest of the tree is: a listing that
/// fails part-way still fails the scan, naming what was refused, and no account's scan outlives it.
#[tokio::test]
async fn a_tree_listing_refused_part_way_fails_the_scan_and_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (proxy, env) = through(
        ProxyOptions {
            faults: Faults {
                denied: vec!["organizations:ListOrganizationalUnitsForParent".into()],
                ..Faults::default()
            },
            ..ProxyOptions::default()
        },
        dir.path(),
    )
    .await;
    let ws = Workspace::load(&harness::demo().sandbox.workspace_file()).expect("workspace");
    let err = scan::scan(&env, &ws, &ScanOptions::default(), &|_| {})
        .await
        .expect_err("the tree could not be listed");
    let said = err.to_string();
    assert!(
        said.contains("organizations:ListOrganizationalUnitsForParent"),
        "{said}"
    );
    let calls = proxy.calls();
    assert!(calls.iter().any(|c| c.fault.as_deref() == Some("denied")));
    // The root's own accounts were listed at the same time as its OUs, and handed on.
    assert!(
        calls.iter().any(|c| c.action == "ListAccountsForParent"),
        "{:?}",
        calls.iter().map(|c| &c.action).collect::<Vec<_>>()
    );
    // Nothing goes on after the scan returned: its accounts' tasks were dropped with it.
    let settled = proxy.calls().len();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        proxy.calls().len(),
        settled,
        "calls went on after the scan failed"
    );
}
