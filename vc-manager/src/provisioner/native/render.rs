//! The objects a `native` tenant gets, rendered from its ClusterVersion: a pure function.
//!
//! Each StatefulSet and Service is taken as the ClusterVersion writes it (PKI secrets are
//! mounted by the volumes it declares, as upstream does), then completed for the tenant:
//! - namespace = the root namespace; `app.kubernetes.io/managed-by` / `component` labels;
//! - etcd: `--initial-cluster` listing every replica, unless the ClusterVersion sets it;
//! - apiserver and controller-manager: `--service-cluster-ip-range` = `spec.serviceCidr`;
//! - apiserver: the `kubelet-client` secret mounted and passed as
//!   `--kubelet-client-certificate/--kubelet-client-key` (vn-agent identifies the tenant by it);
//! - every pod template: an annotation hashing the secrets it mounts, so new certificates roll
//!   the pods.

use std::collections::BTreeMap;

use crds::{ClusterVersion, StatefulSetSvcBundle};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Container, SecretVolumeSource, Service, ServicePort, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::pki::secrets::{LABEL_MANAGED_BY, MANAGED_BY};
use crate::pki::{PkiItem, SubjectNames};

/// Pod-template annotation: hash of the secrets the pod mounts.
pub const ANNOTATION_PKI_HASH: &str = "vc-manager.tenancy.x-k8s.io/pki-hash";
/// Label naming the control-plane component.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Where the apiserver container finds the kubelet client certificate.
pub const KUBELET_CLIENT_DIR: &str = "/etc/kubernetes/pki/kubelet-client";
/// Name of the volume holding the kubelet client certificate.
pub const KUBELET_CLIENT_VOLUME: &str = "kubelet-client";
/// etcd's peer port (upstream's default).
pub const ETCD_PEER_PORT: u16 = 2380;

/// A control-plane component of a ClusterVersion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// The datastore.
    Etcd,
    /// The API server.
    ApiServer,
    /// The controller manager.
    ControllerManager,
}

impl Component {
    /// The component's label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "apiserver",
            Component::ControllerManager => "controller-manager",
        }
    }
}

/// The components a ClusterVersion defines, in start order.
pub fn components(cv: &ClusterVersion) -> Vec<(Component, &StatefulSetSvcBundle)> {
    [
        (Component::Etcd, cv.spec.etcd.as_ref()),
        (Component::ApiServer, cv.spec.api_server.as_ref()),
        (
            Component::ControllerManager,
            cv.spec.controller_manager.as_ref(),
        ),
    ]
    .into_iter()
    .filter_map(|(c, b)| b.map(|b| (c, b)))
    .collect()
}

/// Why a ClusterVersion cannot be provisioned natively (`Err` says what is missing).
pub fn check_cluster_version(cv: &ClusterVersion) -> Result<(), String> {
    if cv.spec.api_server.is_none() {
        return Err("spec.apiServer is not set".into());
    }
    for (component, bundle) in components(cv) {
        let at = match component {
            Component::Etcd => "spec.etcd",
            Component::ApiServer => "spec.apiServer",
            Component::ControllerManager => "spec.controllerManager",
        };
        let sts = bundle
            .stateful_set
            .as_ref()
            .ok_or_else(|| format!("{at}.statefulset is not set"))?;
        if sts_name(bundle).is_none() {
            return Err(format!("{at} has no name (metadata.name)"));
        }
        let spec = sts
            .spec
            .as_ref()
            .ok_or_else(|| format!("{at}.statefulset.spec is not set"))?;
        if spec
            .template
            .spec
            .as_ref()
            .is_none_or(|p| p.containers.is_empty())
        {
            return Err(format!("{at}.statefulset has no containers"));
        }
    }
    let api = cv.spec.api_server.as_ref();
    if api.and_then(|b| b.service.as_ref()).is_none() {
        return Err(
            "spec.apiServer.service is not set (clients reach the API server by it)".into(),
        );
    }
    if api.and_then(api_port).is_none() {
        return Err("spec.apiServer.service has no port".into());
    }
    Ok(())
}

/// Name of a bundle's StatefulSet.
pub fn sts_name(b: &StatefulSetSvcBundle) -> Option<String> {
    b.stateful_set
        .as_ref()
        .and_then(|s| s.metadata.name.clone())
        .or_else(|| b.name().map(str::to_string))
        .filter(|n| !n.is_empty())
}

