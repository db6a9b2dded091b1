//! Where a scan sets each account's resources and stacks aside as the account finishes, so that
//! an organization of any size is never held whole. An organization's first
//! [`HELD_RESOURCES`] resources are kept in memory as they came; past that, everything set aside
//! goes to a temporary SQLite file, deleted when the spool is dropped (a crash leaves it in the
//! system's temporary directory, nothing in the store).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection};
use stagecraft_model::{Resource, StackFacts};

use crate::StoreError;

/// How many resources are held in memory before the spool goes to disk: about 30 MiB, an
/// organization of some 80 accounts like the demo's. A smaller one never writes a row of its
/// scan twice; a larger one holds no more than this while it spills.
pub const HELD_RESOURCES: usize = 20_000;

#[derive(Debug)]
pub struct Spool {
    held: Held,
    budget: usize,
    disk: Option<Disk>,
}

/// What is set aside in memory, by account, in the order it was put.
#[derive(Debug, Default)]
struct Held {
    resources: HashMap<String, Vec<Resource>>,
    stacks: HashMap<String, Vec<StackFacts>>,
    ids: HashSet<String>,
    count: usize,
}

#[derive(Debug)]
struct Disk {
    conn: Connection,
    file: tempfile::NamedTempFile,
}

impl Spool {
    /// A spool that holds up to `budget` resources in memory before it goes to disk.
    pub fn holding(budget: usize) -> Spool {
        Spool {
            held: Held::default(),
            budget,
            disk: None,
        }
    }

    /// The file the spool went to, once it has.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.disk.as_ref().map(|d| d.file.path())
    }

    /// Sets an account's resources and stacks aside. A resource whose id was set aside before
    /// (by any account) is left out: the first one put is kept.
    pub fn put(
        &mut self,
        resources: Vec<Resource>,
        stacks: Vec<StackFacts>,
    ) -> Result<(), StoreError> {
        if self.disk.is_none() && self.held.count + resources.len() <= self.budget {
            self.held.put(resources, stacks);
            return Ok(());
        }
        let disk = match &mut self.disk {
            Some(disk) => disk,
            None => {
                let mut disk = Disk::new()?;
                let held = std::mem::take(&mut self.held);
                for (account, resources) in &held.resources {
                    let stacks = held.stacks.get(account).map(Vec::as_slice);
                    disk.put(resources, stacks.unwrap_or_default())?;
                }
                for (account, stacks) in &held.stacks {
                    if !held.resources.contains_key(account) {
                        disk.put(&[], stacks)?;
                    }
                }
                self.disk.insert(disk)
            }
        };
        disk.put(&resources, &stacks)
    }

    /// How many resources were set aside.
    pub fn resource_count(&self) -> Result<usize, StoreError> {
        match &self.disk {
            None => Ok(self.held.count),
            Some(disk) => disk.resource_count(),
        }
    }

    /// One account's resources, in the order they were put.
    pub fn resources(&self, account_id: &str) -> Result<Cow<'_, [Resource]>, StoreError> {
        match &self.disk {
            None => Ok(Cow::Borrowed(
                self.held
                    .resources
                    .get(account_id)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            )),
            Some(disk) => disk
                .rows(
                    "SELECT body FROM resources WHERE account_id = ?1 ORDER BY seq",
                    account_id,
                )
                .map(Cow::Owned),
        }
    }

    /// One account's resources and stacks, in the order they were put, taken out of the spool.
    pub fn take(
        &mut self,
        account_id: &str,
    ) -> Result<(Vec<Resource>, Vec<StackFacts>), StoreError> {
        match &self.disk {
            None => Ok((
                self.held.resources.remove(account_id).unwrap_or_default(),
                self.held.stacks.remove(account_id).unwrap_or_default(),
            )),
            Some(disk) => Ok((
                disk.rows(
                    "SELECT body FROM resources WHERE account_id = ?1 ORDER BY seq",
                    account_id,
                )?,
                disk.rows(
                    "SELECT body FROM stacks WHERE account_id = ?1 ORDER BY seq",
                    account_id,
                )?,
            )),
        }
    }
}

impl Held {
    fn put(&mut self, resources: Vec<Resource>, stacks: Vec<StackFacts>) {
        for r in resources {
            if self.ids.insert(r.id.clone()) {
                self.count += 1;
                self.resources
                    .entry(r.account_id.clone())
                    .or_default()
                    .push(r);
            }
        }
        for mut s in stacks {
            // As a row read back from disk: what is never stored is not kept either.
            s.value_paths = Vec::new();
            self.stacks.entry(s.account_id.clone()).or_default().push(s);
        }
    }
}

