use super::print::age;
use super::*;
use crds::{ClusterCondition, VirtualClusterStatus};

fn vc(phase: ClusterPhase, conditions: Vec<ClusterCondition>) -> VirtualCluster {
    let mut vc = VirtualCluster::new(
        "demo",
        crds::VirtualClusterSpec {
            cluster_version_name: "v1.31".into(),
            ..Default::default()
        },
    );
    vc.metadata.namespace = Some("default".into());
    vc.status = Some(VirtualClusterStatus {
        phase: Some(phase),
        cluster_namespace: Some("default-abc123-demo".into()),
        reason: Some("R".into()),
        message: Some("m".into()),
        conditions,
        observed_generation: None,
        quota: None,
    });
    vc
}

fn cond(t: &str, s: &str, reason: &str, msg: &str) -> ClusterCondition {
    ClusterCondition {
        type_: t.into(),
        status: s.into(),
        last_transition_time: None,
        reason: Some(reason.into()),
        message: Some(msg.into()),
    }
}

#[test]
fn the_failing_condition_is_named() {
    let v = vc(
        ClusterPhase::Failed,
        vec![
            cond("PKIReady", "True", "Issued", ""),
            cond(
                "Ready",
                "False",
                "ClusterVersionNotFound",
                "ClusterVersion \"x\" does not exist",
            ),
        ],
    );
    assert_eq!(
        failing_condition(&v),
        "condition Ready=False (ClusterVersionNotFound): ClusterVersion \"x\" does not exist"
    );
    let mut none = v.clone();
    none.status = None;
    assert!(failing_condition(&none).contains("is vc-manager running"));
}

#[test]
fn table_lines_up() {
    let mut v = vc(
        ClusterPhase::Running,
        vec![cond("Ready", "True", "Ready", "")],
    );
    let now = jiff::Timestamp::now();
    v.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        now - jiff::SignedDuration::from_secs(600),
    ));
    let t = table(&[v.clone()], now);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("NAMESPACE   NAME   PHASE     READY   CLUSTERVERSION"));
    assert!(lines[1].contains("Running   True    v1.31"), "{t}");
    assert!(lines[1].ends_with("default-abc123-demo   10m"), "{t}");
    assert!(
        lines[1].contains("v1.31            -      -     default"),
        "{t}"
    );
    if let Some(s) = v.status.as_mut() {
        s.quota = Some(crds::TenantQuotaStatus {
            hard: [("pods", "100"), ("requests.cpu", "10")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            used: [("pods", "42"), ("requests.cpu", "2500m")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
        });
    }
    let t = table(&[v], now);
    assert!(
        t.lines()
            .nth(1)
            .is_some_and(|l| l.contains("42/100   2500m/10")),
        "{t}"
    );
}

#[test]
fn ages() {
    let s = jiff::SignedDuration::from_secs;
    assert_eq!(age(s(5)), "5s");
    assert_eq!(age(s(600)), "10m");
    assert_eq!(age(s(3 * 3600)), "3h");
    assert_eq!(age(s(5 * 86_400)), "5d");
}

#[test]
fn parses_multi_document_yaml() {
    let text = "apiVersion: tenancy.x-k8s.io/v1alpha1\nkind: VirtualCluster\nmetadata:\n  name: a\nspec:\n  clusterVersionName: v1\n---\n---\napiVersion: tenancy.x-k8s.io/v1alpha1\nkind: VirtualCluster\nmetadata:\n  name: b\n  namespace: t\nspec:\n  clusterVersionName: v1\n  provisioner: local\n";
    let vcs = parse_virtualclusters(text).unwrap();
    assert_eq!(vcs.len(), 2);
    assert_eq!(vcs[1].metadata.namespace.as_deref(), Some("t"));
    assert_eq!(vcs[1].spec.provisioner, Some(crds::Provisioner::Local));
    let err = parse_virtualclusters("kind: Pod\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("kind \"Pod\""), "{err}");
    assert!(parse_virtualclusters("").is_err());
}
