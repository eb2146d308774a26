//! The VirtualCluster's pod policy: what a tenant pod may ask of the super cluster, and the
//! default requests it gets. Every pod must meet the policy's Pod Security Standards level
//! (default `baseline`, evaluated as upstream v1.28 does, see [`super::pss`]) minus the
//! exceptions the policy grants (host namespaces, hostPath, privileged, extra capabilities),
//! and fit one of the allowed shapes.

use std::collections::BTreeMap;

use crds::quantity::parse_milli;
use crds::{PodPolicy, PodSecurityLevel, PodShape};
use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::ConvertError;
use super::pss::{self, Exceptions};

/// Rejects a pod the policy forbids: first its Pod Security Standards level with the policy's
/// exceptions (`rule` is the upstream check ID of the first failed check, `detail` upstream's
/// message listing every failed check), then its allowed shapes.
pub fn check(policy: &PodPolicy, meta: &ObjectMeta, spec: &PodSpec) -> Result<(), ConvertError> {
    let level = policy.level.unwrap_or_default();
    let granted = Exceptions::from_policy(policy);
    let violations = pss::evaluate_with(level, &granted, meta, spec);
    if let Some(first) = violations.first() {
        return Err(ConvertError::PolicyViolation {
            rule: first.check,
            allow: allow(level, &granted, meta, spec),
            detail: pss::message(level, &violations),
        });
    }
    if !policy.allowed_shapes.is_empty() {
        check_shape(&policy.allowed_shapes, spec)?;
    }
    Ok(())
}

const LEVEL_PRIVILEGED: &str = "spec.podPolicy.level: privileged";
const LEVEL_BASELINE: &str = "spec.podPolicy.level: baseline";

/// The VirtualCluster change that would admit a pod failing `level`: the exceptions it needs
/// (or the privileged level), else a baseline level (with the exceptions baseline needs), else
/// only the privileged level.
fn allow(
    level: PodSecurityLevel,
    granted: &Exceptions,
    meta: &ObjectMeta,
    spec: &PodSpec,
) -> String {
    let admits = |l: PodSecurityLevel, needed: &Exceptions| {
        pss::evaluate_with(l, &granted.union(needed), meta, spec).is_empty()
    };
    let needed = missing(&pss::requested_exceptions(level, spec), granted);
    if !needed.is_empty() && admits(level, &needed) {
        return format!("{} or {LEVEL_PRIVILEGED}", fields(&needed));
    }
    if level == PodSecurityLevel::Restricted {
        let b = PodSecurityLevel::Baseline;
        let needed = missing(&pss::requested_exceptions(b, spec), granted);
        if admits(b, &needed) {
            return if needed.is_empty() {
                LEVEL_BASELINE.to_string()
            } else {
                format!("{LEVEL_BASELINE} and {}", fields(&needed))
            };
        }
    }
    LEVEL_PRIVILEGED.to_string()
}

/// The part of `requested` that `granted` lacks.
fn missing(requested: &Exceptions, granted: &Exceptions) -> Exceptions {
    Exceptions {
        host_network: requested.host_network && !granted.host_network,
        host_pid: requested.host_pid && !granted.host_pid,
        host_ipc: requested.host_ipc && !granted.host_ipc,
        host_path: requested.host_path && !granted.host_path,
        privileged: requested.privileged && !granted.privileged,
        capabilities: requested
            .capabilities
            .iter()
            .filter(|c| !granted.capabilities.contains(c))
            .cloned()
            .collect(),
    }
}

