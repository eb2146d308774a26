//! What a watch reports (a [`Change`]) and how a kind is watched (a [`WatchSpec`]).

/// What happened to a watched object.
#[derive(Debug)]
pub enum Change<'a, K> {
    /// Created, updated, or present in a relist.
    Applied(&'a K),
    /// Deleted (or gone from a relist, or no longer matching the filter).
    Deleted(&'a K),
}

impl<'a, K> Change<'a, K> {
    /// The object that changed.
    pub fn object(&self) -> &'a K {
        match self {
            Change::Applied(o) | Change::Deleted(o) => o,
        }
    }
}

/// How to keep a watched kind.
pub struct WatchSpec<K> {
    /// Label selector of the watch.
    pub labels: Option<String>,
    /// Field selector of the watch.
    pub fields: Option<String>,
    /// Trims an object to what the syncer needs before it is stored.
    pub prune: fn(&mut K),
    /// Objects for which this returns false are not stored.
    pub keep: Box<dyn Fn(&K) -> bool + Send + Sync>,
}

impl<K> Default for WatchSpec<K> {
    fn default() -> Self {
        WatchSpec {
            labels: None,
            fields: None,
            prune: keep_whole::<K>,
            keep: Box::new(|_| true),
        }
    }
}

fn keep_whole<K>(_: &mut K) {}
