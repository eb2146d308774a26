//! Every branch of the state machine, without an API server.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::pki::{IssueReason, PkiItem};

const KEY: &str = "team-a-1a2b3c-demo";

fn vc() -> VirtualCluster {
    let mut vc = VirtualCluster::new("demo", Default::default());
    vc.metadata.namespace = Some("team-a".into());
    vc.metadata.uid = Some("uid-1".into());
    vc.metadata.generation = Some(3);
    vc.metadata.finalizers = Some(vec![FINALIZER.into()]);
    vc
}

fn ready_pki() -> PkiPlan {
    PkiPlan {
        issue: vec![],
        blocked: None,
        next_renewal: None,
    }
}

fn obs() -> Observed {
    Observed {
        now: "2030-01-01T00:00:00Z".parse().unwrap(),
        cluster_key: Ok(KEY.into()),
        spec: Ok(()),
        root_namespace: RootNamespace::Owned { terminating: false },
        endpoints_known: true,
        pki: Some(ready_pki()),
        control_plane: ControlPlane::Ready {
            detail: "https://127.0.0.1:6443".into(),
        },
        applied: true,
        torn_down: false,
        failures: 0,
    }
}

fn t() -> Timings {
    Timings::default()
}

fn cond<'a>(d: &'a Decision, type_: &str) -> &'a ClusterCondition {
    find_condition(&d.status.conditions, type_).unwrap()
}

fn with_status(mut vc: VirtualCluster, d: &Decision) -> VirtualCluster {
    vc.status = Some(d.status.clone());
    vc
}

#[test]
fn a_new_vc_is_accepted_and_gets_the_finalizer() {
    let mut v = vc();
    v.metadata.finalizers = None;
    let d = decide(&v, &obs(), &t());
    assert_eq!(d.step, Some(Step::AddFinalizer));
    assert_eq!(d.status.phase, Some(ClusterPhase::Pending));
    assert_eq!(d.status.observed_generation, Some(3));
    assert_eq!(d.status.cluster_namespace.as_deref(), Some(KEY));
}

#[test]
fn provisioning_walks_through_every_step() {
    let v = vc();
    let mut o = obs();
    o.root_namespace = RootNamespace::Absent;
    o.endpoints_known = false;
    o.pki = None;
    o.applied = false;
    o.control_plane = ControlPlane::Absent;

    let d = decide(&v, &o, &t());
    assert_eq!(d.step, Some(Step::CreateRootNamespace));
    assert_eq!(d.status.phase, Some(ClusterPhase::Provisioning));
    assert_eq!(cond(&d, CONDITION_READY).status, "False");

    o.root_namespace = RootNamespace::Owned { terminating: false };
    assert_eq!(decide(&v, &o, &t()).step, Some(Step::Prepare));

    o.endpoints_known = true;
    o.pki = Some(PkiPlan {
        issue: vec![(PkiItem::RootCa, IssueReason::Missing)],
        ..ready_pki()
    });
    let d = decide(&v, &o, &t());
    assert_eq!(d.step, Some(Step::IssuePki));
    assert_eq!(
        cond(&d, CONDITION_PKI_READY).reason.as_deref(),
        Some("Issuing")
    );
    assert!(d.status.message.unwrap().contains("root-ca (missing)"));

    o.pki = Some(ready_pki());
    let d = decide(&v, &o, &t());
    assert_eq!(d.step, Some(Step::ApplyControlPlane));
    assert_eq!(cond(&d, CONDITION_PKI_READY).status, "True");

    o.applied = true;
    o.control_plane = ControlPlane::Progressing {
        detail: "statefulset apiserver 0/1 ready".into(),
    };
    let d = decide(&v, &o, &t());
    assert_eq!(d.step, None);
    assert_eq!(d.requeue, t().poll);
    assert_eq!(d.status.phase, Some(ClusterPhase::Provisioning));
    assert_eq!(d.status.reason.as_deref(), Some("WaitingForControlPlane"));
    assert!(d.status.message.as_deref().unwrap().contains("0/1 ready"));

    o.control_plane = ControlPlane::Ready {
        detail: "https://x".into(),
    };
    let d = decide(&with_status(v, &d), &o, &t());
    assert_eq!(d.step, None);
    assert_eq!(d.status.phase, Some(ClusterPhase::Running));
    for c in [
        CONDITION_PKI_READY,
        CONDITION_CONTROL_PLANE_READY,
        CONDITION_READY,
    ] {
        assert_eq!(cond(&d, c).status, "True", "{c}");
    }
    assert_eq!(d.requeue, t().resync);
    assert!(!d.failed);
}

