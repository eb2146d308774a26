//! What one object counts against a tenant's quota, with upstream ResourceQuota's resource names
//! and semantics (`pkg/quota/v1/evaluator/core`): pods, their compute requests and limits
//! (computed like the scheduler's pod requests), services, node ports, load balancers, claims
//! and requested storage. Amounts are exact milli-units (`pods=1` is 1000). Pure.

use std::collections::BTreeMap;

use crds::quantity::parse_milli;
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, Pod, ResourceRequirements, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Resource name → amount in milli-units.
pub type Amounts = BTreeMap<String, i128>;

/// One unit (an object count) in milli-units.
pub const ONE: i128 = 1000;

/// A quantity in an object or a quota that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {source}")]
pub struct UsageError {
    /// Where the quantity is, e.g. `container "main" requests cpu`.
    pub what: String,
    /// Why it is invalid.
    pub source: crds::quantity::QuantityError,
}

fn parse(q: &Quantity, what: impl FnOnce() -> String) -> Result<i128, UsageError> {
    parse_milli(&q.0).map_err(|source| UsageError {
        what: what(),
        source,
    })
}

/// Parses quota limits (`spec.quota.hard`); every entry must be a valid quantity.
pub fn parse_hard(hard: &BTreeMap<String, String>) -> Result<Amounts, UsageError> {
    hard.iter()
        .map(|(name, q)| {
            parse_milli(q)
                .map(|v| (name.clone(), v))
                .map_err(|source| UsageError {
                    what: format!("quota {name}"),
                    source,
                })
        })
        .collect()
}

/// Parses `pods=100,requests.cpu=10` (the `--default-tenant-quota` flag).
pub fn parse_hard_flag(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, q) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not NAME=QUANTITY"))?;
        let (name, q) = (name.trim(), q.trim());
        if name.is_empty() {
            return Err(format!("{part:?} names no resource"));
        }
        parse_milli(q).map_err(|e| e.to_string())?;
        out.insert(name.to_string(), q.to_string());
    }
    Ok(out)
}

/// Whether a pod has reached a terminal phase (its compute resources no longer count).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// `requests.<name>` / `limits.<name>` / bare names a container or pod resource list maps to.
fn compute_usage(requests: &Amounts, limits: &Amounts) -> Amounts {
    let mut out = Amounts::new();
    for (name, v) in requests {
        match name.as_str() {
            "cpu" | "memory" | "ephemeral-storage" => {
                out.insert(name.clone(), *v);
                out.insert(format!("requests.{name}"), *v);
            }
            n if n.starts_with("hugepages-") => {
                out.insert(name.clone(), *v);
                out.insert(format!("requests.{name}"), *v);
            }
            n if is_extended(n) => {
                // Only `requests.<name>` is allowed in a quota for extended resources.
                out.insert(format!("requests.{name}"), *v);
            }
            _ => {}
        }
    }
    for (name, v) in limits {
        if matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            out.insert(format!("limits.{name}"), *v);
        }
    }
    out
}

/// An extended resource (e.g. `nvidia.com/gpu`): a qualified name outside `kubernetes.io`.
fn is_extended(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

fn list(m: Option<&BTreeMap<String, Quantity>>, what: &str) -> Result<Amounts, UsageError> {
    let mut out = Amounts::new();
    for (name, q) in m.into_iter().flatten() {
        out.insert(name.clone(), parse(q, || format!("{what} {name}"))?);
    }
    Ok(out)
}

fn add(into: &mut Amounts, from: &Amounts) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

fn max_into(into: &mut Amounts, from: &Amounts) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_insert(*v);
        *e = (*e).max(*v);
    }
}

type Pick = fn(&ResourceRequirements) -> Option<&BTreeMap<String, Quantity>>;

fn container_list(c: &Container, pick: Pick, what: &str) -> Result<Amounts, UsageError> {
    list(
        c.resources.as_ref().and_then(pick),
        &format!("container {:?} {what}", c.name),
    )
}

