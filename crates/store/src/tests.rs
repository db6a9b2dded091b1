use super::*;
use stagecraft_model::{Organization, Owner};

fn report(resources: Vec<Resource>) -> ScanReport {
    ScanReport {
        profile: "master".into(),
        regions: vec!["us-east-1".into()],
        organization: Organization {
            id: "o-1".into(),
            management_account_id: "1".into(),
            root_id: "r-1".into(),
            ous: Vec::new(),
        },
        accounts: Vec::new(),
        resources,
        stacks: Vec::new(),
        terraform: Vec::new(),
        services: Vec::new(),
        declared: Vec::new(),
        warnings: Vec::new(),
        coverage: Default::default(),
        started_at: "2026-11-29T00:00:00Z".into(),
        duration_ms: 12,
    }
}

fn res(id: &str, owner: Owner) -> Resource {
    let mut r = Resource::new("AWS::S3::Bucket", id.into(), id.into(), "1", "us-east-1");
    r.owner = owner;
    r
}

#[test]
fn snapshots_round_trip_through_a_real_file_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/stagecraft.db");
    let first = report(vec![res("a", Owner::Unmanaged), res("b", Owner::Unmanaged)]);
    let id = {
        let mut store = Store::open(&path).unwrap();
        store.save(&first).unwrap()
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.load(id).unwrap(), first);
    assert_eq!(store.latest().unwrap().unwrap(), first);
    let list = store.list().unwrap();
    assert_eq!((list.len(), list[0].resources), (1, 2));
    assert!(matches!(
        store.load(id + 1),
        Err(StoreError::NoSuchSnapshot(_))
    ));
    // The hash key is stable across openings.
    let k = store.hash_key().unwrap();
    assert_eq!(Store::open(&path).unwrap().hash_key().unwrap(), k);
}

#[test]
fn a_diff_lists_added_removed_and_changed_fields() {
    let a = report(vec![
        res("keep", Owner::Unmanaged),
        res("gone", Owner::Unmanaged),
    ]);
    let mut changed = res("keep", Owner::Unmanaged);
    changed.tags.insert("team".into(), "core".into());
    changed.attr("status", "ACTIVE");
    let b = report(vec![changed, res("new", Owner::Unmanaged)]);
    let d = diff(&a, &b, Some(1), Some(2));
    assert_eq!(
        d.added.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["new"]
    );
    assert_eq!(
        d.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["gone"]
    );
    let fields: Vec<_> = d.changed[0]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(fields, ["tags.team", "attributes.status"]);
    assert!(diff(&a, &a, None, None).is_empty());
}

#[test]
fn a_damaged_or_newer_store_is_a_clear_error_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stagecraft.db");
    std::fs::write(&path, b"this is not a database, but somebody's file").unwrap();
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("stagecraft.db") && err.contains("move it aside"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is not a database, but somebody's file"
    );

    let newer = dir.path().join("newer.db");
    Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = Store::open(&newer).unwrap_err();
    assert!(matches!(err, StoreError::Newer { found: 99, .. }), "{err}");
}

