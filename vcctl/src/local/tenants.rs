//! Tenants of a local instance: their VirtualCluster objects, waiting until each is Running,
//! its kubeconfig on disk, and a probe pod that proves pods run in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crds::condition::{CONDITION_READY, find_condition};
use crds::tenancy::{SECRET_ADMIN_KUBECONFIG, cluster_key};
use crds::{Provisioner, VirtualCluster, VirtualClusterSpec};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use super::files::write_private;

/// Image of the probe pod (never pulled: the simulated nodes only pretend to run it).
pub const PROBE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// Label on probe pods.
pub const PROBE_LABEL: &str = "vcctl.virtualcluster.io/probe";

/// A tenant that is Running.
#[derive(Clone, Debug)]
pub struct ReadyTenant {
    /// VirtualCluster name.
    pub name: String,
    /// VirtualCluster namespace.
    pub namespace: String,
    /// Cluster key.
    pub cluster_key: String,
    /// Its admin kubeconfig (YAML).
    pub kubeconfig: String,
    /// Where that kubeconfig was written.
    pub kubeconfig_path: PathBuf,
    /// Its API server URL.
    pub server: String,
}

/// Creates VirtualCluster `ns/name` (local provisioner) unless it exists.
pub async fn ensure_vc(
    client: &Client,
    ns: &str,
    name: &str,
    cluster_version: &str,
) -> Result<(), String> {
    let api: Api<VirtualCluster> = Api::namespaced(client.clone(), ns);
    if api
        .get_opt(name)
        .await
        .map_err(|e| format!("reading VirtualCluster {ns}/{name}: {e}"))?
        .is_some()
    {
        return Ok(());
    }
    let spec = VirtualClusterSpec {
        cluster_version_name: cluster_version.to_string(),
        provisioner: Some(Provisioner::Local),
        ..VirtualClusterSpec::default()
    };
    match api
        .create(&PostParams::default(), &VirtualCluster::new(name, spec))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(format!("creating VirtualCluster {ns}/{name}: {e}")),
    }
}

fn ready(vc: &VirtualCluster) -> bool {
    vc.is_running()
        && vc
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, CONDITION_READY))
            .is_some_and(|c| c.status == "True")
}

fn describe(vc: Option<&VirtualCluster>) -> String {
    let Some(status) = vc.and_then(|v| v.status.as_ref()) else {
        return "it has no status yet (is vc-manager running?)".into();
    };
    let phase = status
        .phase
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "none".into());
    let why = [status.reason.as_deref(), status.message.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    if why.is_empty() {
        format!("phase {phase}")
    } else {
        format!("phase {phase} ({why})")
    }
}

/// Waits until the VirtualCluster is Running and Ready, then writes its admin kubeconfig to
/// `<dir>/<name>.kubeconfig`.
pub async fn wait_running(
    client: &Client,
    ns: &str,
    name: &str,
    dir: &Path,
    timeout: Duration,
) -> Result<ReadyTenant, String> {
    let api: Api<VirtualCluster> = Api::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + timeout;
    let vc = loop {
        let vc = api.get_opt(name).await.ok().flatten();
        if let Some(vc) = vc.as_ref().filter(|v| ready(v)) {
            break vc.clone();
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "not Running after {}s: {}",
                timeout.as_secs(),
                describe(vc.as_ref())
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let key = cluster_key(&vc).map_err(|e| format!("cluster key: {e}"))?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &key);
    let secret = secrets
        .get(SECRET_ADMIN_KUBECONFIG)
        .await
        .map_err(|e| format!("reading secret {key}/{SECRET_ADMIN_KUBECONFIG}: {e}"))?;
    let kubeconfig = secret
        .data
        .as_ref()
        .and_then(|d| d.get(SECRET_ADMIN_KUBECONFIG))
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .ok_or_else(|| format!("secret {key}/{SECRET_ADMIN_KUBECONFIG} has no kubeconfig"))?;
    let server = kube::config::Kubeconfig::from_yaml(&kubeconfig)
        .ok()
        .and_then(|k| k.clusters.into_iter().next())
        .and_then(|c| c.cluster.and_then(|c| c.server))
        .unwrap_or_default();
    answers(&kubeconfig, deadline).await?;
    let path = dir.join(format!("{name}.kubeconfig"));
    write_private(&path, &kubeconfig)?;
    Ok(ReadyTenant {
        name: name.to_string(),
        namespace: ns.to_string(),
        cluster_key: key,
        kubeconfig,
        kubeconfig_path: path,
        server,
    })
}

/// Waits until the API server of `kubeconfig` answers `/version`.
async fn answers(kubeconfig: &str, deadline: tokio::time::Instant) -> Result<(), String> {
    let client = vc_manager::kube_client_from_kubeconfig(kubeconfig).await?;
    loop {
        match client.apiserver_version().await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(format!("Running, but its API server does not answer: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn probe_pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(PROBE_LABEL.to_string(), "true".to_string())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "probe".into(),
                image: Some(PROBE_IMAGE.into()),
                ..Container::default()
            }],
            termination_grace_period_seconds: Some(0),
            ..PodSpec::default()
        }),
        status: None,
    }
}

