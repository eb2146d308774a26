//! The kubelet paths vn-agent serves, and the pure decision whether a tenant may reach a pod:
//! parsing, name validation, ownership and uid checks, and the path forwarded to the kubelet.

use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::{Node, Pod};

use common::kubelet_path::{self, KubeletPath, PathError, PodPath};
use common::kubelet_proxy::Upstream;
use crds::tenancy::{self, ANNOTATION_NAMESPACE, ANNOTATION_UID};

use crate::refusal::Refusal;

/// A per-pod kubelet action.
pub use common::kubelet_path::PodAction as Action;

/// A request for one tenant pod, as the tenant named it (the pod name is the same in tenant and
/// super cluster).
pub type PodRequest = PodPath;

/// A parsed request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// A per-pod action.
    Pod(PodRequest),
    /// `/pods`: the tenant's pods on this node.
    Pods,
    /// `/healthz`, answered by vn-agent itself.
    Healthz,
}

impl Route {
    /// The label used in metrics and logs.
    pub fn action(&self) -> &'static str {
        match self {
            Route::Pod(p) => p.action.as_str(),
            Route::Pods => "pods",
            Route::Healthz => "healthz",
        }
    }
}

/// Kubelet endpoints that describe the whole node; serving them would show a tenant every other
/// tenant's pods, containers and logs.
const NODE_WIDE: [&str; 10] = [
    "stats",
    "metrics",
    "logs",
    "spec",
    "configz",
    "debug",
    "checkpoint",
    "runningpods",
    "cri",
    "flagz",
];

/// Parses `method` + `path` into a route, or says why it is refused.
pub fn parse(method: &Method, path: &str) -> Result<Route, Refusal> {
    let parsed = kubelet_path::parse(path);
    let action = match &parsed {
        Ok(KubeletPath::Pod(p)) => Some(p.action),
        Err(PathError::Shape { action, .. }) => Some(*action),
        _ => None,
    };
    // The method is checked before the shape, as the kubelet's router does.
    if let Some(action) = action
        && !action.allows(method)
    {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            format!("{method} is not allowed on /{}", action.segment()),
        ));
    }
    match parsed {
        Ok(KubeletPath::Pod(p)) => validate(p).map(Route::Pod),
        Ok(KubeletPath::Pods) if method == Method::GET => Ok(Route::Pods),
        Ok(KubeletPath::Healthz) => Ok(Route::Healthz),
        Ok(KubeletPath::Pods) => Err(node_wide(path)),
        Ok(KubeletPath::Other { endpoint, .. })
            if NODE_WIDE.contains(&endpoint.as_str()) || endpoint == "pods" =>
        {
            Err(node_wide(path))
        }
        Ok(KubeletPath::Other { .. }) | Err(PathError::NotAbsolute(_)) => Err(unknown(path)),
        Err(e @ PathError::Shape { .. }) => Err(Refusal::not_found("unknown_path", e.to_string())),
    }
}

fn node_wide(path: &str) -> Refusal {
    Refusal::forbidden(
        "node_wide",
        format!(
            "{path} is a node-wide kubelet endpoint; vn-agent does not serve it to tenants \
             because it would expose other tenants' workloads"
        ),
    )
}

fn unknown(path: &str) -> Refusal {
    Refusal::not_found(
        "unknown_path",
        format!(
            "{path} is not served: vn-agent serves /containerLogs, /exec, /attach, /portForward, \
             /run and /pods for the tenant's own pods"
        ),
    )
}

/// Accepts only names the API server could have created, so nothing crafted reaches a path.
fn validate(p: PodPath) -> Result<PodRequest, Refusal> {
    if !tenancy::is_dns1123_label(&p.namespace) {
        return Err(bad_name("namespace", &p.namespace));
    }
    if !tenancy::is_dns1123_subdomain(&p.pod) {
        return Err(bad_name("pod name", &p.pod));
    }
    if let Some(c) = &p.container
        && !tenancy::is_dns1123_label(c)
    {
        return Err(bad_name("container name", c));
    }
    if let Some(u) = &p.uid
        && !valid_uid(u)
    {
        return Err(bad_name("pod uid", u));
    }
    Ok(p)
}

fn valid_uid(u: &str) -> bool {
    !u.is_empty() && u.len() <= 64 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn bad_name(what: &str, value: &str) -> Refusal {
    Refusal::bad_request(
        "bad_name",
        format!("invalid {what} {value:?} in the request path"),
    )
}

/// Where an authorized request goes: the super pod's path on its kubelet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The kubelet path (super namespace, super uid), without the query.
    pub path: String,
    /// The node the super pod is bound to.
    pub node_name: Option<String>,
}

