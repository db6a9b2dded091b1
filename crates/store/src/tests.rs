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
        changes: Vec::new(),
        feed: Vec::new(),
        refreshed: false,
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
fn the_last_snapshots_history_is_read_without_its_resources() {
    use stagecraft_model::change::{ChangeEvent, FeedRead, Provenance, Tool};
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let change = ChangeEvent {
        id: "e1".into(),
        at: "2026-11-29T00:00:00Z".into(),
        account_id: "1".into(),
        region: "us-east-1".into(),
        source: "s3.amazonaws.com".into(),
        action: "PutBucketTagging".into(),
        who: "user bob".into(),
        who_arn: None,
        tool: Tool::Cli,
        user_agent: "aws-cli/2".into(),
        targets: Vec::new(),
        window_days: None,
    };
    let mut changed = res("a", Owner::Unmanaged);
    changed.changed = Some(Box::new(Provenance {
        created: None,
        last_change: Some(change.clone()),
    }));
    let mut first = report(vec![changed]);
    first.changes = vec![change];
    first.feed = vec![FeedRead {
        account_id: "1".into(),
        region: "us-east-1".into(),
        since: "2026-11-22T00:00:00Z".into(),
        until: "2026-11-29T00:00:00Z".into(),
        events: 1,
        error: None,
    }];
    let id = store.save(&first).unwrap();
    assert_eq!(store.load(id).unwrap(), first, "the history round-trips");
    let head = store.latest_head_in("o-1").unwrap().unwrap();
    assert!(head.resources.is_empty());
    assert_eq!((head.changes, head.feed), (first.changes, first.feed));
    assert!(store.latest_head_in("o-other").unwrap().is_none());
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
fn a_diff_says_who_changed_and_who_deleted_since_the_older_snapshot() {
    use stagecraft_model::change::{ChangeEvent, ChangeTarget, Provenance, Tool};
    let event = |id: &str, at: &str, action: &str, target: &str| ChangeEvent {
        id: id.into(),
        at: at.into(),
        account_id: "1".into(),
        region: "us-east-1".into(),
        source: "s3.amazonaws.com".into(),
        action: action.into(),
        who: "user alice".into(),
        who_arn: None,
        tool: Tool::Console,
        user_agent: String::new(),
        targets: vec![ChangeTarget {
            type_name: None,
            name: target.into(),
        }],
        window_days: None,
    };
    let a = report(vec![
        res("keep", Owner::Unmanaged),
        res("gone", Owner::Unmanaged),
        res("old-news", Owner::Unmanaged),
    ]);
    let mut keep = res("keep", Owner::Unmanaged);
    keep.tags.insert("team".into(), "core".into());
    let tagged = event("e1", "2026-11-29T10:00:00Z", "PutBucketTagging", "keep");
    keep.changed = Some(Box::new(Provenance {
        created: None,
        last_change: Some(tagged.clone()),
    }));
    let mut b = report(vec![keep]);
    b.changes = vec![
        tagged.clone(),
        event("e2", "2026-11-29T09:00:00Z", "DeleteBucket", "gone"),
        // Deleted before the older snapshot was taken: not this diff's.
        event("e3", "2026-11-28T09:00:00Z", "DeleteBucket", "old-news"),
    ];
    let d = diff(&a, &b, Some(1), Some(2));
    assert_eq!(d.changed[0].by.as_ref(), Some(&tagged));
    assert_eq!(d.removed_by.get("gone").map(|c| c.id.as_str()), Some("e2"));
    assert!(!d.removed_by.contains_key("old-news"));
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
        .execute_batch("DROP TABLE bucket_sightings; DROP TABLE actions; DROP TABLE deploy_steps; DROP TABLE deploy_runs; PRAGMA user_version = 1;")
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

/// Pruning keeps the newest snapshots the retention asks for (never fewer than the newest one),
/// never touches deploy runs or action records, and forgets no bucket seen recently: the deletions
/// view still knows a bucket only a pruned snapshot saw.
#[test]
fn pruning_keeps_the_newest_snapshots_every_run_and_every_recent_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let at = |days_ago: i64| {
        (now - time::Duration::days(days_ago))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    // Six snapshots, 5 days apart, the oldest first; only the first saw bucket `gone`.
    let mut ids = Vec::new();
    for (n, days_ago) in [25, 20, 15, 10, 5, 0].into_iter().enumerate() {
        let mut resources = vec![res("kept", Owner::Unmanaged)];
        if n == 0 {
            resources.push(res("gone", Owner::Unmanaged));
        }
        let mut r = report(resources);
        r.started_at = at(days_ago);
        ids.push(store.save(&r).unwrap());
    }
    let plan = stagecraft_model::deploy::Plan {
        stage: "qa".into(),
        account_id: None,
        profile: "qa".into(),
        protected: false,
        state_location: None,
        steps: Vec::new(),
    };
    let run = store.start_run(&plan, "someone", &at(24)).unwrap();
    store
        .finish_run(run, stagecraft_model::deploy::Outcome::Succeeded, &at(24))
        .unwrap();
    let listed = |s: &Store| {
        s.list()
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect::<Vec<_>>()
    };

    let pruned = store
        .prune(Retention {
            keep: 4,
            keep_days: None,
        })
        .unwrap();
    assert_eq!(pruned, ids[..2]);
    assert_eq!(listed(&store), [ids[5], ids[4], ids[3], ids[2]]);
    assert!(matches!(
        store.load(ids[0]),
        Err(StoreError::NoSuchSnapshot(_))
    ));
    let resources: i64 = store
        .conn
        .query_row("SELECT count(*) FROM resources", [], |r| r.get(0))
        .unwrap();
    assert_eq!(resources, 4, "a pruned snapshot's resources go with it");

    // An age limit applies on top of the count, and the newest is kept whatever its age.
    let pruned = store
        .prune(Retention {
            keep: 4,
            keep_days: Some(12),
        })
        .unwrap();
    assert_eq!(pruned, [ids[2]]);
    assert_eq!(
        store
            .prune(Retention {
                keep: 1,
                keep_days: Some(0),
            })
            .unwrap(),
        [ids[3], ids[4]]
    );
    assert_eq!(listed(&store), [ids[5]]);

    // What is never pruned.
    assert_eq!(store.runs(None).unwrap().len(), 1);
    let gone: Vec<String> = store
        .recently_seen_buckets("o-1")
        .unwrap()
        .into_iter()
        .map(|b| b.resource.id)
        .collect();
    assert_eq!(gone, ["gone", "kept"]);
}

/// A store written before bucket sightings were kept learns them from its snapshots.
#[test]
fn an_older_store_learns_its_bucket_sightings_from_its_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let mut store = Store::open(&path).unwrap();
        let mut first = report(vec![res("a", Owner::Unmanaged)]);
        first.started_at = "2026-11-01T00:00:00Z".into();
        store.save(&first).unwrap();
        let mut second = report(vec![res("a", Owner::Unmanaged), res("b", Owner::Unmanaged)]);
        second.started_at = "2026-11-02T00:00:00Z".into();
        store.save(&second).unwrap();
    }
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE bucket_sightings; PRAGMA user_version = 3;")
        .unwrap();
    let store = Store::open(&path).unwrap();
    let seen: Vec<(String, String)> = store
        .buckets_seen_since("o-1", "2026-10-01T00:00:00Z")
        .unwrap()
        .into_iter()
        .map(|b| (b.resource.id, b.last_seen))
        .collect();
    assert_eq!(
        seen,
        [
            ("a".to_owned(), "2026-11-02T00:00:00Z".to_owned()),
            ("b".to_owned(), "2026-11-02T00:00:00Z".to_owned())
        ]
    );
}

