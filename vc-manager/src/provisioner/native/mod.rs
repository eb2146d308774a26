//! The `native` provisioner: the ClusterVersion's StatefulSets and Services in the tenant's
//! root namespace, applied server-side, ready when every StatefulSet has its replicas ready.

pub mod render;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::{Api, Client};
use sha2::{Digest, Sha256};

pub use render::{
    Component, Desired, RenderInputs, check_cluster_version, etcd_names, render as render_desired,
};

use super::apply::apply_object;
use super::endpoints::{Endpoints, base_apiserver_names};
use super::error::ProvisionError;
use super::tenant::Tenant;
use crate::state::ControlPlane;

/// The native provisioner.
#[derive(Clone)]
pub struct Native {
    client: Client,
    /// Hash of the objects last applied per tenant, to report only real changes.
    applied: Arc<Mutex<HashMap<String, String>>>,
}

impl Native {
    /// A native provisioner writing to the super cluster through `client`.
    pub fn new(client: Client) -> Self {
        Native {
            client,
            applied: Arc::default(),
        }
    }

    fn render(
        &self,
        t: &Tenant,
        secrets: &BTreeMap<String, Secret>,
    ) -> Result<Desired, ProvisionError> {
        let hashes = secret_hashes(secrets);
        let cidr = t.spec.service_cidr.to_string();
        render_desired(
            cluster_version(t)?,
            &RenderInputs {
                namespace: t.namespace(),
                service_cidr: &cidr,
                secret_hashes: &hashes,
            },
        )
        .map_err(ProvisionError::Render)
    }

    /// Reads the API server Service; `None` until it exists and has its clusterIP.
    pub async fn endpoints(
        &self,
        t: &Tenant,
        extra_sans: &[String],
    ) -> Result<Option<Endpoints>, ProvisionError> {
        let cv = cluster_version(t)?;
        let Some(bundle) = cv.spec.api_server.as_ref() else {
            return Err(ProvisionError::Render("spec.apiServer is not set".into()));
        };
        let (Some(svc_name), Some(port)) = (render::svc_name(bundle), render::api_port(bundle))
        else {
            return Err(ProvisionError::Render(
                "spec.apiServer.service has no name or port".into(),
            ));
        };
        let ns = t.namespace();
        let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
        let Some(svc) = api
            .get_opt(&svc_name)
            .await
            .map_err(ProvisionError::kube(format!(
                "reading service {ns}/{svc_name}"
            )))?
        else {
            return Ok(None);
        };
        Ok(service_endpoints(t, &svc, &svc_name, port, extra_sans))
    }

    /// Applies the Services, so that their addresses can go into the PKI.
    pub async fn prepare(&self, t: &Tenant) -> Result<(), ProvisionError> {
        let desired = self.render(t, &BTreeMap::new())?;
        let api: Api<Service> = Api::namespaced(self.client.clone(), t.namespace());
        for svc in &desired.services {
            let name = svc.metadata.name.as_deref().unwrap_or_default();
            apply_object(&api, name, svc)
                .await
                .map_err(ProvisionError::kube(format!("applying service {name}")))?;
        }
        Ok(())
    }

    /// Applies Services and StatefulSets. Returns whether the desired objects changed since the
    /// last apply by this process.
    pub async fn apply(
        &self,
        t: &Tenant,
        secrets: &BTreeMap<String, Secret>,
    ) -> Result<bool, ProvisionError> {
        let desired = self.render(t, secrets)?;
        let svcs: Api<Service> = Api::namespaced(self.client.clone(), t.namespace());
        for svc in &desired.services {
            let name = svc.metadata.name.as_deref().unwrap_or_default();
            apply_object(&svcs, name, svc)
                .await
                .map_err(ProvisionError::kube(format!("applying service {name}")))?;
        }
        let stss: Api<StatefulSet> = Api::namespaced(self.client.clone(), t.namespace());
        for (_, sts) in &desired.stateful_sets {
            let name = sts.metadata.name.as_deref().unwrap_or_default();
            apply_object(&stss, name, sts)
                .await
                .map_err(ProvisionError::kube(format!("applying statefulset {name}")))?;
        }
        let stateful_sets: Vec<&StatefulSet> =
            desired.stateful_sets.iter().map(|(_, s)| s).collect();
        let hash = hex::encode(Sha256::digest(
            serde_json::to_vec(&(&desired.services, stateful_sets)).unwrap_or_default(),
        ));
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        let changed = applied.get(t.namespace()) != Some(&hash);
        applied.insert(t.namespace().to_string(), hash);
        Ok(changed)
    }