/// The pod's effective requests (or limits) as upstream's `PodRequests`/`PodLimits` compute
/// them: the larger of the sum over app containers (plus restartable init containers, i.e.
/// sidecars) and the largest init container (plus the sidecars started before it); pod-level
/// resources where set; plus the pod overhead (for limits only where a limit exists).
fn pod_list(pod: &Pod, pick: Pick, what: &str) -> Result<Amounts, UsageError> {
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(Amounts::new());
    };
    let mut sum = Amounts::new();
    for c in &spec.containers {
        add(&mut sum, &container_list(c, pick, what)?);
    }
    let mut sidecars = Amounts::new();
    let mut init_max = Amounts::new();
    for c in spec.init_containers.iter().flatten() {
        let own = container_list(c, pick, what)?;
        if c.restart_policy.as_deref() == Some("Always") {
            add(&mut sum, &own);
            add(&mut sidecars, &own);
            max_into(&mut init_max, &sidecars);
        } else {
            let mut with_sidecars = own;
            add(&mut with_sidecars, &sidecars);
            max_into(&mut init_max, &with_sidecars);
        }
    }
    max_into(&mut sum, &init_max);
    // Pod-level resources (cpu, memory) replace the aggregate where set.
    let pod_level = list(
        spec.resources.as_ref().and_then(pick),
        &format!("pod {what}"),
    )?;
    for (name, v) in pod_level {
        if matches!(name.as_str(), "cpu" | "memory") {
            sum.insert(name, v);
        }
    }
    let overhead = list(spec.overhead.as_ref(), "pod overhead")?;
    for (name, v) in overhead {
        if what == "requests" {
            *sum.entry(name).or_insert(0) += v;
        } else if let Some(limit) = sum.get_mut(&name) {
            *limit += v;
        }
    }
    Ok(sum)
}

/// What a pod counts against a quota: `count/pods` always; `pods` and compute resources only
/// while it is not terminal.
pub fn pod(pod: &Pod) -> Result<Amounts, UsageError> {
    let mut out = Amounts::from([("count/pods".to_string(), ONE)]);
    if is_terminal(pod) {
        return Ok(out);
    }
    let requests = pod_list(pod, |r| r.requests.as_ref(), "requests")?;
    let limits = pod_list(pod, |r| r.limits.as_ref(), "limits")?;
    out.extend(compute_usage(&requests, &limits));
    out.insert("pods".into(), ONE);
    Ok(out)
}

/// Compute resources a quota requires every container to state (upstream's backward
/// compatible rule): each of these in the quota must be requested (or limited) by every
/// container.
const STATED: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// The quota resources some container of the pod does not state, sorted (upstream's
/// `must specify …` constraint); empty when the pod may be counted.
pub fn missing_constraints(pod: &Pod, hard: &Amounts) -> Vec<String> {
    let required: Vec<&str> = STATED
        .into_iter()
        .filter(|r| hard.contains_key(*r))
        .collect();
    let mut missing = std::collections::BTreeSet::new();
    if required.is_empty() {
        return Vec::new();
    }
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let r = c.resources.as_ref();
        let names = |m: Option<&BTreeMap<String, Quantity>>| -> Amounts {
            m.into_iter()
                .flatten()
                .map(|(k, _)| (k.clone(), 0))
                .collect()
        };
        let stated = compute_usage(
            &names(r.and_then(|r| r.requests.as_ref())),
            &names(r.and_then(|r| r.limits.as_ref())),
        );
        for req in &required {
            if !stated.contains_key(*req) {
                missing.insert(req.to_string());
            }
        }
    }
    missing.into_iter().collect()
}

/// What a service counts: `services`, `count/services`, `services.loadbalancers` and
/// `services.nodeports` (every port of a NodePort or LoadBalancer service, or only those with
/// an explicit node port when the load balancer allocates none).
pub fn service(svc: &Service) -> Amounts {
    let mut out = Amounts::from([
        ("services".to_string(), ONE),
        ("count/services".to_string(), ONE),
    ]);
    let Some(spec) = svc.spec.as_ref() else {
        return out;
    };
    let ports = spec.ports.as_deref().unwrap_or_default();
    let n = |k: usize| i128::try_from(k).unwrap_or(i128::MAX / ONE) * ONE;
    match spec.type_.as_deref() {
        Some("NodePort") => {
            out.insert("services.nodeports".into(), n(ports.len()));
        }
        Some("LoadBalancer") => {
            let count = if spec.allocate_load_balancer_node_ports == Some(false) {
                ports.iter().filter(|p| p.node_port.is_some()).count()
            } else {
                ports.len()
            };
            out.insert("services.nodeports".into(), n(count));
            out.insert("services.loadbalancers".into(), ONE);
        }
        _ => {}
    }
    out
}

