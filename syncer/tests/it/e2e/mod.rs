//! End to end: an embedded super cluster, three embedded tenants whose namespaces and pod names
//! collide, the syncer in-process and a kubelet stand-in on the super side.

mod both_ways;
mod repair;
mod restarts;

use std::time::Duration;

use crds::VirtualClusterSpec;
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client};

use super::harness::*;

const WAIT: Duration = Duration::from_secs(60);

fn spec() -> VirtualClusterSpec {
    VirtualClusterSpec {
        cluster_version_name: "cv".into(),
        ..VirtualClusterSpec::default()
    }
}

async fn three_tenants(super_client: &Client) -> Vec<TenantEnv> {
    let mut out = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        out.push(add_tenant(super_client, name, spec()).await);
    }
    out
}

/// A GET over plain HTTP without an HTTP client dependency.
pub async fn reqwest_text(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    s.write_all(
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

async fn warning_events(client: &Client, ns: &str, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.type_.as_deref() == Some("Warning")
        })
        .collect()
}