/// Decides whether `tenant` may act on the super pod found at `super_ns/req.pod`, and where
/// the request goes. Ownership is read from the contract's annotations, never from names.
pub fn authorize(
    tenant: &str,
    req: &PodRequest,
    super_ns: &str,
    pod: Option<&Pod>,
) -> Result<Target, Refusal> {
    let Some(pod) = pod else {
        return Err(Refusal::not_found(
            "pod_not_found",
            format!(
                "pod {:?} in namespace {:?} not found on the super cluster (not synced yet, or deleted)",
                req.pod, req.namespace
            ),
        ));
    };
    let foreign = || {
        Refusal::forbidden(
            "foreign_pod",
            format!(
                "pod {:?} in namespace {:?} is not a pod of this virtual cluster",
                req.pod, req.namespace
            ),
        )
    };
    let empty = Default::default();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    if !tenancy::owned_by(annotations, tenant) {
        return Err(foreign());
    }
    if annotations.get(ANNOTATION_NAMESPACE) != Some(&req.namespace) {
        return Err(foreign());
    }
    let mut target = PodPath {
        namespace: super_ns.to_string(),
        uid: None,
        ..req.clone()
    };
    if let Some(uid) = &req.uid {
        if annotations.get(ANNOTATION_UID) != Some(uid) {
            return Err(Refusal::forbidden(
                "uid_mismatch",
                format!(
                    "pod {:?} in namespace {:?} does not have uid {uid:?}",
                    req.pod, req.namespace
                ),
            ));
        }
        let super_uid = pod.metadata.uid.as_deref().ok_or_else(|| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "super_pod_invalid",
                "the super pod has no uid",
            )
        })?;
        target.uid = Some(super_uid.to_string());
    }
    Ok(Target {
        path: target.to_path(),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    })
}