/// Six threads opening, keying, reading and writing one new store at once, a hundred times over:
/// switching a new file to WAL is the one step SQLite does not wait on, and it failed with
/// `database is locked` within a few rounds before it was retried.
#[test]
fn a_new_store_opened_and_written_by_many_at_once_never_reports_it_locked() {
    for round in 0..100 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let path = path.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || -> Result<(), String> {
                    barrier.wait();
                    let mut store = Store::open(&path).map_err(|e| e.to_string())?;
                    store.hash_key().map_err(|e| e.to_string())?;
                    if i % 2 == 0 {
                        store.list().map_err(|e| e.to_string())?;
                    }
                    store
                        .save(&report(vec![res("a", Owner::Unmanaged)]))
                        .map_err(|e| e.to_string())?;
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.list().unwrap().len(),
            6,
            "round {round}: every save is there"
        );
    }
}

/// Scans storing and pruning one store at once (each a read then a write inside one transaction):
/// none is told the store is locked, and what pruning keeps is there at the end.
#[test]
fn concurrent_saves_and_prunes_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    Store::open(&path).unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let mut store = Store::open(&path).map_err(|e| e.to_string())?;
                barrier.wait();
                for _ in 0..15 {
                    store
                        .save(&report(vec![res("a", Owner::Unmanaged)]))
                        .map_err(|e| format!("save: {e}"))?;
                    store
                        .prune(Retention {
                            keep: 3,
                            keep_days: None,
                        })
                        .map_err(|e| format!("prune: {e}"))?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert_eq!(Store::open(&path).unwrap().list().unwrap().len(), 3);
}