/// Runs and actions a build before the typed outcomes and phases wrote (phases as numbers in the
/// plan, outcomes as words) load as the same runs.
#[test]
fn runs_and_actions_stored_by_an_earlier_build_still_load() {
    use stagecraft_model::action::ActionOutcome;
    use stagecraft_model::deploy::{Outcome, Phase};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let old_plan = r#"{"stage":"qa","account_id":"2","profile":"qa","protected":false,"steps":[
        {"phase":1,"tool":"terraform","title":"terraform apply (workspace qa)","command":["terraform","apply"],"dir":"infra","profile":"qa","reason":"core first"},
        {"phase":2,"tool":"serverless","title":"deploy auth","command":["serverless","deploy"],"dir":"services/auth","profile":"qa","reason":"no dependency"},
        {"phase":3,"tool":"terraform","title":"terraform apply (post-deploy)","command":["terraform","apply"],"dir":"infra","profile":"qa","reason":"mapping"}]}"#;
    store
        .conn
        .execute_batch(&format!(
            "INSERT INTO deploy_runs (stage, account_id, started_at, finished_at, who, plan, outcome)
             VALUES ('qa', '2', '2026-11-01T10:00:00Z', '2026-11-01T10:01:00Z', 'ana', '{old_plan}', 'failed');
             INSERT INTO deploy_steps VALUES (1, 0, 'terraform apply (workspace qa)', 'succeeded', 0, 900, 'ok');
             INSERT INTO deploy_steps VALUES (1, 1, 'deploy auth', 'cancelled', NULL, 20, '');
             INSERT INTO actions (at, who, action, account_id, stage, resource_id, resource_name, outcome, message)
             VALUES ('2026-11-01T09:00:00Z', 'ana', 'restore_secret', '2', 'qa', 'arn:s', 's', 'done', 'restored');"
        ))
        .unwrap();
    let runs = store.runs(Some("qa")).unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.outcome, Outcome::Failed);
    let steps: Vec<Outcome> = run.steps.iter().map(|s| s.outcome).collect();
    assert_eq!(steps, [Outcome::Succeeded, Outcome::Cancelled]);
    let phases: Vec<Phase> = run
        .plan
        .as_ref()
        .expect("the old plan reads")
        .steps
        .iter()
        .map(|s| s.phase)
        .collect();
    assert_eq!(
        phases,
        [Phase::Terraform, Phase::Services, Phase::PostDeploy]
    );
    assert_eq!(store.actions().unwrap()[0].outcome, ActionOutcome::Done);
    // A word no build wrote is an error, not a silently different run.
    store
        .conn
        .execute("UPDATE deploy_runs SET outcome = 'exploded'", [])
        .unwrap();
    let err = store.runs(None).unwrap_err().to_string();
    assert!(err.contains("exploded"), "{err}");
}

/// Eight connections (as eight processes would) open one store at once, new and then at an old
/// schema version: every one opens it, the schema is made once, and every one gets the same hash
/// key (a second key would make the first one's hashes incomparable).
#[test]
fn a_store_opened_by_many_at_once_is_made_once_with_one_hash_key() {
    let dir = tempfile::tempdir().unwrap();
    let open_all = |path: std::path::PathBuf| {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let store = Store::open(&path).map_err(|e| e.to_string())?;
                    store.hash_key().map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    };
    let keys = open_all(dir.path().join("new.db"));
    assert!(keys.iter().all(Result::is_ok), "{keys:?}");
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "one hash key");

    // A store an earlier build left at schema 1, with a snapshot and a key in it.
    let old = dir.path().join("old.db");
    let key = {
        let s = Store::open(&old).unwrap();
        s.hash_key().unwrap()
    };
    Connection::open(&old)
        .unwrap()
        .execute_batch("DROP TABLE actions; DROP TABLE deploy_steps; DROP TABLE deploy_runs; PRAGMA user_version = 1;")
        .unwrap();
    let keys = open_all(old.clone());
    assert!(keys.iter().all(|k| k.as_ref() == Ok(&key)), "{keys:?}");
    let version: i64 = Connection::open(&old)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// A store another process holds too long is named as busy, and the advice to move the file aside
/// is only for a damaged one.
#[test]
fn a_busy_store_is_not_called_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let failure = |code| {
        store
            .open_failure(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
            .to_string()
    };
    let busy = failure(rusqlite::ffi::SQLITE_BUSY);
    assert!(
        busy.contains("another Stagecraft process") && busy.contains("the store itself is fine"),
        "{busy}"
    );
    assert!(!busy.contains("move it aside"), "{busy}");
    let damaged = failure(rusqlite::ffi::SQLITE_CORRUPT);
    assert!(damaged.contains("move it aside"), "{damaged}");
}
