//! How far writes are durable.

/// How far writes are durable.
#[derive(Debug, Clone, Default)]
pub struct Durability {
    /// Every write with a resourceVersion ≤ this is persisted.
    pub rv: u64,
    /// Set when the backend failed; writes are no longer acknowledged.
    pub failed: Option<String>,
}
