// Faults a desktop meets during a scan, as the CLI meets them.

use std::time::Instant;

use stagecraft_sandbox::harness;

/// The emulator is killed in the middle of a scan: the scan ends (exit 2) naming, per account, what
/// it could not read and why; the partial snapshot is stored and marked; the snapshot before it is
/// intact; and it does not blame the config for the Terraform state it could not search.
#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_disappearing_mid_scan_gives_a_marked_partial_snapshot_and_loses_nothing() {
    let running = harness::start(stagecraft_sandbox::SeedSpec::default());
    let sb = &running.sandbox;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("stagecraft.db");
    let scan = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_stagecraft"))
            .arg("scan")
            .env_remove("AWS_PROFILE")
            .envs(sb.env_vars())
            .env("STAGECRAFT_STORE", &store)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start a scan")
    };
    let t0 = Instant::now();
    let clean = scan().wait_with_output().expect("clean scan");
    let took = t0.elapsed();
    let before = stagecraft_store::Store::open(&store)
        .expect("store")
        .list()
        .expect("list");
    assert_eq!(
        before.len(),
        1,
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert_eq!(before[0].accounts_with_errors, 0);

    // The same scan again; the emulator goes a third of the way through it.
    let child = scan();
    let started = Instant::now();
    tokio::time::sleep(took / 3).await;
    // The emulator and the process tying it to this test share a process group.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", sb.pid)])
        .status()
        .expect("kill");
    assert!(killed.success(), "the emulator was killed");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("scan output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "a clean scan took {took:?}; the one whose endpoint vanished gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "the scan (a clean one took {took:?}) was still running when the emulator went: {stderr}"
    );
    assert!(
        stderr.contains("could not be scanned completely"),
        "{stderr}"
    );
    // The configured backend is read as the scan starts, so its states may well be in; when none
    // could be read, the search that failed is not a config to change.
    assert!(
        !stderr.contains("name the backend in")
            && (!stderr.contains("no Terraform state")
                || stderr.contains("no Terraform state could be read")),
        "a search that failed is not a config to change: {stderr}"
    );
    assert!(
        !stderr.contains("unhandled error"),
        "what the endpoint answered is said: {stderr}"
    );

    let s = stagecraft_store::Store::open(&store).expect("store");
    let after = s.list().expect("list");
    assert_eq!(after.len(), 2, "the partial snapshot is stored");
    let partial = after
        .iter()
        .find(|x| x.id != before[0].id)
        .expect("the new one");
    assert!(partial.accounts_with_errors > 0, "and marked: {partial:?}");
    assert!(partial.resources < before[0].resources);
    let earlier = s.load(before[0].id).expect("the earlier snapshot");
    assert_eq!(
        earlier.resources.len() as u32,
        before[0].resources,
        "intact"
    );
}