#[test]
fn running_requeues_at_the_next_renewal() {
    let mut o = obs();
    o.pki = Some(PkiPlan {
        next_renewal: Some(o.now.as_second() + 42),
        ..ready_pki()
    });
    let d = decide(&vc(), &o, &t());
    assert_eq!(d.requeue, Duration::from_secs(42));
}

#[test]
fn an_invalid_spec_fails_with_its_message_and_backs_off() {
    let mut o = obs();
    o.spec = Err(SpecProblem {
        reason: "ClusterVersionNotFound",
        message: "ClusterVersion \"nope\" does not exist".into(),
    });
    let d = decide(&vc(), &o, &t());
    assert!(d.failed);
    assert_eq!(d.step, None);
    assert_eq!(d.status.phase, Some(ClusterPhase::Failed));
    assert_eq!(d.status.reason.as_deref(), Some("ClusterVersionNotFound"));
    let ready = cond(&d, CONDITION_READY);
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason.as_deref(), Some("ClusterVersionNotFound"));
    assert!(ready.message.as_deref().unwrap().contains("\"nope\""));
    assert_eq!(d.requeue, Duration::from_secs(1));
    o.failures = 3;
    assert_eq!(decide(&vc(), &o, &t()).requeue, Duration::from_secs(8));
    o.failures = 40;
    assert_eq!(decide(&vc(), &o, &t()).requeue, t().backoff_max);

    // Fixing the spec recovers.
    let failed = with_status(vc(), &d);
    let d = decide(&failed, &obs(), &t());
    assert_eq!(d.status.phase, Some(ClusterPhase::Running));
    assert_eq!(cond(&d, CONDITION_READY).status, "True");
}

#[test]
fn a_foreign_root_namespace_is_a_conflict() {
    let mut o = obs();
    o.root_namespace = RootNamespace::Foreign {
        detail: "annotation tenancy.x-k8s.io/vcuid is other".into(),
    };
    let d = decide(&vc(), &o, &t());
    assert!(d.failed);
    assert_eq!(d.status.reason.as_deref(), Some("RootNamespaceConflict"));
    assert!(d.status.message.unwrap().contains(KEY));
}

#[test]
fn a_blocked_pki_fails() {
    let mut o = obs();
    o.pki = Some(PkiPlan {
        blocked: Some("the root CA expired: delete it".into()),
        ..ready_pki()
    });
    let d = decide(&vc(), &o, &t());
    assert!(d.failed);
    assert_eq!(
        cond(&d, CONDITION_PKI_READY).reason.as_deref(),
        Some("PKIBlocked")
    );
    assert_eq!(d.status.phase, Some(ClusterPhase::Failed));
}

#[test]
fn a_failed_control_plane_fails() {
    let mut o = obs();
    o.control_plane = ControlPlane::Failed {
        reason: "ImportUnreachable".into(),
        message: "GET /version: connection refused".into(),
    };
    let d = decide(&vc(), &o, &t());
    assert!(d.failed);
    assert_eq!(d.status.reason.as_deref(), Some("ImportUnreachable"));
    assert_eq!(
        cond(&d, CONDITION_CONTROL_PLANE_READY).message.as_deref(),
        Some("GET /version: connection refused")
    );
}

#[test]
fn a_slow_control_plane_times_out_into_failed() {
    let mut o = obs();
    o.control_plane = ControlPlane::Progressing {
        detail: "statefulset etcd 0/1 ready".into(),
    };
    let first = decide(&vc(), &o, &t());
    assert_eq!(first.status.phase, Some(ClusterPhase::Provisioning));
    let mut v = with_status(vc(), &first);

    o.now += jiff::SignedDuration::from_secs(599);
    assert_eq!(
        decide(&v, &o, &t()).status.phase,
        Some(ClusterPhase::Provisioning)
    );
    o.now += jiff::SignedDuration::from_secs(1);
    let d = decide(&v, &o, &t());
    assert!(d.failed);
    assert_eq!(d.status.reason.as_deref(), Some("ProvisionTimeout"));
    assert!(d.status.message.as_deref().unwrap().contains("etcd 0/1"));

    // Still failed on retry, until it is ready...
    v = with_status(v, &d);
    assert!(decide(&v, &o, &t()).failed);
    // ...or the spec changes, which restarts the clock.
    v.metadata.generation = Some(4);
    let d = decide(&v, &o, &t());
    assert!(!d.failed);
    assert_eq!(d.status.phase, Some(ClusterPhase::Provisioning));
}

