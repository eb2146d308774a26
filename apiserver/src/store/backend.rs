//! Durable storage behind the in-memory store: one trait, two backends (memory and SQLite).

use bytes::Bytes;

/// A stored object as the backend sees it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Storage resource key, e.g. `apps/deployments` or `/pods`.
    pub resource: String,
    /// Namespace ("" for cluster-scoped objects).
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Resource version of the write.
    pub rv: u64,
    /// Serialized object; `None` deletes it.
    pub data: Option<Bytes>,
}

/// Everything a backend holds at start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The highest resource version ever assigned (deletes included).
    pub rv: u64,
    /// Every live object.
    pub records: Vec<Record>,
}

/// Backend failures.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory is unusable.
    #[error("data directory {path}: {source}")]
    Io {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The writer is gone (server shutting down).
    #[error("storage writer stopped")]
    Stopped,
}

/// Durable storage: loads everything at start, then persists writes in resource-version order.
pub trait Backend: Send + Sync + 'static {
    /// Reads every stored object and the resource-version high-water mark.
    fn load(&self) -> Result<Loaded, BackendError>;

    /// Queues a write. Writes are persisted in the order they are submitted; `on_durable` is
    /// called with the highest persisted resource version after each commit.
    fn submit(&self, record: Record);

    /// Whether writes are acknowledged only after they are on disk (false for memory).
    fn is_durable(&self) -> bool;
}

/// No persistence: everything lives in the in-memory store.
#[derive(Debug, Default)]
pub struct MemoryBackend;

impl Backend for MemoryBackend {
    fn load(&self) -> Result<Loaded, BackendError> {
        Ok(Loaded::default())
    }

    fn submit(&self, _record: Record) {}

    fn is_durable(&self) -> bool {
        false
    }
}
