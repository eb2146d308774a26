//! The isolation profile's cost on the syncer's hot path: CPU time of the per-pod gate (Pod
//! Security Standards, placement, shapes) next to building the super pod, for a pod as a
//! Deployment creates it. Prints a table and a final JSON line.
//!
//! `cargo run --release -p syncer --example policy_bench -- [PODS]`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use crds::tenancy::{MetaRules, TenantId};
use crds::{Placement, PodPolicy, PodSecurityLevel, ServicePolicy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, Pod, PodSpec, ResourceRequirements, SeccompProfile,
    SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use syncer::convert::TenantCtx;
use syncer::convert::pod::{self, PodInputs};

fn tenant(level: PodSecurityLevel) -> TenantCtx {
    TenantCtx {
        id: TenantId {
            cluster_key: "tenants-abc123-bench".into(),
            vc_name: "bench".into(),
            vc_namespace: "tenants".into(),
            vc_uid: "vc-uid".into(),
        },
        rules: MetaRules::default(),
        placement: Placement::default(),
        pod_policy: PodPolicy {
            level: Some(level),
            ..PodPolicy::default()
        },
        service_policy: ServicePolicy::default(),
        cluster_domain: "cluster.local".into(),
    }
}

/// A restricted-conformant pod with what admission and a Deployment add.
fn deployment_pod(i: usize) -> Pod {
    let hardened = SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            add: None,
            drop: Some(vec!["ALL".into()]),
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    };
    let container = |name: &str| Container {
        name: name.into(),
        image: Some("registry.example/app:1.2.3".into()),
        env: Some(vec![EnvVar {
            name: "MODE".into(),
            value: Some("prod".into()),
            value_from: None,
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), Quantity("100m".into())),
                ("memory".into(), Quantity("128Mi".into())),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(hardened.clone()),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let toleration = |key: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: Some(300),
        value: None,
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("web-5d9c7b-{i:05}")),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{i}")),
            labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![container("app"), container("sidecar")],
            init_containers: Some(vec![container("init")]),
            volumes: Some(vec![Volume {
                name: "data".into(),
                empty_dir: Some(Default::default()),
                ..Volume::default()
            }]),
            tolerations: Some(vec![
                toleration("node.kubernetes.io/not-ready"),
                toleration("node.kubernetes.io/unreachable"),
            ]),
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// Nanoseconds per call of `f` over every pod, best of three rounds.
fn per_pod(pods: &[Pod], mut f: impl FnMut(&Pod)) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for p in pods {
                f(p);
            }
            start.elapsed().as_nanos() as f64 / pods.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let pods: Vec<Pod> = (0..n).map(deployment_pod).collect();
    let baseline = tenant(PodSecurityLevel::Baseline);
    let restricted = tenant(PodSecurityLevel::Restricted);
    let gate_baseline = per_pod(&pods, |p| {
        black_box(pod::validate(&baseline, p).is_ok());
    });
    let gate_restricted = per_pod(&pods, |p| {
        black_box(pod::validate(&restricted, p).is_ok());
    });
    let build = per_pod(&pods, |p| {
        black_box(pod::desired(&baseline, p, PodInputs::default(), None).is_ok());
    });
    println!("| measure ({n} pods, best of 3) | ns per pod |");
    println!("| --- | --- |");
    println!("| gate, level baseline (PSS + placement + shapes) | {gate_baseline:.0} |");
    println!("| gate, level restricted | {gate_restricted:.0} |");
    println!("| building the super pod (for comparison) | {build:.0} |");
    println!(
        "{{\"benchmark\":\"policy\",\"pods\":{n},\"gate_baseline_ns\":{gate_baseline:.0},\"gate_restricted_ns\":{gate_restricted:.0},\"desired_ns\":{build:.0}}}"
    );
}
