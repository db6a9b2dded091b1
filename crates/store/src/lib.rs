//! Snapshots in SQLite: every scan is stored, the app opens on the last one instantly, and two
//! snapshots can be diffed ("what changed since the last review").
//!
//! One file (the platform's data dir, or `STAGECRAFT_STORE`), WAL mode, every write in a transaction:
//! a crash mid-save leaves the previous snapshots intact. Resources are rows of their own so later
//! queries (a resource's history) need no JSON scan of whole reports.

mod diff;
pub mod spool;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use diff::{diff, FieldChange, ResourceChange, SnapshotDiff};

use stagecraft_model::action::ActionOutcome;
use stagecraft_model::deletion::{GoneBucket, GONE_BUCKET_DAYS};
use stagecraft_model::deploy::Outcome;
use stagecraft_model::{AccountStatus, Resource, ScanReport, StackFacts};

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 6;

/// How long an open or a write waits for another process holding the store.
const BUSY_TIMEOUT_MS: u64 = 15_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("snapshot store {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "snapshot store {path} was written by a newer Stagecraft (schema {found}, this build knows {known}); \
         upgrade Stagecraft or point STAGECRAFT_STORE at another file"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("snapshot store {path}: {message}")]
    Sql { path: PathBuf, message: String },
    #[error("cannot serialise {what} for the snapshot store: {message}")]
    Serialise { what: String, message: String },
    #[error("snapshot {0} does not exist; `stagecraft snapshots` lists them")]
    NoSuchSnapshot(i64),
    #[error("snapshot {id} in {path} cannot be read: {message}")]
    Corrupt {
        path: PathBuf,
        id: i64,
        message: String,
    },
}

/// One stored scan, as the history list shows it.
/// Which snapshots pruning keeps: the newest `keep`, and of those only the ones younger than
/// `keep_days` when it is set; the newest snapshot always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub keep: usize,
    pub keep_days: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct SnapshotSummary {
    #[ts(type = "number")]
    pub id: i64,
    pub started_at: String,
    #[ts(type = "number")]
    pub duration_ms: u64,
    pub profile: String,
    pub organization_id: String,
    pub accounts: u32,
    /// Accounts that ended in `error` or `partial`.
    pub accounts_with_errors: u32,
    pub resources: u32,
    /// The organization's management account.
    pub management_account_id: String,
}