fn of_org(org: &str, management: &str, profile: &str, resources: Vec<Resource>) -> ScanReport {
    let mut r = report(resources);
    r.organization.id = org.into();
    r.organization.management_account_id = management.into();
    r.profile = profile.into();
    r
}

/// Two organizations in one store: each has its own history, its own previous snapshot, its own
/// retention and its own bucket sightings; the profile a snapshot was taken with says which
/// organization it reaches.
#[test]
fn two_organizations_in_one_store_keep_their_histories_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let main = |resources| of_org("o-main", "111111111111", "main", resources);
    let other = |resources| of_org("o-other", "222222222222", "client", resources);
    let m1 = store
        .save(&main(vec![res("m-bucket", Owner::Unmanaged)]))
        .unwrap();
    let o1 = store
        .save(&other(vec![res("o-bucket", Owner::Unmanaged)]))
        .unwrap();
    let m2 = store
        .save(&main(vec![res("m-bucket", Owner::Unmanaged)]))
        .unwrap();
    let o2 = store.save(&other(vec![])).unwrap();

    assert_eq!(store.previous_id(m2).unwrap(), Some(m1), "not {o1}");
    assert_eq!(store.previous_id(o2).unwrap(), Some(o1));
    assert_eq!(
        store.previous_id(m1).unwrap(),
        None,
        "the first of its organization"
    );
    assert_eq!(store.latest_id_in(Some("o-main")).unwrap(), Some(m2));
    assert_eq!(store.latest_id().unwrap(), Some(o2));
    assert_eq!(
        store
            .list_in(Some("o-main"))
            .unwrap()
            .iter()
            .map(|s| (s.id, s.management_account_id.as_str()))
            .collect::<Vec<_>>(),
        [(m2, "111111111111"), (m1, "111111111111")]
    );
    let orgs = store.organizations().unwrap();
    assert_eq!(
        orgs.iter()
            .map(|o| (
                o.id.as_str(),
                o.latest_snapshot,
                o.snapshots,
                o.profile.as_str()
            ))
            .collect::<Vec<_>>(),
        [("o-other", o2, 2, "client"), ("o-main", m2, 2, "main")]
    );
    assert_eq!(
        store.organization_of_profile("main").unwrap().as_deref(),
        Some("o-main")
    );
    assert_eq!(store.organization_of_profile("nobody").unwrap(), None);

    // o-other's bucket is gone from o-other; it was never o-main's.
    let seen = |org: &str| -> Vec<String> {
        store
            .buckets_seen_since(org, "2026-01-01T00:00:00Z")
            .unwrap()
            .into_iter()
            .map(|b| b.resource.id)
            .collect()
    };
    assert_eq!(seen("o-main"), ["m-bucket"]);
    assert_eq!(seen("o-other"), ["o-bucket"]);

    // Retention counts per organization: keeping one each keeps both newest.
    let pruned = store
        .prune(Retention {
            keep: 1,
            keep_days: None,
        })
        .unwrap();
    assert_eq!(pruned, [m1, o1]);
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [o2, m2]
    );
}