/// What a claim counts: `persistentvolumeclaims`, `count/persistentvolumeclaims`,
/// `requests.storage`, and the same per storage class
/// (`<class>.storageclass.storage.k8s.io/requests.storage`).
pub fn claim(pvc: &PersistentVolumeClaim) -> Result<Amounts, UsageError> {
    let mut out = Amounts::from([
        ("persistentvolumeclaims".to_string(), ONE),
        ("count/persistentvolumeclaims".to_string(), ONE),
    ]);
    let spec = pvc.spec.as_ref();
    let storage = spec
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| parse(q, || "claim requests storage".into()))
        .transpose()?;
    let class = spec.and_then(|s| s.storage_class_name.as_deref());
    if let Some(class) = class {
        out.insert(
            format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"),
            ONE,
        );
    }
    if let Some(v) = storage {
        out.insert("requests.storage".into(), v);
        if let Some(class) = class {
            out.insert(
                format!("{class}.storageclass.storage.k8s.io/requests.storage"),
                v,
            );
        }
    }
    Ok(out)
}

/// Whether the ledger tracks a quota resource (the others are left to the super cluster's
/// ResourceQuota backstop).
pub fn is_tracked(name: &str) -> bool {
    matches!(
        name,
        "pods"
            | "count/pods"
            | "cpu"
            | "memory"
            | "ephemeral-storage"
            | "services"
            | "count/services"
            | "services.loadbalancers"
            | "services.nodeports"
            | "persistentvolumeclaims"
            | "count/persistentvolumeclaims"
    ) || name.starts_with("requests.")
        || name.starts_with("limits.")
        || name.starts_with("hugepages-")
        || name.contains(".storageclass.storage.k8s.io/")
}

