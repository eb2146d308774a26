//! Hard isolation, replayed as a hostile tenant admin would try it: every case is created in
//! the tenant with kube-rs, and for each the test asserts that nothing reached the super
//! cluster and the tenant object got a Warning event naming the rule (and, for pods,
//! `PodScheduled=False`), or that it did reach the super cluster when the VC grants it.

mod names;
mod pods;
mod services;

use std::time::Duration;

use crds::VirtualClusterSpec;
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client};

use super::harness::eventually;

const WAIT: Duration = Duration::from_secs(60);

fn spec() -> VirtualClusterSpec {
    VirtualClusterSpec {
        cluster_version_name: "cv".into(),
        ..VirtualClusterSpec::default()
    }
}

/// The Warning event about tenant object `name` whose message contains `needle`.
async fn refusal(client: &Client, ns: &str, name: &str, needle: &str) -> Event {
    let what = format!("refusal of {ns}/{name} mentioning {needle:?}");
    eventually(&what, WAIT, || async {
        let evs: Api<Event> = Api::namespaced(client.clone(), ns);
        let list = evs.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some(name)
                && e.type_.as_deref() == Some("Warning")
                && matches!(
                    e.reason.as_deref(),
                    Some("PolicyViolation") | Some("NotSupported")
                )
                && e.message.as_deref().is_some_and(|m| m.contains(needle))
        })
    })
    .await
}