/// An organization the store holds snapshots of, as the window's switcher and
/// `stagecraft snapshots --organizations` show it.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct OrganizationSummary {
    pub id: String,
    pub management_account_id: String,
    /// The profile (or sign-in profile) of its newest snapshot.
    pub profile: String,
    /// When its newest snapshot started.
    pub last_scan: String,
    #[ts(type = "number")]
    pub latest_snapshot: i64,
    /// Accounts in its newest snapshot.
    pub accounts: u32,
    pub snapshots: u32,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// `STAGECRAFT_STORE`, else `<data dir>/stagecraft/stagecraft.db` (`~/.local/share/…` on Linux).
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("STAGECRAFT_STORE").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("stagecraft")
            .join("stagecraft.db")
    }

    /// Opens (creating if needed) and migrates the store.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_owned(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        let store = Store {
            conn,
            path: path.to_owned(),
        };
        store.migrate().map_err(|e| match e {
            StoreError::Sql { message, .. } => open_err(message),
            other => other,
        })?;
        Ok(store)
    }
    /// SQLite's own check of the file (`PRAGMA quick_check`): `Ok(())` when it is sound, else what
    /// it found.
    pub fn check(&self) -> Result<(), StoreError> {
        let found: Vec<String> = self
            .conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut st| {
                st.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| self.sql(e))?;
        if found == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Sql {
                path: self.path.clone(),
                message: format!("damaged: {}", found.join("; ")),
            })
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// What a failed open says: damage only when SQLite says the file is damaged (then moving it
    /// aside is the way out); another process holding the store otherwise, never advice to move a
    /// healthy store (its snapshots, deploy runs and hash key) aside.
    fn open_failure(&self, e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        let message = match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => format!(
                "{e}: the file is damaged or not a Stagecraft store; move it aside (keep it: it may hold \
                 snapshots and deploy runs) and Stagecraft starts a new one"
            ),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
                "{e}: another Stagecraft process (the window, a scan, a deploy) held it for over {} s; \
                 try again when it is done — the store itself is fine",
                BUSY_TIMEOUT_MS / 1000
            ),
            _ => e.to_string(),
        };
        StoreError::Sql {
            path: self.path.clone(),
            message,
        }
    }

    /// Brings the schema to this build's version. Safe when several processes open a new or old
    /// store at once: the wait for a busy store is set first, and the version is read and every
    /// migration applied in one transaction that holds the write lock from its start, so a second
    /// process waits, then sees the schema the first one made.
    fn migrate(&self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(|e| self.open_failure(e))?;
        self.wal().map_err(|e| self.open_failure(e))?;
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| self.open_failure(e))?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.open_failure(e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.open_failure(e))?;
        let result = self.migrate_locked();
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self
            .conn
            .execute_batch(end)
            .map_err(|e| self.open_failure(e));
        result.and(ended)
    }

    /// Puts the file in WAL mode. Switching a new file's journal mode needs a lock SQLite does not
    /// wait for (the busy handler is not called: measured, several processes opening a new store
    /// at once got `database is locked` at once), so the switch is retried here for as long as any
    /// other wait for the store.
    fn wal(&self) -> Result<(), rusqlite::Error> {
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(BUSY_TIMEOUT_MS);
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let mode = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
            match mode {
                Err(e)
                    if matches!(
                        e.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(100));
                }
                other => return other.map(drop),
            }
        }
    }

    /// The migrations, inside the write transaction [`migrate`] holds.
    fn migrate_locked(&self) -> Result<(), StoreError> {
        // Read again under the lock: another process may have migrated meanwhile.
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.open_failure(e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            self.conn
                .execute_batch(
                    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
                     CREATE TABLE snapshots (
                         id INTEGER PRIMARY KEY AUTOINCREMENT,
                         started_at TEXT NOT NULL,
                         duration_ms INTEGER NOT NULL,
                         profile TEXT NOT NULL,
                         organization_id TEXT NOT NULL,
                         accounts INTEGER NOT NULL,
                         accounts_with_errors INTEGER NOT NULL,
                         resources INTEGER NOT NULL,
                         report TEXT NOT NULL
                     );
                     CREATE TABLE resources (
                         snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                         position INTEGER NOT NULL,
                         id TEXT NOT NULL,
                         type TEXT NOT NULL,
                         account_id TEXT NOT NULL,
                         owner_kind TEXT NOT NULL,
                         body TEXT NOT NULL,
                         PRIMARY KEY (snapshot_id, position)
                     );
                     CREATE INDEX resources_by_id ON resources (id, snapshot_id);
                     PRAGMA user_version = 1;",
                )
                .map_err(|e| self.sql(e))?;
        }
        if version < 2 {
            // Actions taken from Stagecraft (restore a secret, cancel a key deletion): who, when, what.
            self.conn
                .execute_batch(
                    "CREATE TABLE actions (
                         id INTEGER PRIMARY KEY AUTOINCREMENT,
                         at TEXT NOT NULL,
                         who TEXT NOT NULL,
                         action TEXT NOT NULL,
                         account_id TEXT NOT NULL,
                         stage TEXT,
                         resource_id TEXT NOT NULL,
                         resource_name TEXT NOT NULL,
                         outcome TEXT NOT NULL,
                         message TEXT NOT NULL
                     );
                     PRAGMA user_version = 2;",
                )
                .map_err(|e| self.sql(e))?;
        }
        if version < 3 {
            // Deploy runs: the plan, who and when, and each step's outcome, exit code, time and log.
            self.conn
                .execute_batch(
                    "CREATE TABLE deploy_runs (
                         id INTEGER PRIMARY KEY AUTOINCREMENT,
                         stage TEXT NOT NULL,
                         account_id TEXT,
                         started_at TEXT NOT NULL,
                         finished_at TEXT,
                         who TEXT NOT NULL,
                         plan TEXT NOT NULL,
                         outcome TEXT NOT NULL
                     );
                     CREATE TABLE deploy_steps (
                         run_id INTEGER NOT NULL REFERENCES deploy_runs(id) ON DELETE CASCADE,
                         position INTEGER NOT NULL,
                         title TEXT NOT NULL,
                         outcome TEXT NOT NULL,
                         exit_code INTEGER,
                         duration_ms INTEGER NOT NULL,
                         log TEXT NOT NULL,
                         PRIMARY KEY (run_id, position)
                     );
                     PRAGMA user_version = 3;",
                )
                .map_err(|e| self.sql(e))?;
        }
        if version < 4 {
            // The last sighting of every bucket, kept apart from the snapshots so pruning old
            // snapshots never forgets a bucket deleted recently (its name may still be held).
            self.conn
                .execute_batch(
                    "CREATE TABLE bucket_sightings (
                         id TEXT PRIMARY KEY,
                         body TEXT NOT NULL,
                         last_seen TEXT NOT NULL
                     );
                     INSERT OR REPLACE INTO bucket_sightings (id, body, last_seen)
                         SELECT r.id, r.body, s.started_at FROM resources r
                         JOIN snapshots s ON s.id = r.snapshot_id
                         WHERE r.type = 'AWS::S3::Bucket' ORDER BY s.id;
                     PRAGMA user_version = 4;",
                )
                .map_err(|e| self.sql(e))?;
        }
        if version < 5 {
            let has_column: bool = self
                .conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('snapshots')
                     WHERE name = 'management_account_id'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(|e| self.sql(e))?
                > 0;
            if !has_column {
                self.conn
                    .execute_batch(
                        "ALTER TABLE snapshots
                         ADD COLUMN management_account_id TEXT NOT NULL DEFAULT '';",
                    )
                    .map_err(|e| self.sql(e))?;
            }
            // Several organizations in one store: each snapshot names its management account too,
            // history is read per organization, and bucket sightings are kept per organization (a
            // bucket another organization saw is not "deleted recently" from this one). Sightings
            // still backed by a stored snapshot get its organization; older ones (their snapshots
            // pruned) the organization of the newest snapshot, which is exact for a store that
            // held one organization, the only kind there was.
            self.conn
                .execute_batch(
                    "UPDATE snapshots SET management_account_id =
                         coalesce(json_extract(report, '$.organization.management_account_id'), '');
                     CREATE INDEX IF NOT EXISTS snapshots_by_organization ON snapshots (organization_id, id);
                     CREATE TABLE sightings (
                         organization_id TEXT NOT NULL,
                         id TEXT NOT NULL,
                         body TEXT NOT NULL,
                         last_seen TEXT NOT NULL,
                         PRIMARY KEY (organization_id, id)
                     );
                     INSERT OR REPLACE INTO sightings (organization_id, id, body, last_seen)
                         SELECT s.organization_id, r.id, r.body, s.started_at FROM resources r
                         JOIN snapshots s ON s.id = r.snapshot_id
                         WHERE r.type = 'AWS::S3::Bucket' ORDER BY s.id;
                     INSERT OR IGNORE INTO sightings (organization_id, id, body, last_seen)
                         SELECT (SELECT organization_id FROM snapshots ORDER BY id DESC LIMIT 1),
                                b.id, b.body, b.last_seen
                         FROM bucket_sightings b
                         WHERE EXISTS (SELECT 1 FROM snapshots);
                     DROP TABLE bucket_sightings;
                     ALTER TABLE sightings RENAME TO bucket_sightings;
                     PRAGMA user_version = 5;",
                )
                .map_err(|e| self.sql(e))?;
        }
        if version < 6 {
            // Stacks are rows of their own, as resources are: a snapshot's head stays small
            // whatever the organization's size. Older snapshots keep theirs in the head.
            self.conn
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS stacks (
                         snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                         position INTEGER NOT NULL,
                         account_id TEXT NOT NULL,
                         body TEXT NOT NULL,
                         PRIMARY KEY (snapshot_id, position)
                     );
                     PRAGMA user_version = 6;",
                )
                .map_err(|e| self.sql(e))?;
        }
        Ok(())
    }

    /// Starts a deploy run (outcome `running`) and returns its id.
    pub fn start_run(
        &self,
        plan: &stagecraft_model::deploy::Plan,
        who: &str,
        started_at: &str,
    ) -> Result<i64, StoreError> {
        let plan_json = serde_json::to_string(plan).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO deploy_runs (stage, account_id, started_at, who, plan, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
                params![plan.stage, plan.account_id, started_at, who, plan_json],
            )
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records (or replaces, on a retry) one step of a run.
    pub fn record_step(
        &self,
        run_id: i64,
        step: &stagecraft_model::deploy::StepResult,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO deploy_steps (run_id, position, title, outcome, exit_code, duration_ms, log)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run_id,
                    step.index,
                    step.title,
                    step.outcome.as_str(),
                    step.exit_code,
                    i64::try_from(step.duration_ms).unwrap_or(i64::MAX),
                    step.log
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Ends a run with `outcome`.
    pub fn finish_run(
        &self,
        run_id: i64,
        outcome: Outcome,
        finished_at: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE deploy_runs SET outcome = ?2, finished_at = ?3 WHERE id = ?1",
                params![run_id, outcome.as_str(), finished_at],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Runs still `running` that no live process holds (the app crashed mid-run) become
    /// `interrupted`; `held` says whether a run id is held by a live lock. Returns their ids.
    pub fn mark_interrupted(&self, held: &dyn Fn(i64) -> bool) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM deploy_runs WHERE outcome = 'running'")
            .map_err(|e| self.sql(e))?;
        let ids: Vec<i64> = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        let gone: Vec<i64> = ids.into_iter().filter(|id| !held(*id)).collect();
        for id in &gone {
            self.conn
                .execute(
                    "UPDATE deploy_runs SET outcome = 'interrupted' WHERE id = ?1",
                    [id],
                )
                .map_err(|e| self.sql(e))?;
        }
        Ok(gone)
    }

    /// Deploy runs, newest first (of one stage, if given), with their steps.
    pub fn runs(
        &self,
        stage: Option<&str>,
    ) -> Result<Vec<stagecraft_model::deploy::DeployRun>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, stage, account_id, started_at, finished_at, who, plan, outcome FROM deploy_runs
                 WHERE ?1 IS NULL OR stage = ?1 ORDER BY id DESC",
            )
            .map_err(|e| self.sql(e))?;
        let heads = stmt
            .query_map([stage], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for (id, stage, account_id, started_at, finished_at, who, plan, outcome) in heads {
            let outcome = Outcome::parse(&outcome).ok_or_else(|| StoreError::Open {
                path: self.path.clone(),
                message: format!(
                    "deploy run {id} has an outcome this build does not know: `{outcome}`"
                ),
            })?;
            let mut steps_stmt = self
                .conn
                .prepare(
                    "SELECT position, title, outcome, exit_code, duration_ms, log FROM deploy_steps
                     WHERE run_id = ?1 ORDER BY position",
                )
                .map_err(|e| self.sql(e))?;
            let steps = steps_stmt
                .query_map([id], |r| {
                    Ok(stagecraft_model::deploy::StepResult {
                        index: r.get(0)?,
                        title: r.get(1)?,
                        outcome: word(r, 2, Outcome::parse)?,
                        exit_code: r.get(3)?,
                        duration_ms: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                        log: r.get(5)?,
                    })
                })
                .map_err(|e| self.sql(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.sql(e))?;
            out.push(stagecraft_model::deploy::DeployRun {
                id,
                stage,
                account_id,
                started_at,
                finished_at,
                who,
                plan: serde_json::from_str(&plan).ok(),
                outcome,
                steps,
            });
        }
        Ok(out)
    }

    /// Records an action (done or failed).
    pub fn record_action(
        &self,
        a: &stagecraft_model::action::ActionRecord,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO actions (at, who, action, account_id, stage, resource_id, resource_name, outcome, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![a.at, a.who, a.action, a.account_id, a.stage, a.resource_id, a.resource_name, a.outcome.as_str(), a.message],
            )
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every recorded action, newest first.
    pub fn actions(&self) -> Result<Vec<stagecraft_model::action::ActionRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at, who, action, account_id, stage, resource_id, resource_name, outcome, message
                 FROM actions ORDER BY id DESC",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(stagecraft_model::action::ActionRecord {
                    at: r.get(0)?,
                    who: r.get(1)?,
                    action: r.get(2)?,
                    account_id: r.get(3)?,
                    stage: r.get(4)?,
                    resource_id: r.get(5)?,
                    resource_name: r.get(6)?,
                    outcome: word(r, 7, ActionOutcome::parse)?,
                    message: r.get(8)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.sql(e))
    }

    /// Buckets the organization's snapshots of the last [`GONE_BUCKET_DAYS`] saw (what `stagecraft_analysis::deletion::pending` checks for
    /// "deleted recently").
    pub fn recently_seen_buckets(&self, organization: &str) -> Result<Vec<GoneBucket>, StoreError> {
        let cutoff = (time::OffsetDateTime::now_utc() - time::Duration::days(GONE_BUCKET_DAYS))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.buckets_seen_since(organization, &cutoff)
    }

    /// Buckets the snapshots since `cutoff` (RFC 3339) saw, each with the start of the last snapshot
    /// that had it: what the deletions view checks for buckets that are gone now.
    pub fn buckets_seen_since(
        &self,
        organization: &str,
        cutoff: &str,
    ) -> Result<Vec<stagecraft_model::deletion::GoneBucket>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT body, last_seen FROM bucket_sightings
                 WHERE organization_id = ?1 AND last_seen >= ?2 ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([organization, cutoff], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (body, at) = row.map_err(|e| self.sql(e))?;
            let Ok(resource) = serde_json::from_str::<Resource>(&body) else {
                continue;
            };
            out.push(stagecraft_model::deletion::GoneBucket {
                resource,
                last_seen: at,
            });
        }
        Ok(out)
    }

    /// Makes `key` the store's key for hashing values (a team's shared key): later snapshots'
    /// hashes compare with the team's, no longer with earlier ones'. Whether the key changed.
    pub fn set_hash_key(&self, key: [u8; 32]) -> Result<bool, StoreError> {
        if self.hash_key()? == key {
            return Ok(false);
        }
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES ('hash_key', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key.to_vec()],
            )
            .map_err(|e| self.sql(e))?;
        Ok(true)
    }

    /// The key for hashing environment values, created on first use and kept in this store so hashes
    /// compare across snapshots (and never travel with an exported report).
    pub fn hash_key(&self) -> Result<[u8; 32], StoreError> {
        let existing: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'hash_key'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        if let Some(bytes) = existing.filter(|b| b.len() == 32) {
            let mut key = [0u8; 32];
            key.copy_from_slice(&bytes);
            return Ok(key);
        }
        // Two processes making the first key at once: the first one written is everybody's (a second
        // key would make the first process's hashes incomparable).
        let key = stagecraft_model::hash::random_key();
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES ('hash_key', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE length(meta.value) != 32",
                params![key.to_vec()],
            )
            .map_err(|e| self.sql(e))?;
        let stored: Vec<u8> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'hash_key'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.sql(e))?;
        let mut out = [0u8; 32];
        if stored.len() == 32 {
            out.copy_from_slice(&stored);
            Ok(out)
        } else {
            Err(StoreError::Sql {
                path: self.path.clone(),
                message: "the stored hash key is not 32 bytes".into(),
            })
        }
    }

    /// Stores a report; returns the snapshot id.
    pub fn save(&mut self, report: &ScanReport) -> Result<i64, StoreError> {
        let mut writer = self.writer(&report.organization.id, &report.started_at)?;
        writer.resources(&report.resources)?;
        writer.stacks(&report.stacks)?;
        writer.finish(report)
    }

    /// Stores a snapshot written a part at a time (a scan's accounts as each is decided), in one
    /// transaction: nothing of it is seen until [`Writer::finish`], and a writer dropped before
    /// then leaves the store as it was.
    pub fn writer(
        &mut self,
        organization_id: &str,
        started_at: &str,
    ) -> Result<Writer<'_>, StoreError> {
        let path = self.path.clone();
        // IMMEDIATE: the write lock is taken (waiting for it) before anything is read. A deferred
        // transaction that reads first cannot upgrade once another process has written since:
        // SQLite then answers "database is locked" at once, without waiting (measured: four
        // scans storing and pruning at once).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, e))?;
        // The row first, its head last: the resources refer to it.
        tx.execute(
            "INSERT INTO snapshots (started_at, duration_ms, profile, organization_id, accounts,
                                    accounts_with_errors, resources, report, management_account_id)
             VALUES (?1, 0, '', ?2, 0, 0, 0, '{}', '')",
            params![started_at, organization_id],
        )
        .map_err(|e| sql_error(&path, e))?;
        let id = tx.last_insert_rowid();
        Ok(Writer {
            tx,
            path,
            id,
            organization_id: organization_id.to_owned(),
            started_at: started_at.to_owned(),
            resources: 0,
            stacks: 0,
        })
    }

    /// Deletes the snapshots `retention` does not keep, counted per organization (never an
    /// organization's newest), and the sightings of
    /// buckets older than the deletions view looks back. Deploy runs and action records are never
    /// deleted. Returns the ids deleted, oldest first.
    pub fn prune(&mut self, retention: Retention) -> Result<Vec<i64>, StoreError> {
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| StoreError::Sql {
            path: path.clone(),
            message: e.to_string(),
        };
        let day = |days: u32| {
            (time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(days)))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        // IMMEDIATE: the write lock is taken (waiting for it) before anything is read. A deferred
        // transaction that reads first cannot upgrade once another process has written since:
        // SQLite then answers "database is locked" at once, without waiting (measured: four
        // scans storing and pruning at once).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let doomed: Vec<i64> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id FROM (
                         SELECT id, started_at, row_number() OVER (
                             PARTITION BY organization_id ORDER BY id DESC
                         ) AS newer_than
                         FROM snapshots
                     )
                     WHERE newer_than > 1
                       AND (newer_than > ?1 OR (?2 IS NOT NULL AND started_at < ?2))
                     ORDER BY id",
                )
                .map_err(sql)?;
            let keep = i64::try_from(retention.keep.max(1)).unwrap_or(i64::MAX);
            let cutoff = retention.keep_days.map(day);
            let rows = stmt
                .query_map(params![keep, cutoff], |r| r.get(0))
                .map_err(sql)?;
            rows.collect::<Result<_, _>>().map_err(sql)?
        };
        for id in &doomed {
            tx.execute("DELETE FROM resources WHERE snapshot_id = ?1", [id])
                .map_err(sql)?;
            tx.execute("DELETE FROM stacks WHERE snapshot_id = ?1", [id])
                .map_err(sql)?;
            tx.execute("DELETE FROM snapshots WHERE id = ?1", [id])
                .map_err(sql)?;
        }
        tx.execute(
            "DELETE FROM bucket_sightings WHERE last_seen < ?1",
            [day(u32::try_from(GONE_BUCKET_DAYS).unwrap_or(u32::MAX))],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(doomed)
    }

    /// Every snapshot, newest first.
    pub fn list(&self) -> Result<Vec<SnapshotSummary>, StoreError> {
        self.list_in(None)
    }

    /// The snapshots of one organization (every one with `None`), newest first.
    pub fn list_in(&self, organization: Option<&str>) -> Result<Vec<SnapshotSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, started_at, duration_ms, profile, organization_id, accounts,
                        accounts_with_errors, resources, management_account_id
                 FROM snapshots WHERE ?1 IS NULL OR organization_id = ?1 ORDER BY id DESC",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([organization], |r| {
                Ok(SnapshotSummary {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    duration_ms: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    profile: r.get(3)?,
                    organization_id: r.get(4)?,
                    accounts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                    accounts_with_errors: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                    resources: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
                    management_account_id: r.get(8)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// The organizations the store holds snapshots of, the most recently scanned first.
    pub fn organizations(&self) -> Result<Vec<OrganizationSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.organization_id, s.management_account_id, s.profile, s.started_at, s.id,
                        s.accounts, (SELECT count(*) FROM snapshots c
                                     WHERE c.organization_id = s.organization_id)
                 FROM snapshots s
                 WHERE s.id IN (SELECT max(id) FROM snapshots GROUP BY organization_id)
                 ORDER BY s.id DESC",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OrganizationSummary {
                    id: r.get(0)?,
                    management_account_id: r.get(1)?,
                    profile: r.get(2)?,
                    last_scan: r.get(3)?,
                    latest_snapshot: r.get(4)?,
                    accounts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
                    snapshots: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// The organization the newest snapshot taken through `profile` is of: what that profile
    /// reaches, as last seen (no AWS call).
    pub fn organization_of_profile(&self, profile: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT organization_id FROM snapshots WHERE profile = ?1 ORDER BY id DESC LIMIT 1",
                [profile],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// The organization of a stored snapshot.
    pub fn organization_of(&self, id: i64) -> Result<String, StoreError> {
        self.conn
            .query_row(
                "SELECT organization_id FROM snapshots WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?
            .ok_or(StoreError::NoSuchSnapshot(id))
    }

    /// The newest snapshot of any organization.
    pub fn latest_id(&self) -> Result<Option<i64>, StoreError> {
        self.latest_id_in(None)
    }

    /// The newest snapshot of one organization (of any with `None`).
    pub fn latest_id_in(&self, organization: Option<&str>) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(id) FROM snapshots WHERE ?1 IS NULL OR organization_id = ?1",
                [organization],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))
    }

    /// The newest snapshot of any organization, if any.
    pub fn latest(&self) -> Result<Option<ScanReport>, StoreError> {
        self.latest_in(None)
    }

    /// The newest snapshot of one organization (of any with `None`), if any.
    pub fn latest_in(&self, organization: Option<&str>) -> Result<Option<ScanReport>, StoreError> {
        match self.latest_id_in(organization)? {
            Some(id) => self.load(id).map(Some),
            None => Ok(None),
        }
    }

    /// The newest snapshot of one organization without its resources: the organization, its
    /// accounts, coverage and CloudTrail history (what a scan reads on from), read at a fraction of
    /// a whole snapshot's cost.
    pub fn latest_head_in(&self, organization: &str) -> Result<Option<ScanReport>, StoreError> {
        match self.latest_id_in(Some(organization))? {
            Some(id) => self.load_head(id).map(Some),
            None => Ok(None),
        }
    }

    /// A stored snapshot without its resources (an older snapshot's head still holds its stacks).
    pub fn load_head(&self, id: i64) -> Result<ScanReport, StoreError> {
        let head: Option<String> = self
            .conn
            .query_row("SELECT report FROM snapshots WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))?;
        let head = head.ok_or(StoreError::NoSuchSnapshot(id))?;
        serde_json::from_str(&head).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            id,
            message: e.to_string(),
        })
    }

    /// A stored report, resources in their original order.
    pub fn load(&self, id: i64) -> Result<ScanReport, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt {
            path: self.path.clone(),
            id,
            message,
        };
        let mut report = self.load_head(id)?;
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM resources WHERE snapshot_id = ?1 ORDER BY position")
            .map_err(|e| self.sql(e))?;
        let bodies = stmt
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(|e| self.sql(e))?;
        for body in bodies {
            let body = body.map_err(|e| self.sql(e))?;
            let r: Resource = serde_json::from_str(&body).map_err(|e| corrupt(e.to_string()))?;
            report.resources.push(r);
        }
        report.stacks = self.load_stacks(id, &report)?;
        Ok(report)
    }

    /// Up to `limit` of a snapshot's resources after position `after` (from the first with
    /// `None`), in their order, as stored: what is read a page at a time instead of whole.
    pub fn resource_rows(
        &self,
        id: i64,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ResourceRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT position, account_id, body FROM resources
                 WHERE snapshot_id = ?1 AND position > ?2 ORDER BY position LIMIT ?3",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(
                params![
                    id,
                    after.unwrap_or(i64::MIN),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok(ResourceRow {
                        position: r.get(0)?,
                        account_id: r.get(1)?,
                        body: r.get(2)?,
                    })
                },
            )
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// A snapshot's stacks (one stored before stacks were rows of their own keeps them in its
    /// head, which `head` is).
    pub fn load_stacks(&self, id: i64, head: &ScanReport) -> Result<Vec<StackFacts>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM stacks WHERE snapshot_id = ?1 ORDER BY position")
            .map_err(|e| self.sql(e))?;
        let bodies = stmt
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for body in bodies {
            let body = body.map_err(|e| self.sql(e))?;
            out.push(
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    id,
                    message: e.to_string(),
                })?,
            );
        }
        if out.is_empty() {
            out.clone_from(&head.stacks);
        }
        Ok(out)
    }

    /// A stored snapshot as the JSON [`ScanReport`] serialises to, written a resource at a time:
    /// a snapshot of any size is printed without being held.
    pub fn write_json(
        &self,
        id: i64,
        out: impl std::io::Write,
        pretty: bool,
    ) -> Result<(), StoreError> {
        let head = self.load_head(id)?;
        let mut resources = self
            .conn
            .prepare("SELECT body FROM resources WHERE snapshot_id = ?1 ORDER BY position")
            .map_err(|e| self.sql(e))?;
        let mut stacks = self
            .conn
            .prepare("SELECT body FROM stacks WHERE snapshot_id = ?1 ORDER BY position")
            .map_err(|e| self.sql(e))?;
        let resources = Rows::<Resource>::new(&mut resources, id);
        // A snapshot stored before stacks were rows of their own keeps them in its head.
        let stacks = Rows::<StackFacts>::new(&mut stacks, id).or(&head.stacks);
        let view = head.view(&resources, &stacks);
        let written = if pretty {
            serde_json::to_writer_pretty(out, &view)
        } else {
            serde_json::to_writer(out, &view)
        };
        written.map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            id,
            message: format!("writing it out: {e}"),
        })
    }

    /// The snapshot of the same organization before `id`, if any.
    pub fn previous_id(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let organization = self.organization_of(id)?;
        self.conn
            .query_row(
                "SELECT max(id) FROM snapshots WHERE id < ?1 AND organization_id = ?2",
                params![id, organization],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))
    }
}