/// Formats an amount as a quantity: `1500m`, `2`, binary suffixes for byte-valued resources
/// (`128Mi`), plain integers otherwise.
pub fn format(resource: &str, milli: i128) -> String {
    if milli % ONE != 0 {
        return format!("{milli}m");
    }
    let v = milli / ONE;
    let bytes = ["memory", "storage", "hugepages"]
        .iter()
        .any(|k| resource.contains(k));
    if bytes && v != 0 {
        for (suffix, unit) in [
            ("Ti", 1i128 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if v % unit == 0 {
                return format!("{}{suffix}", v / unit);
            }
        }
    }
    v.to_string()
}

/// `name=quantity` pairs joined with commas, as upstream's quota messages print them.
pub fn pairs(resources: &[&String], amounts: &Amounts) -> String {
    resources
        .iter()
        .map(|r| format!("{r}={}", format(r, amounts.get(*r).copied().unwrap_or(0))))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        PersistentVolumeClaimSpec, PodSpec, PodStatus, ServicePort, ServiceSpec,
        VolumeResourceRequirements,
    };

    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    fn res(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Option<ResourceRequirements> {
        let m = |kv: &[(&str, &str)]| {
            (!kv.is_empty()).then(|| kv.iter().map(|(k, v)| (k.to_string(), q(v))).collect())
        };
        Some(ResourceRequirements {
            requests: m(requests),
            limits: m(limits),
            ..ResourceRequirements::default()
        })
    }

    fn container(name: &str, r: Option<ResourceRequirements>) -> Container {
        Container {
            name: name.into(),
            resources: r,
            ..Container::default()
        }
    }

    fn pod_of(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: (!init.is_empty()).then_some(init),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn pod_requests_are_max_of_app_sum_and_init_max_plus_overhead() {
        let mut p = pod_of(
            vec![
                container(
                    "a",
                    res(&[("cpu", "500m"), ("memory", "1Gi")], &[("cpu", "1")]),
                ),
                container("b", res(&[("cpu", "250m"), ("nvidia.com/gpu", "1")], &[])),
            ],
            vec![container("init", res(&[("cpu", "2")], &[("cpu", "3")]))],
        );
        if let Some(spec) = p.spec.as_mut() {
            spec.overhead = Some(BTreeMap::from([("cpu".to_string(), q("100m"))]));
        }
        let u = pod(&p).expect("usage");
        assert_eq!(u["pods"], ONE);
        assert_eq!(u["count/pods"], ONE);
        // max(750m, 2) + 100m overhead
        assert_eq!(u["requests.cpu"], 2100);
        assert_eq!(u["cpu"], 2100);
        assert_eq!(u["requests.memory"], (1i128 << 30) * ONE);
        // limits: max(1, 3) + overhead (cpu has a limit)
        assert_eq!(u["limits.cpu"], 3100);
        assert!(!u.contains_key("limits.memory"));
        assert_eq!(u["requests.nvidia.com/gpu"], ONE);
        assert!(!u.contains_key("nvidia.com/gpu"));
    }

    #[test]
    fn sidecars_add_to_the_sum() {
        let mut sidecar = container("log", res(&[("cpu", "100m")], &[]));
        sidecar.restart_policy = Some("Always".into());
        let p = pod_of(
            vec![container("app", res(&[("cpu", "1")], &[]))],
            vec![sidecar, container("init", res(&[("cpu", "500m")], &[]))],
        );
        // app 1 + sidecar 100m = 1100m; init 500m + sidecar 100m = 600m.
        assert_eq!(pod(&p).expect("usage")["requests.cpu"], 1100);
    }

    #[test]
    fn terminated_pods_count_only_as_objects() {
        let mut p = pod_of(vec![container("a", res(&[("cpu", "1")], &[]))], vec![]);
        for phase in ["Succeeded", "Failed"] {
            p.status = Some(PodStatus {
                phase: Some(phase.into()),
                ..PodStatus::default()
            });
            let u = pod(&p).expect("usage");
            assert_eq!(u, Amounts::from([("count/pods".to_string(), ONE)]));
        }
    }

    #[test]
    fn constraints_name_what_containers_omit() {
        let p = pod_of(
            vec![
                container("a", res(&[("cpu", "1")], &[])),
                container("b", None),
            ],
            vec![],
        );
        let hard = parse_hard(&BTreeMap::from([
            ("pods".to_string(), "10".to_string()),
            ("requests.cpu".to_string(), "4".to_string()),
            ("limits.cpu".to_string(), "4".to_string()),
        ]))
        .expect("hard");
        assert_eq!(
            missing_constraints(&p, &hard),
            vec!["limits.cpu".to_string(), "requests.cpu".to_string()]
        );
        let only_pods =
            parse_hard(&BTreeMap::from([("pods".to_string(), "1".to_string())])).expect("hard");
        assert!(missing_constraints(&p, &only_pods).is_empty());
    }

    #[test]
    fn services_count_node_ports_and_load_balancers() {
        let port = |np: Option<i32>| ServicePort {
            port: 80,
            node_port: np,
            ..ServicePort::default()
        };
        let svc = |t: &str, alloc: Option<bool>| Service {
            spec: Some(ServiceSpec {
                type_: Some(t.into()),
                ports: Some(vec![port(None), port(Some(30001))]),
                allocate_load_balancer_node_ports: alloc,
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        let c = service(&svc("ClusterIP", None));
        assert_eq!(c["services"], ONE);
        assert!(!c.contains_key("services.nodeports"));
        assert_eq!(
            service(&svc("NodePort", None))["services.nodeports"],
            2 * ONE
        );
        let lb = service(&svc("LoadBalancer", Some(false)));
        assert_eq!(lb["services.nodeports"], ONE);
        assert_eq!(lb["services.loadbalancers"], ONE);
    }

    #[test]
    fn claims_count_storage_per_class() {
        let pvc = PersistentVolumeClaim {
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: Some("fast".into()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), q("10Gi"))])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        };
        let u = claim(&pvc).expect("usage");
        assert_eq!(u["persistentvolumeclaims"], ONE);
        assert_eq!(u["requests.storage"], 10 * (1i128 << 30) * ONE);
        assert_eq!(
            u["fast.storageclass.storage.k8s.io/requests.storage"],
            10 * (1i128 << 30) * ONE
        );
    }

    #[test]
    fn formats_and_parses_quantities() {
        assert_eq!(format("requests.cpu", 1500), "1500m");
        assert_eq!(format("requests.cpu", 2000), "2");
        assert_eq!(format("pods", 100 * ONE), "100");
        assert_eq!(format("requests.memory", (128i128 << 20) * ONE), "128Mi");
        assert_eq!(format("requests.memory", 1000 * ONE), "1000");
        assert_eq!(
            parse_hard_flag("pods=100, requests.cpu=10").expect("flag"),
            BTreeMap::from([
                ("pods".to_string(), "100".to_string()),
                ("requests.cpu".to_string(), "10".to_string())
            ])
        );
        assert!(parse_hard_flag("pods").is_err());
        assert!(parse_hard_flag("pods=lots").is_err());
        assert!(is_tracked("requests.nvidia.com/gpu"));
        assert!(!is_tracked("secrets"));
    }
}