/// A store written at schema 4 (one organization per store) names each snapshot's management
/// account from its report and files every bucket sighting under an organization.
#[test]
fn a_schema_4_store_learns_each_snapshots_organization() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE snapshots (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL,
                 duration_ms INTEGER NOT NULL, profile TEXT NOT NULL,
                 organization_id TEXT NOT NULL, accounts INTEGER NOT NULL,
                 accounts_with_errors INTEGER NOT NULL, resources INTEGER NOT NULL,
                 report TEXT NOT NULL);
             CREATE TABLE resources (
                 snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                 position INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL,
                 account_id TEXT NOT NULL, owner_kind TEXT NOT NULL, body TEXT NOT NULL,
                 PRIMARY KEY (snapshot_id, position));
             CREATE TABLE actions (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
                 who TEXT NOT NULL, action TEXT NOT NULL, account_id TEXT NOT NULL, stage TEXT,
                 resource_id TEXT NOT NULL, resource_name TEXT NOT NULL, outcome TEXT NOT NULL,
                 message TEXT NOT NULL);
             CREATE TABLE deploy_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL,
                 account_id TEXT, started_at TEXT NOT NULL, finished_at TEXT, who TEXT NOT NULL,
                 plan TEXT NOT NULL, outcome TEXT NOT NULL);
             CREATE TABLE deploy_steps (run_id INTEGER NOT NULL, position INTEGER NOT NULL,
                 title TEXT NOT NULL, outcome TEXT NOT NULL, exit_code INTEGER,
                 duration_ms INTEGER NOT NULL, log TEXT NOT NULL, PRIMARY KEY (run_id, position));
             CREATE TABLE bucket_sightings (id TEXT PRIMARY KEY, body TEXT NOT NULL,
                 last_seen TEXT NOT NULL);
             PRAGMA user_version = 4;",
        )
        .unwrap();
        let head = of_org("o-old", "333333333333", "master", vec![]);
        let body = serde_json::to_string(&res("still", Owner::Unmanaged)).unwrap();
        conn.execute(
            "INSERT INTO snapshots (started_at, duration_ms, profile, organization_id, accounts,
                 accounts_with_errors, resources, report)
             VALUES ('2026-11-20T00:00:00Z', 1, 'master', 'o-old', 0, 0, 1, ?1)",
            [serde_json::to_string(&head).unwrap()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO resources VALUES (1, 0, 'still', 'AWS::S3::Bucket', '1', 'none', ?1)",
            [&body],
        )
        .unwrap();
        // A sighting whose snapshot was pruned, and one still backed by a snapshot.
        let pruned = serde_json::to_string(&res("pruned", Owner::Unmanaged)).unwrap();
        conn.execute(
            "INSERT INTO bucket_sightings VALUES ('pruned', ?1, '2026-11-10T00:00:00Z'),
                                                 ('still', ?2, '2026-11-20T00:00:00Z')",
            [&pruned, &body],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let list = store.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].management_account_id, "333333333333");
    assert_eq!(store.organizations().unwrap()[0].id, "o-old");
    let seen: Vec<String> = store
        .buckets_seen_since("o-old", "2026-11-01T00:00:00Z")
        .unwrap()
        .into_iter()
        .map(|b| b.resource.id)
        .collect();
    assert_eq!(seen, ["pruned", "still"]);
    assert_eq!(store.load(1).unwrap().resources.len(), 1);
}