/// Name of a bundle's Service.
pub fn svc_name(b: &StatefulSetSvcBundle) -> Option<String> {
    b.service
        .as_ref()
        .and_then(|s| s.metadata.name.clone())
        .or_else(|| {
            b.stateful_set
                .as_ref()
                .and_then(|s| s.spec.as_ref())
                .and_then(|s| s.service_name.clone())
        })
        .filter(|n| !n.is_empty())
}

/// The API server's service port: the one named `api` or `https`, else the first.
pub fn api_port(b: &StatefulSetSvcBundle) -> Option<i32> {
    let ports: &[ServicePort] = b.service.as_ref()?.spec.as_ref()?.ports.as_deref()?;
    ports
        .iter()
        .find(|p| matches!(p.name.as_deref(), Some("api" | "https")))
        .or_else(|| ports.first())
        .map(|p| p.port)
}

/// What the render needs besides the ClusterVersion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderInputs<'a> {
    /// The root namespace.
    pub namespace: &'a str,
    /// The tenant's service CIDR.
    pub service_cidr: &'a str,
    /// Hash of each root-namespace secret's data, by secret name.
    pub secret_hashes: &'a BTreeMap<String, String>,
}

/// The objects of a native control plane.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// Services, applied first (their addresses go into the PKI).
    pub services: Vec<Service>,
    /// StatefulSets in start order: etcd, apiserver, controller-manager.
    pub stateful_sets: Vec<(Component, StatefulSet)>,
}

/// Renders the control plane of a tenant.
pub fn render(cv: &ClusterVersion, inputs: &RenderInputs<'_>) -> Result<Desired, String> {
    check_cluster_version(cv)?;
    let mut out = Desired::default();
    for (component, bundle) in components(cv) {
        if let Some(svc) = &bundle.service {
            out.services
                .push(render_service(svc, bundle, component, inputs));
        }
        if let Some(sts) = &bundle.stateful_set {
            out.stateful_sets
                .push((component, render_sts(sts, bundle, component, inputs)?));
        }
    }
    Ok(out)
}

fn meta(source: &ObjectMeta, name: String, component: Component, ns: &str) -> ObjectMeta {
    let mut labels = source.labels.clone().unwrap_or_default();
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    labels.insert(LABEL_COMPONENT.into(), component.as_str().into());
    ObjectMeta {
        name: Some(name),
        namespace: Some(ns.to_string()),
        labels: Some(labels),
        annotations: source.annotations.clone(),
        ..Default::default()
    }
}

fn render_service(
    svc: &Service,
    bundle: &StatefulSetSvcBundle,
    component: Component,
    inputs: &RenderInputs<'_>,
) -> Service {
    let name = svc_name(bundle).unwrap_or_else(|| component.as_str().to_string());
    Service {
        metadata: meta(&svc.metadata, name, component, inputs.namespace),
        spec: svc.spec.clone(),
        status: None,
    }
}

