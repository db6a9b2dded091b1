//! Where a scan sets each account's resources and stacks aside as the account finishes, so that
//! an organization of any size is never held whole: a temporary SQLite file, deleted when the
//! spool is dropped (a crash leaves it in the system's temporary directory, nothing in the store).

use rusqlite::{params, Connection};
use stagecraft_model::{Resource, StackFacts};

use crate::StoreError;

#[derive(Debug)]
pub struct Spool {
    conn: Connection,
    file: tempfile::NamedTempFile,
}

impl Spool {
    pub fn new() -> Result<Spool, StoreError> {
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
        let spool = Spool { conn, file };
        // Nothing here outlives the scan: no journal, no syncing.
        spool
            .conn
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
            .map_err(|e| spool.sql(e))?;
        Ok(spool)
    }

    fn sql(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.file.path().to_owned(),
            message: e.to_string(),
        }
    }

    /// Sets an account's resources and stacks aside. A resource whose id was set aside before
    /// (by any account) is left out: the first one put is kept.
    pub fn put(&mut self, resources: &[Resource], stacks: &[StackFacts]) -> Result<(), StoreError> {
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

    /// How many resources were set aside.
    pub fn resource_count(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM resources", [], |r| r.get::<_, i64>(0))
            .map(|n| usize::try_from(n).unwrap_or_default())
            .map_err(|e| self.sql(e))
    }

    /// One account's resources and stacks, in the order they were put.
    pub fn account(
        &self,
        account_id: &str,
    ) -> Result<(Vec<Resource>, Vec<StackFacts>), StoreError> {
        Ok((
            self.rows(
                "SELECT body FROM resources WHERE account_id = ?1 ORDER BY seq",
                account_id,
            )?,
            self.rows(
                "SELECT body FROM stacks WHERE account_id = ?1 ORDER BY seq",
                account_id,
            )?,
        ))
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

    #[test]
    fn each_account_comes_back_in_order_and_an_id_is_kept_once() {
        let mut spool = Spool::new().unwrap();
        let path = spool.file.path().to_owned();
        spool
            .put(
                &[res("b", "111"), res("a", "111"), res("shared", "111")],
                &[],
            )
            .unwrap();
        spool
            .put(&[res("shared", "222"), res("c", "222")], &[])
            .unwrap();
        let ids = |account: &str| -> Vec<String> {
            spool
                .account(account)
                .unwrap()
                .0
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(ids("111"), ["b", "a", "shared"]);
        // The domain both accounts report is the first account's.
        assert_eq!(ids("222"), ["c"]);
        assert!(ids("333").is_empty());
        assert!(path.exists());
        drop(spool);
        assert!(!path.exists(), "the spool file outlived the scan");
    }
}
