//! SQLite backend: WAL journal, `synchronous=FULL`, group commit on a dedicated thread.
//!
//! Writes queue up while a transaction commits; the next transaction takes all of them, so many
//! concurrent clients share one fsync. A write is acknowledged to its client only after the
//! transaction holding it committed (see [`Durability`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, params};
use tokio::sync::watch;

use super::backend::{Backend, BackendError, Loaded, Record};
use super::durability::Durability;

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 4096;

/// SQLite storage in `<dir>/state.db`.
pub struct SqliteBackend {
    path: PathBuf,
    tx: mpsc::Sender<Record>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteBackend {
    /// Opens (creating) the database under `dir`; durable progress is published on `durable`.
    pub fn open(dir: &Path, durable: watch::Sender<Durability>) -> Result<Self, BackendError> {
        std::fs::create_dir_all(dir).map_err(|source| BackendError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join("state.db");
        let conn = open_connection(&path)?;
        let (tx, rx) = mpsc::channel::<Record>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, durable))
            .map_err(|source| BackendError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(SqliteBackend { path, tx })
    }
}

fn open_connection(path: &Path) -> Result<Connection, BackendError> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS objects (
            resource TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            rv INTEGER NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (resource, namespace, name)
        );
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    )?;
    Ok(conn)
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Record>,
    durable: watch::Sender<Durability>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let top = batch.iter().map(|r| r.rv).max().unwrap_or(0);
        match commit_batch(&mut conn, &batch) {
            Ok(()) => {
                durable.send_modify(|d| d.rv = d.rv.max(top));
            }
            Err(e) => {
                tracing::error!(error = %e, "sqlite commit failed; storage is no longer durable");
                durable.send_modify(|d| d.failed = Some(e.to_string()));
            }
        }
    }
}

fn commit_batch(conn: &mut Connection, batch: &[Record]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO objects (resource, namespace, name, rv, data) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (resource, namespace, name) DO UPDATE SET rv = excluded.rv, data = excluded.data",
        )?;
        let mut del = tx.prepare_cached(
            "DELETE FROM objects WHERE resource = ?1 AND namespace = ?2 AND name = ?3",
        )?;
        for r in batch {
            let rv = i64::try_from(r.rv).unwrap_or(i64::MAX);
            match &r.data {
                Some(data) => {
                    put.execute(params![r.resource, r.namespace, r.name, rv, data.as_ref()])?;
                }
                None => {
                    del.execute(params![r.resource, r.namespace, r.name])?;
                }
            }
        }
        let top = batch.iter().map(|r| r.rv).max().unwrap_or(0);
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('rv', ?1)
             ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            params![i64::try_from(top).unwrap_or(i64::MAX)],
        )?;
    }
    tx.commit()
}

impl Backend for SqliteBackend {
    fn load(&self) -> Result<Loaded, BackendError> {
        let conn = open_connection(&self.path)?;
        let mut rv: u64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'rv'", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|v| u64::try_from(v).unwrap_or(0))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                other => Err(other),
            })?;
        let mut stmt = conn.prepare("SELECT resource, namespace, name, rv, data FROM objects")?;
        let records = stmt
            .query_map([], |row| {
                Ok(Record {
                    resource: row.get(0)?,
                    namespace: row.get(1)?,
                    name: row.get(2)?,
                    rv: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                    data: Some(Bytes::from(row.get::<_, Vec<u8>>(4)?)),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rv = records.iter().map(|r| r.rv).fold(rv, u64::max);
        Ok(Loaded { rv, records })
    }

    fn submit(&self, record: Record) {
        // A send error means the writer thread died; durability waiters see `failed` then.
        let _ = self.tx.send(record);
    }

    fn is_durable(&self) -> bool {
        true
    }
}