fn render_sts(
    sts: &StatefulSet,
    bundle: &StatefulSetSvcBundle,
    component: Component,
    inputs: &RenderInputs<'_>,
) -> Result<StatefulSet, String> {
    let name = sts_name(bundle).ok_or("StatefulSet without a name")?;
    let mut spec = sts.spec.clone().ok_or("StatefulSet without a spec")?;
    let replicas = spec.replicas.unwrap_or(1).max(1);
    let service = svc_name(bundle).unwrap_or_else(|| name.clone());
    let pod = spec
        .template
        .spec
        .as_mut()
        .ok_or("pod template without a spec")?;
    let Some(main) = pod.containers.first_mut() else {
        return Err("pod template without containers".into());
    };
    match component {
        Component::Etcd => {
            if !has_flag(main, "--initial-cluster") {
                let peers: Vec<String> = (0..replicas)
                    .map(|i| format!("{name}-{i}=https://{name}-{i}.{service}:{ETCD_PEER_PORT}"))
                    .collect();
                set_flag(main, "--initial-cluster", &peers.join(","));
            }
        }
        Component::ApiServer => {
            set_flag(main, "--service-cluster-ip-range", inputs.service_cidr);
            set_flag(
                main,
                "--kubelet-client-certificate",
                &format!("{KUBELET_CLIENT_DIR}/tls.crt"),
            );
            set_flag(
                main,
                "--kubelet-client-key",
                &format!("{KUBELET_CLIENT_DIR}/tls.key"),
            );
            mount_kubelet_client(main);
            let volumes = pod.volumes.get_or_insert_with(Vec::new);
            let secret = PkiItem::KubeletClient.secret_name();
            let fine = volumes.iter().any(|v| {
                v.name == KUBELET_CLIENT_VOLUME
                    && v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(secret)
            });
            if !fine {
                volumes.retain(|v| v.name != KUBELET_CLIENT_VOLUME);
                volumes.push(Volume {
                    name: KUBELET_CLIENT_VOLUME.into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
        }
        Component::ControllerManager => {
            set_flag(main, "--service-cluster-ip-range", inputs.service_cidr);
        }
    }
    let hash = mounted_secrets_hash(pod.volumes.as_deref().unwrap_or_default(), inputs);
    spec.template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(ANNOTATION_PKI_HASH.into(), hash);
    Ok(StatefulSet {
        metadata: meta(&sts.metadata, name, component, inputs.namespace),
        spec: Some(spec),
        status: None,
    })
}

fn mount_kubelet_client(c: &mut Container) {
    let mounts = c.volume_mounts.get_or_insert_with(Vec::new);
    if mounts
        .iter()
        .any(|m| m.name == KUBELET_CLIENT_VOLUME && m.mount_path == KUBELET_CLIENT_DIR)
    {
        return;
    }
    mounts.retain(|m| m.name != KUBELET_CLIENT_VOLUME && m.mount_path != KUBELET_CLIENT_DIR);
    mounts.push(VolumeMount {
        name: KUBELET_CLIENT_VOLUME.into(),
        mount_path: KUBELET_CLIENT_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    });
}

/// Hash over the data hashes of every secret the volumes mount (sorted by secret name).
fn mounted_secrets_hash(volumes: &[Volume], inputs: &RenderInputs<'_>) -> String {
    let mut names: Vec<&str> = volumes
        .iter()
        .flat_map(|v| {
            let direct = v.secret.as_ref().and_then(|s| s.secret_name.as_deref());
            let projected = v
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
                .filter_map(|s| s.secret.as_ref().map(|s| s.name.as_str()));
            direct.into_iter().chain(projected)
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut h = Sha256::new();
    for name in names {
        h.update(name.as_bytes());
        h.update(b"=");
        h.update(inputs.secret_hashes.get(name).map_or("", String::as_str));
        h.update(b"\n");
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Whether a container's command or args set `flag` (as `--flag=v` or `--flag v`).
pub fn has_flag(c: &Container, flag: &str) -> bool {
    let prefix = format!("{flag}=");
    c.command
        .iter()
        .chain(c.args.iter())
        .flatten()
        .any(|a| a == flag || a.starts_with(&prefix))
}

/// Sets `flag` to `value` where the container sets it, or appends `--flag=value` to its args.
pub fn set_flag(c: &mut Container, flag: &str, value: &str) {
    let prefix = format!("{flag}=");
    let wanted = format!("{flag}={value}");
    for list in [c.command.as_mut(), c.args.as_mut()].into_iter().flatten() {
        let mut i = 0;
        while i < list.len() {
            if list[i].starts_with(&prefix) {
                list[i] = wanted.clone();
                return;
            }
            if list[i] == flag {
                if i + 1 < list.len() {
                    list[i + 1] = value.to_string();
                } else {
                    list.push(value.to_string());
                }
                return;
            }
            i += 1;
        }
    }
    c.args.get_or_insert_with(Vec::new).push(wanted);
}

/// Names the etcd certificate must carry: the service and every replica, in all DNS forms.
pub fn etcd_names(cv: &ClusterVersion, namespace: &str, domain: &str) -> SubjectNames {
    let mut names = SubjectNames::default();
    names.add("localhost");
    names.add("127.0.0.1");
    let Some(bundle) = cv.spec.etcd.as_ref() else {
        return names;
    };
    let (Some(sts), Some(svc)) = (sts_name(bundle), svc_name(bundle)) else {
        return names;
    };
    let replicas = bundle
        .stateful_set
        .as_ref()
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(1);
    for host in
        std::iter::once(svc.clone()).chain((0..replicas).map(|i| format!("{sts}-{i}.{svc}")))
    {
        add_dns_forms(&mut names, &host, namespace, domain);
    }
    names
}

/// Adds `host`, `host.ns`, `host.ns.svc` and `host.ns.svc.domain`.
pub fn add_dns_forms(names: &mut SubjectNames, host: &str, namespace: &str, domain: &str) {
    names.add(host);
    names.add(&format!("{host}.{namespace}"));
    names.add(&format!("{host}.{namespace}.svc"));
    names.add(&format!("{host}.{namespace}.svc.{domain}"));
}