impl Disk {
    fn new() -> Result<Disk, StoreError> {
        let file = tempfile::Builder::new()
            .prefix("stagecraft-scan-")
            .suffix(".db")
            .tempfile()
            .map_err(|e| StoreError::Open {
                path: std::env::temp_dir(),
                message: format!("cannot create the scan's spool file: {e}"),
            })?;
        let conn = Connection::open(file.path()).map_err(|e| StoreError::Open {
            path: file.path().to_owned(),
            message: e.to_string(),
        })?;
        let disk = Disk { conn, file };
        // Nothing here outlives the scan: no journal, no syncing.
        disk.conn
            .execute_batch(
                "PRAGMA journal_mode = OFF;
                 PRAGMA synchronous = OFF;
                 CREATE TABLE resources (
                     seq INTEGER PRIMARY KEY,
                     id TEXT NOT NULL UNIQUE,
                     account_id TEXT NOT NULL,
                     body TEXT NOT NULL
                 );
                 CREATE INDEX resources_by_account ON resources (account_id, seq);
                 CREATE TABLE stacks (
                     seq INTEGER PRIMARY KEY,
                     account_id TEXT NOT NULL,
                     body TEXT NOT NULL
                 );
                 CREATE INDEX stacks_by_account ON stacks (account_id, seq);",
            )
            .map_err(|e| disk.sql(e))?;
        Ok(disk)
    }

    fn sql(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.file.path().to_owned(),
            message: e.to_string(),
        }
    }

    fn put(&mut self, resources: &[Resource], stacks: &[StackFacts]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| sql_at(&self.file, e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO resources (id, account_id, body) VALUES (?1, ?2, ?3)",
                )
                .map_err(|e| sql_at(&self.file, e))?;
            for r in resources {
                stmt.execute(params![r.id, r.account_id, body(r)?])
                    .map_err(|e| sql_at(&self.file, e))?;
            }
            let mut stmt = tx
                .prepare_cached("INSERT INTO stacks (account_id, body) VALUES (?1, ?2)")
                .map_err(|e| sql_at(&self.file, e))?;
            for s in stacks {
                stmt.execute(params![s.account_id, body(s)?])
                    .map_err(|e| sql_at(&self.file, e))?;
            }
        }
        tx.commit().map_err(|e| sql_at(&self.file, e))
    }

    fn resource_count(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM resources", [], |r| r.get::<_, i64>(0))
            .map(|n| usize::try_from(n).unwrap_or_default())
            .map_err(|e| self.sql(e))
    }

    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        account_id: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(query).map_err(|e| self.sql(e))?;
        let bodies = stmt
            .query_map([account_id], |r| r.get::<_, String>(0))
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for body in bodies {
            let body = body.map_err(|e| self.sql(e))?;
            out.push(serde_json::from_str(&body).map_err(|e| StoreError::Sql {
                path: self.file.path().to_owned(),
                message: format!("a row set aside cannot be read back: {e}"),
            })?);
        }
        Ok(out)
    }
}

fn sql_at(file: &tempfile::NamedTempFile, e: rusqlite::Error) -> StoreError {
    StoreError::Sql {
        path: file.path().to_owned(),
        message: e.to_string(),
    }
}

fn body<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Sql {
        path: std::env::temp_dir(),
        message: format!("cannot set a row aside: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(id: &str, account: &str) -> Resource {
        Resource::new(
            "AWS::SSM::Parameter",
            id.into(),
            id.into(),
            account,
            "us-east-1",
        )
    }

    fn stack(name: &str, account: &str) -> StackFacts {
        StackFacts {
            value_paths: vec![("hash".into(), "Resources.X".into())],
            ..StackFacts::new(
                account,
                "us-east-1",
                name,
                format!("arn:aws:cloudformation:us-east-1:{account}:stack/{name}/1"),
                "CREATE_COMPLETE",
            )
        }
    }

    fn ids(spool: &Spool, account: &str) -> Vec<String> {
        spool
            .resources(account)
            .unwrap()
            .iter()
            .map(|r| r.id.clone())
            .collect()
    }

    /// The same puts, whether the spool holds them in memory, goes to disk from the start, or
    /// goes to disk half-way (its first put held, the second spilling it).
    #[test]
    fn each_account_comes_back_in_order_and_an_id_is_kept_once_held_or_on_disk() {
        for (budget, on_disk) in [(100, false), (0, true), (3, true)] {
            let mut spool = Spool::holding(budget);
            spool
                .put(
                    vec![res("b", "111"), res("a", "111"), res("shared", "111")],
                    vec![stack("one", "111")],
                )
                .unwrap();
            spool
                .put(
                    vec![res("shared", "222"), res("c", "222"), res("c", "222")],
                    vec![stack("two", "222")],
                )
                .unwrap();
            assert_eq!(spool.file().is_some(), on_disk, "budget {budget}");
            assert_eq!(spool.resource_count().unwrap(), 4, "budget {budget}");
            assert_eq!(ids(&spool, "111"), ["b", "a", "shared"], "budget {budget}");
            // The domain both accounts report is the first account's.
            assert_eq!(ids(&spool, "222"), ["c"], "budget {budget}");
            assert!(ids(&spool, "333").is_empty());
            let (resources, stacks) = spool.take("222").unwrap();
            assert_eq!(resources.len(), 1);
            // What is never stored does not come back, held or not.
            assert!(stacks.iter().all(|s| s.value_paths.is_empty()));
            assert_eq!(
                stacks.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
                ["two"]
            );
            let path = spool.file().map(ToOwned::to_owned);
            if let Some(path) = &path {
                assert!(path.exists());
            }
            drop(spool);
            if let Some(path) = path {
                assert!(!path.exists(), "the spool file outlived the scan");
            }
        }
    }
}