#[test]
fn a_running_tenant_that_loses_its_control_plane_stays_running_but_not_ready() {
    let running = with_status(vc(), &decide(&vc(), &obs(), &t()));
    let mut o = obs();
    o.control_plane = ControlPlane::Progressing {
        detail: "apiserver restarting".into(),
    };
    let d = decide(&running, &o, &t());
    assert_eq!(d.status.phase, Some(ClusterPhase::Running));
    assert_eq!(cond(&d, CONDITION_READY).status, "False");
    assert_eq!(
        cond(&d, CONDITION_READY).reason.as_deref(),
        Some("ControlPlaneNotReady")
    );
    assert_eq!(cond(&d, CONDITION_PKI_READY).status, "True");
}

#[test]
fn renewal_while_running_keeps_the_phase() {
    let running = with_status(vc(), &decide(&vc(), &obs(), &t()));
    let mut o = obs();
    o.pki = Some(PkiPlan {
        issue: vec![(PkiItem::ApiServer, IssueReason::Expiring { not_after: 0 })],
        ..ready_pki()
    });
    let d = decide(&running, &o, &t());
    assert_eq!(d.step, Some(Step::IssuePki));
    assert_eq!(d.status.phase, Some(ClusterPhase::Running));
}

#[test]
fn a_terminating_root_namespace_is_awaited() {
    let mut o = obs();
    o.root_namespace = RootNamespace::Owned { terminating: true };
    let d = decide(&vc(), &o, &t());
    assert_eq!(d.step, None);
    assert_eq!(d.status.reason.as_deref(), Some("RootNamespaceTerminating"));
}

fn deleting() -> VirtualCluster {
    let mut v = vc();
    v.metadata.deletion_timestamp = Some(Time("2030-01-01T00:00:00Z".parse().unwrap()));
    v
}

#[test]
fn deletion_tears_down_deletes_the_namespace_then_lets_go() {
    let v = deleting();
    let mut o = obs();
    let d = decide(&v, &o, &t());
    assert_eq!(d.step, Some(Step::Teardown));
    assert_eq!(d.status.phase, Some(ClusterPhase::Deleting));

    o.torn_down = true;
    assert_eq!(decide(&v, &o, &t()).step, Some(Step::DeleteRootNamespace));
    o.root_namespace = RootNamespace::Owned { terminating: true };
    let d = decide(&v, &o, &t());
    assert_eq!(d.step, None);
    assert!(
        d.status
            .message
            .unwrap()
            .contains("waiting for root namespace")
    );
    o.root_namespace = RootNamespace::Absent;
    assert_eq!(decide(&v, &o, &t()).step, Some(Step::RemoveFinalizer));
}

#[test]
fn deletion_never_touches_a_foreign_namespace() {
    let mut o = obs();
    o.torn_down = true;
    o.root_namespace = RootNamespace::Foreign { detail: "x".into() };
    assert_eq!(
        decide(&deleting(), &o, &t()).step,
        Some(Step::RemoveFinalizer)
    );
}

#[test]
fn deletion_without_our_finalizer_does_nothing() {
    let mut v = deleting();
    v.metadata.finalizers = Some(vec!["someone-else".into()]);
    let d = decide(&v, &obs(), &t());
    assert_eq!(d.step, None);
    assert_eq!(d.status, v.status.clone().unwrap_or_default_with(&d));
}

trait OrDefaultWith {
    fn unwrap_or_default_with(self, d: &Decision) -> VirtualClusterStatus;
}

impl OrDefaultWith for Option<VirtualClusterStatus> {
    /// The untouched status plus the bookkeeping fields every decision sets.
    fn unwrap_or_default_with(self, d: &Decision) -> VirtualClusterStatus {
        let mut s = self.unwrap_or_default();
        s.observed_generation = d.status.observed_generation;
        s.cluster_namespace = d.status.cluster_namespace.clone();
        s
    }
}

#[test]
fn an_invalid_name_fails_before_anything_is_created() {
    let mut o = obs();
    o.cluster_key = Err("VirtualCluster metadata.uid is not set".into());
    o.root_namespace = RootNamespace::Absent;
    let d = decide(&vc(), &o, &t());
    assert!(d.failed);
    assert_eq!(d.step, None);
    assert_eq!(d.status.reason.as_deref(), Some("InvalidName"));
}

#[test]
fn backoff_doubles_and_caps() {
    let t = t();
    let got: Vec<u64> = (0..12).map(|n| backoff(&t, n).as_secs()).collect();
    assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
}
