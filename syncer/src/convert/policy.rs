//! The VirtualCluster's pod policy: what a tenant pod may ask of the super cluster, and the
//! default requests it gets. Without a policy, host namespaces, hostPath and privileged
//! containers are forbidden.

use std::collections::BTreeMap;

use crds::quantity::parse_milli;
use crds::{PodPolicy, PodShape};
use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::ConvertError;

/// Rejects a pod spec the policy forbids; the error names the rule.
pub fn check(policy: &PodPolicy, spec: &PodSpec) -> Result<(), ConvertError> {
    let violation =
        |rule: &'static str, detail: String| ConvertError::PolicyViolation { rule, detail };
    if spec.host_network == Some(true) && !policy.allow_host_network {
        return Err(violation("allowHostNetwork", "hostNetwork: true".into()));
    }
    if spec.host_pid == Some(true) && !policy.allow_host_pid {
        return Err(violation("allowHostPID", "hostPID: true".into()));
    }
    if spec.host_ipc == Some(true) && !policy.allow_host_ipc {
        return Err(violation("allowHostIPC", "hostIPC: true".into()));
    }
    if !policy.allow_host_path {
        for v in spec.volumes.iter().flatten() {
            if let Some(hp) = &v.host_path {
                return Err(violation(
                    "allowHostPath",
                    format!("volume {:?} is a hostPath of {:?}", v.name, hp.path),
                ));
            }
        }
    }
    if !policy.allow_privileged {
        for c in all_containers(spec) {
            if c.security_context.as_ref().and_then(|s| s.privileged) == Some(true) {
                return Err(violation(
                    "allowPrivileged",
                    format!("container {:?} is privileged", c.name),
                ));
            }
        }
        for c in spec.ephemeral_containers.iter().flatten() {
            if c.security_context.as_ref().and_then(|s| s.privileged) == Some(true) {
                return Err(violation(
                    "allowPrivileged",
                    format!("ephemeral container {:?} is privileged", c.name),
                ));
            }
        }
    }
    if !policy.allowed_shapes.is_empty() {
        check_shape(&policy.allowed_shapes, spec)?;
    }
    Ok(())
}

fn all_containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
}

fn check_shape(shapes: &[PodShape], spec: &PodSpec) -> Result<(), ConvertError> {
    let cpu = pod_total(spec, "cpu")?;
    let memory = pod_total(spec, "memory")?;
    for shape in shapes {
        let max_cpu = parse_milli(&shape.cpu)
            .map_err(|e| ConvertError::Invalid(format!("podPolicy shape cpu: {e}")))?;
        let max_mem = parse_milli(&shape.memory)
            .map_err(|e| ConvertError::Invalid(format!("podPolicy shape memory: {e}")))?;
        if cpu <= max_cpu && memory <= max_mem {
            return Ok(());
        }
    }
    let names: Vec<String> = shapes
        .iter()
        .map(|s| match &s.name {
            Some(n) => format!("{n} ({} CPU, {} memory)", s.cpu, s.memory),
            None => format!("{} CPU, {} memory", s.cpu, s.memory),
        })
        .collect();
    Err(ConvertError::PolicyViolation {
        rule: "allowedShapes",
        detail: format!(
            "the pod needs {} CPU and {} memory, which fits none of the allowed shapes: {}",
            fmt_milli(cpu, "cpu"),
            fmt_milli(memory, "memory"),
            names.join(", ")
        ),
    })
}

fn fmt_milli(v: i128, resource: &str) -> String {
    if resource == "cpu" {
        format!("{v}m")
    } else {
        format!("{}", v / 1000)
    }
}

/// A container's need for `resource` in milli-units: its request, or its limit where larger.
fn container_need(c: &Container, resource: &str) -> Result<i128, ConvertError> {
    let get = |m: Option<&BTreeMap<String, Quantity>>| -> Result<i128, ConvertError> {
        match m.and_then(|m| m.get(resource)) {
            Some(q) => parse_milli(&q.0).map_err(|e| {
                ConvertError::Invalid(format!("container {:?} {resource}: {e}", c.name))
            }),
            None => Ok(0),
        }
    };
    let r = c.resources.as_ref();
    let request = get(r.and_then(|r| r.requests.as_ref()))?;
    let limit = get(r.and_then(|r| r.limits.as_ref()))?;
    Ok(request.max(limit))
}

/// The pod's effective need as the scheduler computes it: the larger of the sum over app
/// containers and the largest init container, plus the pod overhead.
pub fn pod_total(spec: &PodSpec, resource: &str) -> Result<i128, ConvertError> {
    let mut sum = 0i128;
    for c in &spec.containers {
        sum += container_need(c, resource)?;
    }
    let mut init_max = 0i128;
    for c in spec.init_containers.iter().flatten() {
        init_max = init_max.max(container_need(c, resource)?);
    }
    let overhead = match spec.overhead.as_ref().and_then(|o| o.get(resource)) {
        Some(q) => parse_milli(&q.0)
            .map_err(|e| ConvertError::Invalid(format!("pod overhead {resource}: {e}")))?,
        None => 0,
    };
    Ok(sum.max(init_max) + overhead)
}