fn pod_state(p: Option<&Pod>) -> String {
    let Some(st) = p.and_then(|p| p.status.as_ref()) else {
        return "the syncer has not reported any status".into();
    };
    let conds = st
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.status != "True")
        .map(|c| {
            format!(
                "{}={} {}",
                c.type_,
                c.status,
                c.message.clone().or(c.reason.clone()).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>();
    format!(
        "phase {}{}",
        st.phase.clone().unwrap_or_else(|| "unknown".into()),
        if conds.is_empty() {
            String::new()
        } else {
            format!(" ({})", conds.join("; "))
        }
    )
}

/// Probe pods of an earlier run that was interrupted before it could delete them.
async fn remove_stale_probes(pods: &Api<Pod>) {
    let Ok(list) = pods
        .list(&kube::api::ListParams::default().labels(PROBE_LABEL))
        .await
    else {
        return;
    };
    for p in list.items {
        if let Some(name) = p.metadata.name
            && let Err(e) = pods
                .delete(&name, &DeleteParams::default().grace_period(0))
                .await
        {
            tracing::warn!(pod = %name, error = %e, "could not delete a stale probe pod");
        }
    }
}

/// Creates a pod in the tenant's `default` namespace, waits until it is Running with an IP on a
/// node, and deletes it. Returns the node it ran on.
pub async fn probe(tenant: &Client, timeout: Duration) -> Result<String, String> {
    let name = format!(
        "vcctl-probe-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let pods: Api<Pod> = Api::namespaced(tenant.clone(), "default");
    remove_stale_probes(&pods).await;
    let deadline = tokio::time::Instant::now() + timeout;
    // The tenant's controllers create `default` and its service account shortly after start.
    loop {
        match pods.create(&PostParams::default(), &probe_pod(&name)).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(format!("creating probe pod default/{name}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let result = loop {
        let pod = pods.get_opt(&name).await.ok().flatten();
        let running = pod.as_ref().and_then(|p| {
            let st = p.status.as_ref()?;
            let node = p.spec.as_ref()?.node_name.clone()?;
            (st.phase.as_deref() == Some("Running") && st.pod_ip.is_some()).then_some(node)
        });
        if let Some(node) = running {
            break Ok(node);
        }
        if tokio::time::Instant::now() > deadline {
            break Err(format!(
                "probe pod default/{name} not Running after {}s: {}",
                timeout.as_secs(),
                pod_state(pod.as_ref())
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if let Err(e) = pods
        .delete(&name, &DeleteParams::default().grace_period(0))
        .await
    {
        tracing::warn!(pod = %name, error = %e, "could not delete the probe pod");
    }
    result
}