fn stack(name: &str) -> StackFacts {
    StackFacts::new(
        "1",
        "us-east-1",
        name,
        format!("arn:aws:cloudformation:us-east-1:1:stack/{name}/x"),
        "CREATE_COMPLETE",
    )
}

/// Stacks are rows of their own (the head stays small), read back in order; a snapshot stored
/// before, with its stacks in its head, still reads them.
#[test]
fn stacks_are_rows_and_a_snapshot_with_them_in_its_head_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let mut now = report(vec![res("a", Owner::Unmanaged)]);
    now.stacks = vec![stack("api-dev"), stack("core-dev")];
    let id = store.save(&now).unwrap();
    let head: String = store
        .conn
        .query_row("SELECT report FROM snapshots WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!head.contains("api-dev"), "stacks in the head: {head}");
    assert_eq!(store.load(id).unwrap(), now);

    // As a schema-5 store wrote it: stacks inside the head, no rows.
    let old = {
        let mut old = report(Vec::new());
        old.stacks = vec![stack("legacy-dev")];
        old.started_at = "2026-11-30T00:00:00Z".into();
        old
    };
    store
        .conn
        .execute(
            "INSERT INTO snapshots (started_at, duration_ms, profile, organization_id, accounts,
                                    accounts_with_errors, resources, report, management_account_id)
             VALUES (?1, 1, 'master', 'o-1', 0, 0, 0, ?2, '1')",
            params![old.started_at, serde_json::to_string(&old).unwrap()],
        )
        .unwrap();
    let old_id = store.conn.last_insert_rowid();
    assert_eq!(store.load(old_id).unwrap(), old);
    let mut out = Vec::new();
    store.write_json(old_id, &mut out, false).unwrap();
    let printed: ScanReport = serde_json::from_slice(&out).unwrap();
    assert_eq!(printed, old);
}

/// A snapshot written out streams exactly what loading it gives, pretty or not.
#[test]
fn a_snapshot_written_out_as_json_is_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let mut now = report(vec![res("b", Owner::Unmanaged), res("a", Owner::Unmanaged)]);
    now.stacks = vec![stack("api-dev")];
    let id = store.save(&now).unwrap();
    for pretty in [false, true] {
        let mut out = Vec::new();
        store.write_json(id, &mut out, pretty).unwrap();
        let expected = if pretty {
            serde_json::to_vec_pretty(&now).unwrap()
        } else {
            serde_json::to_vec(&now).unwrap()
        };
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
    assert!(matches!(
        store.write_json(id + 1, Vec::new(), false),
        Err(StoreError::NoSuchSnapshot(_))
    ));
}

/// A snapshot written a part at a time is seen only once finished; one dropped half-way leaves
/// the store as it was.
#[test]
fn a_snapshot_written_in_parts_is_seen_only_when_finished() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let now = report(vec![res("a", Owner::Unmanaged), res("b", Owner::Unmanaged)]);
    {
        let mut w = store.writer("o-1", &now.started_at).unwrap();
        w.resources(&now.resources[..1]).unwrap();
        // Dropped: a scan stopped half-way.
    }
    assert!(store.latest().unwrap().is_none());
    assert!(store
        .buckets_seen_since("o-1", "2026-01-01T00:00:00Z")
        .unwrap()
        .is_empty());
    let mut w = store.writer("o-1", &now.started_at).unwrap();
    w.resources(&now.resources[..1]).unwrap();
    w.resources(&now.resources[1..]).unwrap();
    let id = w.finish(&now).unwrap();
    assert_eq!(store.load(id).unwrap(), now);
    assert_eq!(store.list().unwrap()[0].resources, 2);
    // Finished as another scan than it was begun for: refused, nothing stored.
    let w = store.writer("o-2", &now.started_at).unwrap();
    assert!(w.finish(&now).is_err());
    assert_eq!(store.list().unwrap().len(), 1);
}