    /// Ready when every StatefulSet has observed its spec and has all replicas ready.
    pub async fn observe(&self, t: &Tenant) -> Result<ControlPlane, ProvisionError> {
        let desired = self.render(t, &BTreeMap::new())?;
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), t.namespace());
        let mut ready = Vec::new();
        for (_, want) in &desired.stateful_sets {
            let name = want.metadata.name.as_deref().unwrap_or_default();
            let got = api
                .get_opt(name)
                .await
                .map_err(ProvisionError::kube(format!("reading statefulset {name}")))?;
            match got.as_ref().map(sts_readiness) {
                None => {
                    return Ok(ControlPlane::Progressing {
                        detail: format!("statefulset {name} does not exist yet"),
                    });
                }
                Some(Err(detail)) => return Ok(ControlPlane::Progressing { detail }),
                Some(Ok(())) => ready.push(name.to_string()),
            }
        }
        Ok(ControlPlane::Ready {
            detail: format!("statefulsets {} ready", ready.join(", ")),
        })
    }
}

/// `Ok` when a StatefulSet has observed its generation and all its replicas are ready.
pub fn sts_readiness(sts: &StatefulSet) -> Result<(), String> {
    let name = sts.metadata.name.as_deref().unwrap_or_default();
    let want = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = sts.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    if status.observed_generation.unwrap_or(0) < sts.metadata.generation.unwrap_or(0) {
        return Err(format!("statefulset {name}: spec not yet observed"));
    }
    if ready < want {
        return Err(format!("statefulset {name}: {ready}/{want} replicas ready"));
    }
    Ok(())
}

/// Endpoints from the API server Service: its DNS forms, clusterIP and external addresses.
pub fn service_endpoints(
    t: &Tenant,
    svc: &Service,
    svc_name: &str,
    port: i32,
    extra_sans: &[String],
) -> Option<Endpoints> {
    let ns = t.namespace();
    let spec = svc.spec.clone().unwrap_or_default();
    let cluster_ip = spec.cluster_ip.clone().unwrap_or_default();
    if cluster_ip.is_empty() {
        return None;
    }
    let mut names = base_apiserver_names(&t.spec, extra_sans);
    render::add_dns_forms(&mut names, svc_name, ns, &t.spec.cluster_domain);
    let ip: Option<IpAddr> = cluster_ip.parse().ok();
    if let Some(ip) = ip {
        names.ips.insert(ip);
    }
    for addr in spec.external_ips.iter().flatten() {
        names.add(addr);
    }
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    for i in ingress.into_iter().flatten() {
        names.add(i.ip.as_deref().unwrap_or_default());
        names.add(i.hostname.as_deref().unwrap_or_default());
    }
    let server = match ip {
        Some(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}"),
        Some(v4) => format!("https://{v4}:{port}"),
        None => format!("https://{svc_name}.{ns}.svc:{port}"),
    };
    Some(Endpoints {
        apiserver_names: names,
        etcd_names: etcd_names(cluster_version(t).ok()?, ns, &t.spec.cluster_domain),
        internal_server: server.clone(),
        server,
    })
}

/// The tenant's ClusterVersion (validation guarantees one for `native`).
fn cluster_version(t: &Tenant) -> Result<&crds::ClusterVersion, ProvisionError> {
    t.spec.cluster_version.as_ref().ok_or_else(|| {
        ProvisionError::Render(format!(
            "ClusterVersion {:?} does not exist",
            t.vc.spec.cluster_version_name
        ))
    })
}

/// Hash of each secret's data, by name (keys sorted, values included).
pub fn secret_hashes(secrets: &BTreeMap<String, Secret>) -> BTreeMap<String, String> {
    secrets
        .iter()
        .map(|(name, s)| {
            let mut h = Sha256::new();
            for (k, v) in s.data.iter().flatten() {
                h.update(k.as_bytes());
                h.update([0]);
                h.update(&v.0);
                h.update([0]);
            }
            (name.clone(), hex::encode(h.finalize()))
        })
        .collect()
}

#[cfg(test)]
mod tests;