#[cfg(test)]
mod tests;

fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Sql {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// One stored resource: where it is in its snapshot, its account, and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRow {
    pub position: i64,
    pub account_id: String,
    pub body: String,
}

/// Resources and stacks serialised for a [`Writer`], which only inserts them: made on another
/// thread, they let the serialising of one account overlap the inserting of the one before.
#[derive(Debug, Default)]
pub struct Prepared {
    resources: Vec<RowOf>,
    /// (account id, the stack's JSON)
    stacks: Vec<(String, String)>,
}

#[derive(Debug)]
struct RowOf {
    id: String,
    type_name: String,
    account_id: String,
    owner_kind: &'static str,
    body: String,
}

impl Prepared {
    pub fn of(resources: &[Resource], stacks: &[StackFacts]) -> Result<Prepared, StoreError> {
        let json = |what: String, e: serde_json::Error| StoreError::Serialise {
            what,
            message: e.to_string(),
        };
        Ok(Prepared {
            resources: resources
                .iter()
                .map(|r| {
                    Ok(RowOf {
                        body: serde_json::to_string(r).map_err(|e| json(r.id.clone(), e))?,
                        id: r.id.clone(),
                        type_name: r.type_name.clone(),
                        account_id: r.account_id.clone(),
                        owner_kind: r.owner.kind(),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            stacks: stacks
                .iter()
                .map(|s| {
                    let body =
                        serde_json::to_string(s).map_err(|e| json(format!("stack {}", s.id), e))?;
                    Ok((s.account_id.clone(), body))
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }
}

/// A snapshot being stored: its resources and stacks added a part at a time, its head last.
#[derive(Debug)]
pub struct Writer<'s> {
    tx: rusqlite::Transaction<'s>,
    path: PathBuf,
    id: i64,
    organization_id: String,
    started_at: String,
    resources: i64,
    stacks: i64,
}

impl Writer<'_> {
    /// Adds resources after those added before (the snapshot keeps this order).
    pub fn resources(&mut self, resources: &[Resource]) -> Result<(), StoreError> {
        self.add(Prepared::of(resources, &[])?)
    }

    /// Adds stacks after those added before.
    pub fn stacks(&mut self, stacks: &[StackFacts]) -> Result<(), StoreError> {
        self.add(Prepared::of(&[], stacks)?)
    }

    /// Adds rows made ready by [`Prepared::of`] (on any thread) after those added before.
    pub fn add(&mut self, rows: Prepared) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| sql_error(&path, e);
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO resources (snapshot_id, position, id, type, account_id, owner_kind, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(sql)?;
        let mut sighting = self
            .tx
            .prepare_cached(
                "INSERT INTO bucket_sightings (organization_id, id, body, last_seen)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (organization_id, id) DO UPDATE
                 SET body = excluded.body, last_seen = excluded.last_seen
                 WHERE excluded.last_seen >= bucket_sightings.last_seen",
            )
            .map_err(sql)?;
        for r in &rows.resources {
            stmt.execute(params![
                self.id,
                self.resources,
                r.id,
                r.type_name,
                r.account_id,
                r.owner_kind,
                r.body
            ])
            .map_err(sql)?;
            self.resources += 1;
            if r.type_name == "AWS::S3::Bucket" {
                sighting
                    .execute(params![self.organization_id, r.id, r.body, self.started_at])
                    .map_err(sql)?;
            }
        }
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO stacks (snapshot_id, position, account_id, body) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sql)?;
        for (account_id, body) in &rows.stacks {
            stmt.execute(params![self.id, self.stacks, account_id, body])
                .map_err(sql)?;
            self.stacks += 1;
        }
        Ok(())
    }

    /// Writes the head (`report`'s resources and stacks are not read: they were added) and
    /// commits; returns the snapshot id.
    pub fn finish(self, report: &ScanReport) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| sql_error(&path, e);
        if report.organization.id != self.organization_id || report.started_at != self.started_at {
            return Err(StoreError::Sql {
                path: path.clone(),
                message: format!(
                    "the snapshot begun for organization {} at {} was finished as {} at {}",
                    self.organization_id,
                    self.started_at,
                    report.organization.id,
                    report.started_at
                ),
            });
        }
        let head = serde_json::to_string(&report.head()).map_err(|e| StoreError::Sql {
            path: path.clone(),
            message: format!("cannot serialise the report: {e}"),
        })?;
        let with_errors = report
            .accounts
            .iter()
            .filter(|a| matches!(a.status, AccountStatus::Error | AccountStatus::Partial))
            .count();
        self.tx
            .execute(
                "UPDATE snapshots SET duration_ms = ?2, profile = ?3, accounts = ?4,
                        accounts_with_errors = ?5, resources = ?6, report = ?7,
                        management_account_id = ?8
                 WHERE id = ?1",
                params![
                    self.id,
                    i64::try_from(report.duration_ms).unwrap_or(i64::MAX),
                    report.profile,
                    report.accounts.len() as i64,
                    with_errors as i64,
                    self.resources,
                    head,
                    report.organization.management_account_id
                ],
            )
            .map_err(sql)?;
        self.tx.commit().map_err(sql)?;
        Ok(self.id)
    }
}

/// A snapshot's rows of one table, serialised as a JSON array as they are read.
struct Rows<'a, 'c, T> {
    stmt: std::cell::RefCell<&'a mut rusqlite::Statement<'c>>,
    id: i64,
    /// Used instead when the snapshot has no rows in the table.
    instead: Option<&'a [T]>,
}

impl<'a, 'c, T> Rows<'a, 'c, T> {
    fn new(stmt: &'a mut rusqlite::Statement<'c>, id: i64) -> Self {
        Rows {
            stmt: std::cell::RefCell::new(stmt),
            id,
            instead: None,
        }
    }

    fn or(self, instead: &'a [T]) -> Self {
        Rows {
            instead: Some(instead),
            ..self
        }
    }
}

impl<T: Serialize + serde::de::DeserializeOwned> Serialize for Rows<'_, '_, T> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut stmt = self.stmt.borrow_mut();
        let mut rows = stmt.query([self.id]).map_err(Z::Error::custom)?;
        let mut seq = serializer.serialize_seq(None)?;
        let mut any = false;
        while let Some(row) = rows.next().map_err(Z::Error::custom)? {
            let body: String = row.get(0).map_err(Z::Error::custom)?;
            let item: T = serde_json::from_str(&body).map_err(Z::Error::custom)?;
            seq.serialize_element(&item)?;
            any = true;
        }
        if !any {
            for item in self.instead.into_iter().flatten() {
                seq.serialize_element(item)?;
            }
        }
        seq.end()
    }
}

/// A column holding one of a closed set of words (an outcome), read as its type; a word this build
/// does not know is an error naming the column, not a silently different value.
fn word<T>(
    row: &rusqlite::Row<'_>,
    idx: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("`{text}` is not a word this build knows").into(),
        )
    })
}

impl From<StoreError> for stagecraft_model::Error {
    fn from(e: StoreError) -> Self {
        stagecraft_model::Error::Store(e.to_string())
    }
}