/// The VirtualCluster fields granting `ex`, e.g.
/// `spec.podPolicy.allowHostNetwork and spec.podPolicy.allowedCapabilities: [SYS_ADMIN]`.
fn fields(ex: &Exceptions) -> String {
    let mut out: Vec<String> = [
        (ex.host_network, "allowHostNetwork"),
        (ex.host_pid, "allowHostPID"),
        (ex.host_ipc, "allowHostIPC"),
        (ex.host_path, "allowHostPath"),
        (ex.privileged, "allowPrivileged"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, f)| format!("spec.podPolicy.{f}"))
    .collect();
    if !ex.capabilities.is_empty() {
        let mut caps = ex.capabilities.clone();
        caps.sort();
        out.push(format!(
            "spec.podPolicy.allowedCapabilities: [{}]",
            caps.join(", ")
        ));
    }
    out.join(" and ")
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
        allow: "spec.podPolicy.allowedShapes".into(),
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
    use k8s_openapi::api::core::v1::{
        Capabilities, HostPathVolumeSource, PodSecurityContext, SecurityContext, Sysctl, Volume,
    };

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

    fn rule_of(r: Result<(), ConvertError>) -> &'static str {
        match r {
            Err(ConvertError::PolicyViolation { rule, .. }) => rule,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    fn violation(r: Result<(), ConvertError>) -> (&'static str, String, String) {
        match r {
            Err(ConvertError::PolicyViolation {
                rule,
                allow,
                detail,
            }) => (rule, allow, detail),
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn default_policy_is_baseline_and_forbids_host_access_and_privilege() {
        let p = PodPolicy::default();
        let m = ObjectMeta::default();
        let mut s = spec(vec![container("a", None, None)]);
        assert_eq!(check(&p, &m, &s), Ok(()));
        s.host_network = Some(true);
        let (rule, allow, detail) = violation(check(&p, &m, &s));
        assert_eq!(rule, "hostNamespaces");
        assert_eq!(
            allow,
            "spec.podPolicy.allowHostNetwork or spec.podPolicy.level: privileged"
        );
        assert_eq!(
            detail,
            "violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)"
        );
        s.host_network = None;
        s.host_pid = Some(true);
        assert_eq!(rule_of(check(&p, &m, &s)), "hostNamespaces");
        s.host_pid = None;
        s.host_ipc = Some(true);
        assert_eq!(rule_of(check(&p, &m, &s)), "hostNamespaces");
        s.host_ipc = None;
        s.volumes = Some(vec![Volume {
            name: "root".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/".into(),
                type_: None,
            }),
            ..Volume::default()
        }]);
        let (rule, allow, _) = violation(check(&p, &m, &s));
        assert_eq!(rule, "hostPathVolumes");
        assert_eq!(
            allow,
            "spec.podPolicy.allowHostPath or spec.podPolicy.level: privileged"
        );
        s.volumes = None;
        s.init_containers = Some(vec![Container {
            name: "init".into(),
            security_context: Some(SecurityContext {
                privileged: Some(true),
                ..SecurityContext::default()
            }),
            ..Container::default()
        }]);
        let (rule, allow, detail) = violation(check(&p, &m, &s));
        assert_eq!(rule, "privileged");
        assert_eq!(
            allow,
            "spec.podPolicy.allowPrivileged or spec.podPolicy.level: privileged"
        );
        assert!(detail.ends_with(
            "privileged (container \"init\" must not set securityContext.privileged=true)"
        ));
        let open = PodPolicy {
            allow_privileged: true,
            ..PodPolicy::default()
        };
        assert_eq!(check(&open, &m, &s), Ok(()));
        let any = PodPolicy {
            level: Some(PodSecurityLevel::Privileged),
            ..PodPolicy::default()
        };
        assert_eq!(check(&any, &m, &s), Ok(()));
    }

    #[test]
    fn the_error_lists_every_violation_and_the_fields_that_allow_them() {
        let p = PodPolicy::default();
        let mut s = spec(vec![Container {
            name: "c".into(),
            security_context: Some(SecurityContext {
                privileged: Some(true),
                capabilities: Some(Capabilities {
                    add: Some(vec!["SYS_ADMIN".into()]),
                    drop: None,
                }),
                ..SecurityContext::default()
            }),
            ..Container::default()
        }]);
        s.host_network = Some(true);
        let (rule, allow, detail) = violation(check(&p, &ObjectMeta::default(), &s));
        assert_eq!(rule, "capabilities_baseline");
        assert_eq!(
            allow,
            "spec.podPolicy.allowHostNetwork and spec.podPolicy.allowPrivileged and \
             spec.podPolicy.allowedCapabilities: [SYS_ADMIN] or spec.podPolicy.level: privileged"
        );
        assert_eq!(
            detail,
            "violates PodSecurity \"baseline:latest\": non-default capabilities (container \"c\" \
             must not include \"SYS_ADMIN\" in securityContext.capabilities.add), host namespaces \
             (hostNetwork=true), privileged (container \"c\" must not set \
             securityContext.privileged=true)"
        );
        // A check no field waives can only be allowed by a looser level.
        let mut s = spec(vec![container("a", None, None)]);
        s.security_context = Some(PodSecurityContext {
            sysctls: Some(vec![Sysctl {
                name: "kernel.msgmax".into(),
                value: "1".into(),
            }]),
            ..PodSecurityContext::default()
        });
        let (rule, allow, _) = violation(check(&p, &ObjectMeta::default(), &s));
        assert_eq!(rule, "sysctls");
        assert_eq!(allow, "spec.podPolicy.level: privileged");
    }

    #[test]
    fn restricted_only_checks_are_allowed_by_baseline() {
        let p = PodPolicy {
            level: Some(PodSecurityLevel::Restricted),
            ..PodPolicy::default()
        };
        let s = spec(vec![container("a", None, None)]);
        let (rule, allow, detail) = violation(check(&p, &ObjectMeta::default(), &s));
        assert_eq!(rule, "allowPrivilegeEscalation");
        assert_eq!(allow, "spec.podPolicy.level: baseline");
        assert!(detail.starts_with("violates PodSecurity \"restricted:latest\": "));
        // hostPath under restricted needs both the exception and (here) the baseline level.
        let mut s = s;
        s.volumes = Some(vec![Volume {
            name: "root".into(),
            host_path: Some(HostPathVolumeSource {
                path: "/".into(),
                type_: None,
            }),
            ..Volume::default()
        }]);
        let (_, allow, _) = violation(check(&p, &ObjectMeta::default(), &s));
        assert_eq!(
            allow,
            "spec.podPolicy.level: baseline and spec.podPolicy.allowHostPath"
        );
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
        assert_eq!(check(&p, &ObjectMeta::default(), &fits), Ok(()));
        let tall = spec(vec![container("a", Some("400m"), Some("6Gi"))]);
        assert_eq!(check(&p, &ObjectMeta::default(), &tall), Ok(()));
        let too_big = spec(vec![
            container("a", Some("800m"), Some("1Gi")),
            container("b", Some("300m"), None),
        ]);
        assert_eq!(
            rule_of(check(&p, &ObjectMeta::default(), &too_big)),
            "allowedShapes"
        );
        // Limits count where larger than requests.
        let mut limited = spec(vec![container("a", Some("100m"), Some("100Mi"))]);
        if let Some(r) = limited.containers[0].resources.as_mut() {
            r.limits = Some(BTreeMap::from([("cpu".to_string(), Quantity("2".into()))]));
        }
        assert_eq!(
            rule_of(check(&p, &ObjectMeta::default(), &limited)),
            "allowedShapes"
        );
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
        assert!(matches!(
            check(&p, &ObjectMeta::default(), &s),
            Err(ConvertError::Invalid(_))
        ));
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
