//! What the aggregator keeps between requests: the front-proxy client certificate it presents
//! to aggregated API servers, and the discovery each remote group-version last answered with.
//! (No crate imports: `api.rs` holds it.)

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

/// The discovery of one remote group-version, as last fetched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteDiscovery {
    /// The `APIVersionDiscovery` resources of the group-version (`None`: never fetched).
    pub resources: Option<Vec<Value>>,
    /// Whether the last fetch succeeded (`Current`) or not (`Stale`).
    pub fresh: bool,
}

/// The aggregator's state.
#[derive(Debug, Default)]
pub struct AggregatorState {
    /// Front-proxy client certificate and key (PEM) presented to aggregated API servers.
    pub proxy_client: Option<(String, String)>,
    /// CA (PEM) that signs the front-proxy client certificate (`requestheader-client-ca-file`).
    pub proxy_ca_pem: String,
    /// CA (PEM) of the server's client certificates (`client-ca-file`).
    pub client_ca_pem: String,
    discovery: Mutex<BTreeMap<String, RemoteDiscovery>>,
}

impl AggregatorState {
    /// The discovery kept for APIService `name` (`<version>.<group>`).
    pub fn discovery(&self, name: &str) -> Option<RemoteDiscovery> {
        self.lock().get(name).cloned()
    }

    /// Records the outcome of a fetch for `name`: new resources, or a failure that keeps the
    /// last resources and marks them stale.
    pub fn record(&self, name: &str, fetched: Option<Vec<Value>>) {
        let mut g = self.lock();
        let entry = g.entry(name.to_string()).or_default();
        match fetched {
            Some(r) => {
                entry.resources = Some(r);
                entry.fresh = true;
            }
            None => entry.fresh = false,
        }
    }

    /// Forgets APIServices that are gone.
    pub fn retain(&self, names: &[String]) {
        self.lock().retain(|k, _| names.contains(k));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RemoteDiscovery>> {
        self.discovery.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fetch_keeps_resources_as_stale() {
        let s = AggregatorState::default();
        assert_eq!(s.discovery("v1.g"), None);
        s.record("v1.g", None);
        assert_eq!(
            s.discovery("v1.g"),
            Some(RemoteDiscovery {
                resources: None,
                fresh: false
            })
        );
        s.record("v1.g", Some(vec![Value::Null]));
        s.record("v1.g", None);
        let d = s.discovery("v1.g").unwrap_or_default();
        assert_eq!((d.resources.map(|r| r.len()), d.fresh), (Some(1), false));
        s.retain(&[]);
        assert_eq!(s.discovery("v1.g"), None);
    }
}
