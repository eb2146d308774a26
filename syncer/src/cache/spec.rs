//! What a watch reports (a [`Change`]) and how a kind is watched (a [`WatchSpec`]).

use std::fmt::Debug;

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a watched kind must be.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// What happened to a watched object.
#[derive(Debug)]
pub enum Change<'a, K> {
    /// Created or updated, seen live.
    Applied(&'a K),
    /// Present in a (re)list: the cache catching up, most likely nothing changed.
    Listed(&'a K),
    /// Deleted (or gone from a relist, or no longer matching the filter).
    Deleted(&'a K),
}

impl<K> Clone for Change<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Change<'_, K> {}

/// Which lane of the fair queues a change's work goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// A change seen live: served first.
    Live,
    /// A relist: served when the tenant has nothing live waiting.
    Resync,
}

impl<'a, K> Change<'a, K> {
    /// The object that changed.
    pub fn object(&self) -> &'a K {
        match self {
            Change::Applied(o) | Change::Listed(o) | Change::Deleted(o) => o,
        }
    }

    /// The object unless it was deleted.
    pub fn present(&self) -> Option<&'a K> {
        match self {
            Change::Applied(o) | Change::Listed(o) => Some(o),
            Change::Deleted(_) => None,
        }
    }

    /// The queue lane for the work this change causes.
    pub fn lane(&self) -> Lane {
        match self {
            Change::Listed(_) => Lane::Resync,
            Change::Applied(_) | Change::Deleted(_) => Lane::Live,
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