/// Sets the policy's default requests on every container that sets neither a request nor a
/// limit for that resource.
pub fn apply_default_requests(policy: &PodPolicy, spec: &mut PodSpec) {
    if policy.default_requests.is_empty() {
        return;
    }
    let fill = |c: &mut Container| {
        let resources = c
            .resources
            .get_or_insert_with(ResourceRequirements::default);
        for (resource, qty) in &policy.default_requests {
            let has_limit = resources
                .limits
                .as_ref()
                .is_some_and(|l| l.contains_key(resource));
            let requests = resources.requests.get_or_insert_default();
            if !has_limit && !requests.contains_key(resource) {
                requests.insert(resource.clone(), Quantity(qty.clone()));
            }
        }
    };
    spec.containers.iter_mut().for_each(fill);
    spec.init_containers.iter_mut().flatten().for_each(fill);
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{HostPathVolumeSource, SecurityContext, Volume};

    use super::*;

    fn container(name: &str, cpu: Option<&str>, mem: Option<&str>) -> Container {
        let mut requests = BTreeMap::new();
        if let Some(c) = cpu {
            requests.insert("cpu".to_string(), Quantity(c.into()));
        }
        if let Some(m) = mem {
            requests.insert("memory".to_string(), Quantity(m.into()));
        }
        Container {
            name: name.into(),
            image: Some("busybox".into()),
            resources: Some(ResourceRequirements {
                requests: Some(requests),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        }
    }

    fn spec(containers: Vec<Container>) -> PodSpec {
        PodSpec {
            containers,
            ..PodSpec::default()
        }
    }

    fn rule(r: Result<(), ConvertError>) -> &'static str {
        match r {
            Err(ConvertError::PolicyViolation { rule, .. }) => rule,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn default_policy_forbids_host_access_and_privilege() {
        let p = PodPolicy::default();
        let mut s = spec(vec![container("a", None, None)]);
        assert_eq!(check(&p, &s), Ok(()));
        s.host_network = Some(true);
        assert_eq!(rule(check(&p, &s)), "allowHostNetwork");
        s.host_network = None;
        s.host_pid = Some(true);
        assert_eq!(rule(check(&p, &s)), "allowHostPID");
        s.host_pid = None;
        s.host_ipc = Some(true);
        assert_eq!(rule(check(&p, &s)), "allowHostIPC");
        s.host_ipc = None;
        s.volumes = Some(vec![Volume {
            name: "root".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/".into(),
                type_: None,
            }),
            ..Volume::default()
        }]);
        assert_eq!(rule(check(&p, &s)), "allowHostPath");
        s.volumes = None;
        s.init_containers = Some(vec![Container {
            name: "init".into(),
            security_context: Some(SecurityContext {
                privileged: Some(true),
                ..SecurityContext::default()
            }),
            ..Container::default()
        }]);
        assert_eq!(rule(check(&p, &s)), "allowPrivileged");
        let open = PodPolicy {
            allow_privileged: true,
            ..PodPolicy::default()
        };
        assert_eq!(check(&open, &s), Ok(()));
    }

    #[test]
    fn shapes_bound_the_pod_total() {
        let p = PodPolicy {
            allowed_shapes: vec![
                PodShape {
                    name: Some("small".into()),
                    cpu: "1".into(),
                    memory: "1Gi".into(),
                },
                PodShape {
                    name: Some("tall".into()),
                    cpu: "500m".into(),
                    memory: "8Gi".into(),
                },
            ],
            ..PodPolicy::default()
        };
        let fits = spec(vec![
            container("a", Some("500m"), Some("512Mi")),
            container("b", Some("500m"), Some("512Mi")),
        ]);
        assert_eq!(check(&p, &fits), Ok(()));
        let tall = spec(vec![container("a", Some("400m"), Some("6Gi"))]);
        assert_eq!(check(&p, &tall), Ok(()));
        let too_big = spec(vec![
            container("a", Some("800m"), Some("1Gi")),
            container("b", Some("300m"), None),
        ]);
        assert_eq!(rule(check(&p, &too_big)), "allowedShapes");
        // Limits count where larger than requests.
        let mut limited = spec(vec![container("a", Some("100m"), Some("100Mi"))]);
        if let Some(r) = limited.containers[0].resources.as_mut() {
            r.limits = Some(BTreeMap::from([("cpu".to_string(), Quantity("2".into()))]));
        }
        assert_eq!(rule(check(&p, &limited)), "allowedShapes");
    }

    #[test]
    fn init_containers_and_overhead_count_like_the_scheduler() {
        let mut s = spec(vec![container("a", Some("100m"), None)]);
        s.init_containers = Some(vec![container("i", Some("700m"), None)]);
        s.overhead = Some(BTreeMap::from([(
            "cpu".to_string(),
            Quantity("50m".into()),
        )]));
        assert_eq!(pod_total(&s, "cpu"), Ok(750));
    }

    #[test]
    fn bad_quantity_is_invalid_not_a_panic() {
        let p = PodPolicy {
            allowed_shapes: vec![PodShape {
                name: None,
                cpu: "1".into(),
                memory: "1Gi".into(),
            }],
            ..PodPolicy::default()
        };
        let s = spec(vec![container("a", Some("lots"), None)]);
        assert!(matches!(check(&p, &s), Err(ConvertError::Invalid(_))));
    }

    #[test]
    fn default_requests_fill_only_unset_resources() {
        let p = PodPolicy {
            default_requests: BTreeMap::from([
                ("cpu".to_string(), "100m".to_string()),
                ("memory".to_string(), "64Mi".to_string()),
            ]),
            ..PodPolicy::default()
        };
        let mut s = spec(vec![
            container("none", None, None),
            container("cpu", Some("1"), None),
        ]);
        if let Some(r) = s.containers[1].resources.as_mut() {
            r.limits = Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("1Gi".into()),
            )]));
        }
        apply_default_requests(&p, &mut s);
        let req = |i: usize| {
            s.containers[i]
                .resources
                .clone()
                .unwrap_or_default()
                .requests
                .unwrap_or_default()
        };
        assert_eq!(req(0).get("cpu"), Some(&Quantity("100m".into())));
        assert_eq!(req(0).get("memory"), Some(&Quantity("64Mi".into())));
        assert_eq!(req(1).get("cpu"), Some(&Quantity("1".into())));
        assert_eq!(req(1).get("memory"), None);
    }
}