/// The kubelet endpoint of a node: its InternalIP (else ExternalIP, else Hostname) and
/// `status.daemonEndpoints.kubeletEndpoint.Port` (10250 when unset).
pub fn kubelet_of(node: &Node) -> Result<Upstream, Refusal> {
    let name = node.metadata.name.as_deref().unwrap_or_default();
    let status = node.status.as_ref();
    let addresses = status.and_then(|s| s.addresses.as_ref());
    let pick = |kind: &str| {
        addresses
            .and_then(|a| a.iter().find(|x| x.type_ == kind))
            .map(|a| a.address.clone())
    };
    let host = pick("InternalIP")
        .or_else(|| pick("ExternalIP"))
        .or_else(|| pick("Hostname"))
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "node_unreachable",
                format!("node {name:?} reports no address for its kubelet"),
            )
        })?;
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|e| e.port)
        .filter(|p| *p > 0)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(10250);
    Ok(Upstream::new(host, port))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        DaemonEndpoint, NodeAddress, NodeDaemonEndpoints, NodeStatus, PodSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn get(path: &str) -> Result<Route, Refusal> {
        parse(&Method::GET, path)
    }

    #[test]
    fn parses_pod_routes() {
        assert_eq!(
            get("/containerLogs/ns/p/c"),
            Ok(Route::Pod(PodRequest {
                action: Action::Logs,
                namespace: "ns".into(),
                pod: "p".into(),
                uid: None,
                container: Some("c".into()),
            }))
        );
        let Ok(Route::Pod(r)) = parse(&Method::POST, "/exec/ns/p.x/u-1/c") else {
            panic!()
        };
        assert_eq!((r.action, r.uid.as_deref()), (Action::Exec, Some("u-1")));
        let Ok(Route::Pod(r)) = get("/portForward/ns/p") else {
            panic!()
        };
        assert_eq!((r.action, r.container), (Action::PortForward, None));
        let Ok(Route::Pod(r)) = get("/portForward/ns/p/uid") else {
            panic!()
        };
        assert_eq!(r.uid.as_deref(), Some("uid"));
        assert!(matches!(
            parse(&Method::POST, "/run/ns/p/c"),
            Ok(Route::Pod(_))
        ));
        assert!(matches!(get("/attach/ns/p/uid/c"), Ok(Route::Pod(_))));
        assert_eq!(get("/pods"), Ok(Route::Pods));
        assert_eq!(get("/pods/"), Ok(Route::Pods));
        assert_eq!(get("/healthz"), Ok(Route::Healthz));
    }

    #[test]
    fn refuses_node_wide_unknown_and_malformed_paths() {
        for p in [
            "/stats/summary",
            "/stats",
            "/metrics",
            "/metrics/cadvisor",
            "/metrics/resource",
            "/logs/",
            "/logs/syslog",
            "/spec/",
            "/configz",
            "/debug/pprof/heap",
            "/checkpoint/ns/p/c",
            "/runningpods/",
            "/pods/extra",
        ] {
            let e = get(p).unwrap_err();
            assert_eq!(
                (e.code, e.kind),
                (StatusCode::FORBIDDEN, "node_wide"),
                "{p}"
            );
        }
        for p in [
            "/",
            "/foo",
            "/containerLogs/ns/p",
            "/exec/ns/p/a/b/c",
            "x",
            "/containerLogs/ns/p/c/",
        ] {
            let e = get(p).unwrap_err();
            assert_eq!(e.code, StatusCode::NOT_FOUND, "{p}");
        }
        for p in [
            "/containerLogs/NS/p/c",
            "/containerLogs/ns/P_/c",
            "/containerLogs/ns/p/c.x",
            "/containerLogs/../p/c",
            "/containerLogs/ns%2Fx/p/c",
            "/exec/ns/p/u$id/c",
        ] {
            let e = get(p).unwrap_err();
            assert_eq!(
                (e.code, e.kind),
                (StatusCode::BAD_REQUEST, "bad_name"),
                "{p}"
            );
        }
        assert_eq!(
            parse(&Method::DELETE, "/exec/ns/p/c").unwrap_err().code,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            get("/run/ns/p/c").unwrap_err().code,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            parse(&Method::POST, "/pods").unwrap_err().code,
            StatusCode::FORBIDDEN
        );
    }

    fn super_pod(cluster: &str, ns: &str, tenant_uid: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some(format!("{cluster}-{ns}")),
                uid: Some("super-uid".into()),
                annotations: Some(BTreeMap::from([
                    (tenancy::ANNOTATION_CLUSTER.to_string(), cluster.to_string()),
                    (ANNOTATION_NAMESPACE.to_string(), ns.to_string()),
                    (ANNOTATION_UID.to_string(), tenant_uid.to_string()),
                ])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn req(action: Action, uid: Option<&str>, container: Option<&str>) -> PodRequest {
        PodRequest {
            action,
            namespace: "default".into(),
            pod: "p".into(),
            uid: uid.map(str::to_string),
            container: container.map(str::to_string),
        }
    }

    #[test]
    fn authorizes_own_pods_and_translates_paths() {
        let pod = super_pod("ta", "default", "tenant-uid");
        let t = authorize(
            "ta",
            &req(Action::Logs, None, Some("c")),
            "ta-default",
            Some(&pod),
        )
        .unwrap();
        assert_eq!(t.path, "/containerLogs/ta-default/p/c");
        assert_eq!(t.node_name.as_deref(), Some("node-1"));
        let t = authorize(
            "ta",
            &req(Action::Exec, Some("tenant-uid"), Some("c")),
            "ta-default",
            Some(&pod),
        )
        .unwrap();
        assert_eq!(t.path, "/exec/ta-default/p/super-uid/c");
        let t = authorize(
            "ta",
            &req(Action::PortForward, None, None),
            "ta-default",
            Some(&pod),
        )
        .unwrap();
        assert_eq!(t.path, "/portForward/ta-default/p");
    }

    #[test]
    fn refuses_missing_foreign_and_mismatching_pods() {
        let r = req(Action::Logs, None, Some("c"));
        assert_eq!(
            authorize("ta", &r, "ta-default", None).unwrap_err().kind,
            "pod_not_found"
        );
        // Another tenant's pod.
        let theirs = super_pod("tb", "default", "u");
        assert_eq!(
            authorize("ta", &r, "ta-default", Some(&theirs))
                .unwrap_err()
                .kind,
            "foreign_pod"
        );
        // Our pod, but from another tenant namespace than asked for (a crafted namespace
        // colliding in the super cluster).
        let other_ns = super_pod("ta", "kube-system", "u");
        assert_eq!(
            authorize("ta", &r, "ta-default", Some(&other_ns))
                .unwrap_err()
                .kind,
            "foreign_pod"
        );
        // A pod without annotations is never a tenant's.
        let mut bare = super_pod("ta", "default", "u");
        bare.metadata.annotations = None;
        assert_eq!(
            authorize("ta", &r, "ta-default", Some(&bare))
                .unwrap_err()
                .kind,
            "foreign_pod"
        );
        let pod = super_pod("ta", "default", "tenant-uid");
        let e = authorize(
            "ta",
            &req(Action::Exec, Some("super-uid"), Some("c")),
            "ta-default",
            Some(&pod),
        )
        .unwrap_err();
        assert_eq!((e.code, e.kind), (StatusCode::FORBIDDEN, "uid_mismatch"));
    }

    #[test]
    fn finds_kubelet_endpoints() {
        let mut node = Node {
            metadata: ObjectMeta {
                name: Some("n".into()),
                ..Default::default()
            },
            spec: None,
            status: Some(NodeStatus {
                addresses: Some(vec![
                    NodeAddress {
                        type_: "Hostname".into(),
                        address: "n".into(),
                    },
                    NodeAddress {
                        type_: "InternalIP".into(),
                        address: "10.0.0.7".into(),
                    },
                ]),
                daemon_endpoints: Some(NodeDaemonEndpoints {
                    kubelet_endpoint: Some(DaemonEndpoint { port: 12345 }),
                }),
                ..Default::default()
            }),
        };
        assert_eq!(kubelet_of(&node).unwrap(), Upstream::new("10.0.0.7", 12345));
        node.status.as_mut().unwrap().daemon_endpoints = None;
        assert_eq!(kubelet_of(&node).unwrap().port(), 10250);
        node.status.as_mut().unwrap().addresses = None;
        assert_eq!(
            kubelet_of(&node).unwrap_err().code,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
