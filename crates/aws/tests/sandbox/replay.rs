// The replaying endpoint (`stagecraft_sandbox::replay`): a scan recorded once through the proxy is
// served again without the emulator, gives the same picture, and scales to more accounts than were
// recorded, each copy a consistent account of its own.

use std::collections::BTreeMap;

use stagecraft_aws::collect::ValueHasher;
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::{Access, AccountStatus, ScanReport};
use stagecraft_sandbox::harness;
use stagecraft_sandbox::proxy::{Proxy, ProxyOptions};
use stagecraft_sandbox::replay::{Recording, Replay, ReplayOptions};

async fn scan_through(env: &AwsEnv) -> ScanReport {
    let ws = Workspace::load(&harness::demo().sandbox.workspace_file()).expect("workspace");
    let opts = ScanOptions {
        hasher: Some(ValueHasher::new([7; 32])),
        ..ScanOptions::default()
    };
    scan::scan(env, &ws, &opts, &|_| {}).await.expect("scan")
}

/// Resources per account, by type.
fn census(report: &ScanReport) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in &report.resources {
        *out.entry(r.account_id.clone())
            .or_default()
            .entry(r.type_name.clone())
            .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_scan_replays_the_same_picture_without_the_emulator_and_at_any_scale() {
    let sb = &harness::demo().sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = Proxy::start(
        &sb.endpoint,
        ProxyOptions {
            record: true,
            ..ProxyOptions::default()
        },
    )
    .await
    .expect("recording proxy");
    let env = sb
        .aws_env_through(&recorder.endpoint, &dir.path().join("recording"))
        .expect("aws config");
    let recorded = scan_through(&env).await;
    let recording = recorder.recording();
    assert_eq!(recording.exchanges.len(), recorder.calls().len());
    drop(recorder);

    // Saved and read back, as a benchmark keeps it between runs.
    let file = dir.path().join("scan.json");
    recording.save(&file).expect("save");
    let recording = Recording::load(&file).expect("load");

    // Served again: the same picture, every request answered from the recording.
    let replay = Replay::start(recording.clone(), ReplayOptions::default())
        .await
        .expect("replay");
    let env = sb
        .aws_env_through(&replay.endpoint, &dir.path().join("replay"))
        .expect("aws config");
    let replayed = scan_through(&env).await;
    assert_eq!(replay.misses(), Vec::<String>::new());
    assert_eq!(census(&replayed), census(&recorded));
    assert_eq!(replayed.stacks.len(), recorded.stacks.len());
    assert_eq!(replayed.terraform.len(), recorded.terraform.len());
    assert_eq!(replayed.regions, recorded.regions);

    // Scaled: three more member accounts than were recorded, each a copy of a recorded one under
    // its own id, with its own resources, named as its own.
    let members = recorded
        .accounts
        .iter()
        .filter(|a| !a.is_management)
        .count();
    let scaled = Replay::start(
        recording.clone(),
        ReplayOptions {
            members: Some(members + 3),
            ..ReplayOptions::default()
        },
    )
    .await
    .expect("replay");
    let env = sb
        .aws_env_through(&scaled.endpoint, &dir.path().join("scaled"))
        .expect("aws config");
    let big = scan_through(&env).await;
    assert_eq!(scaled.misses(), Vec::<String>::new());
    assert_eq!(big.accounts.len(), recorded.accounts.len() + 3);
    for a in &big.accounts {
        assert_eq!(
            a.status,
            AccountStatus::Ok,
            "{} {}: {:?} {:?}",
            a.id,
            a.name,
            a.error,
            a.collect_errors
        );
    }
    let copies = scaled.copied_accounts();
    assert_eq!(copies.len(), 3);
    let before = census(&recorded);
    let after = census(&big);
    for (copy, source) in &copies {
        let account = big
            .accounts
            .iter()
            .find(|a| &a.id == copy)
            .unwrap_or_else(|| panic!("copy {copy} was not discovered"));
        assert!(account.name.contains("-copy"), "{}", account.name);
        // A stage of several accounts: the stage's profile reaches its own account, the others
        // are reached through the organization's role.
        let original = big
            .accounts
            .iter()
            .find(|a| &a.id == source)
            .expect("source");
        assert_eq!(account.stage, original.stage);
        assert!(
            matches!(account.access, Some(Access::AssumeRole { .. })),
            "{:?}",
            account.access
        );
        let theirs = after.get(copy).cloned().unwrap_or_default();
        assert!(!theirs.is_empty(), "copy {copy} has no resources");
        assert_eq!(
            Some(&theirs),
            before.get(source),
            "copy {copy} of {source}: {:?}",
            account.collect_errors
        );
        for r in big.resources.iter().filter(|r| &r.account_id == copy) {
            assert!(
                !r.id.contains(':')
                    || r.id.contains(copy.as_str())
                    || r.id.split(':').nth(4) == Some(""),
                "{} in copy {copy} names another account",
                r.id
            );
        }
    }

    // Throttled as AWS throttles, at a quarter of the rates (Organizations: 2.5 a second, burst 5,
    // for the whole organization's tag reads): every account is discovered with its stage, and
    // the tag reads keep to the rate instead of retrying into it.
    let throttled = Replay::start(
        recording.clone(),
        ReplayOptions {
            members: Some(members + 20),
            throttle: Some(0.25),
            ..ReplayOptions::default()
        },
    )
    .await
    .expect("replay");
    let env = sb
        .aws_env_through(&throttled.endpoint, &dir.path().join("throttled"))
        .expect("aws config");
    let slow = scan_through(&env).await;
    assert_eq!(slow.accounts.len(), recorded.accounts.len() + 20);
    for a in &recorded.accounts {
        let same = slow.accounts.iter().find(|b| b.id == a.id).expect("found");
        assert_eq!((&same.stage, &same.tags), (&a.stage, &a.tags), "{}", a.id);
    }
    let tag_reads: Vec<_> = throttled
        .calls()
        .into_iter()
        .filter(|c| c.action == "ListTagsForResource")
        .collect();
    let refused = tag_reads.iter().filter(|c| c.fault.is_some()).count();
    assert_eq!(tag_reads.len() - refused, slow.accounts.len());
    assert!(
        refused * 10 <= tag_reads.len(),
        "{refused} of {} tag reads throttled",
        tag_reads.len()
    );

    // The chain of dependent calls: discovery, the role in each account, listings and their pages.
    let path = recording.critical_path();
    assert!(path.calls >= 4, "{path:?}");
    assert!(path.calls < recording.exchanges.len() / 4, "{path:?}");
    assert_eq!(path.chain.len(), path.calls);
    assert!(
        path.chain.iter().any(|c| c == "sts:AssumeRole"),
        "a member account's calls wait for its role: {path:?}"
    );
}
