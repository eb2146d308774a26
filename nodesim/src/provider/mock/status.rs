//! Pod status as a kubelet fills it, as pure functions of the pod and its simulated state.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest, Sha256};

/// Where a simulated container is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Created, containers not started yet.
    Pending,
    /// Containers running since the given time.
    Running,
    /// All containers exited; `exit_code` of the main container.
    Terminated {
        /// Exit code.
        exit_code: i32,
        /// `Completed`, `Error` or another reason.
        reason: String,
    },
}

/// The simulated facts a status is computed from.
#[derive(Debug, Clone)]
pub struct SimState {
    /// Lifecycle phase.
    pub phase: Phase,
    /// Pod IP once the sandbox exists.
    pub pod_ip: Option<String>,
    /// The node's address.
    pub host_ip: String,
    /// When the kubelet accepted the pod.
    pub accepted: jiff::Timestamp,
    /// When the current container instances started.
    pub started: Option<jiff::Timestamp>,
    /// When they finished.
    pub finished: Option<jiff::Timestamp>,
    /// Restarts so far.
    pub restart_count: i32,
    /// Exit code of the previous instance, if it restarted.
    pub last_exit: Option<(i32, jiff::Timestamp, jiff::Timestamp)>,
}

fn time(t: jiff::Timestamp) -> Time {
    Time(t)
}

/// `imageID` as containerd reports it: the repository digest of the image.
pub fn image_id(image: &str) -> String {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(repo, |(r, _)| r);
    let repo = if repo.contains('/') {
        if repo
            .split('/')
            .next()
            .is_some_and(|h| h.contains('.') || h.contains(':'))
        {
            repo.to_string()
        } else {
            format!("docker.io/{repo}")
        }
    } else {
        format!("docker.io/library/{repo}")
    };
    let digest = hex::encode(Sha256::digest(image.as_bytes()));
    format!("{repo}@sha256:{digest}")
}

/// A stable container id for a pod's container instance.
pub fn container_id(pod_uid: &str, container: &str, restart: i32) -> String {
    let digest = hex::encode(Sha256::digest(format!("{pod_uid}/{container}/{restart}")));
    format!("containerd://{digest}")
}

fn condition(kind: &str, ok: bool, reason: Option<&str>, at: jiff::Timestamp) -> PodCondition {
    PodCondition {
        type_: kind.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        last_transition_time: Some(time(at)),
        last_probe_time: None,
        ..Default::default()
    }
}

/// The full status a kubelet would report for the pod in this state.
pub fn pod_status(pod: &Pod, sim: &SimState) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut statuses = Vec::with_capacity(spec.containers.len());
    for c in &spec.containers {
        let image = c.image.clone().unwrap_or_default();
        let running = sim.phase == Phase::Running;
        let state = match &sim.phase {
            Phase::Pending => ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("ContainerCreating".into()),
                    message: None,
                }),
                ..Default::default()
            },
            Phase::Running => ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: sim.started.map(time),
                }),
                ..Default::default()
            },
            Phase::Terminated { exit_code, reason } => ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: *exit_code,
                    reason: Some(reason.clone()),
                    started_at: sim.started.map(time),
                    finished_at: sim.finished.map(time),
                    container_id: Some(container_id(&uid, &c.name, sim.restart_count)),
                    ..Default::default()
                }),
                ..Default::default()
            },
        };
        let last_state = sim.last_exit.map(|(code, start, end)| ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                started_at: Some(time(start)),
                finished_at: Some(time(end)),
                container_id: Some(container_id(&uid, &c.name, sim.restart_count - 1)),
                ..Default::default()
            }),
            ..Default::default()
        });
        let started_instance = sim.phase != Phase::Pending;
        statuses.push(ContainerStatus {
            name: c.name.clone(),
            image: image.clone(),
            image_id: if started_instance {
                image_id(&image)
            } else {
                String::new()
            },
            container_id: started_instance.then(|| container_id(&uid, &c.name, sim.restart_count)),
            ready: running,
            started: Some(running),
            restart_count: sim.restart_count,
            state: Some(state),
            last_state,
            ..Default::default()
        });
    }
    let phase = match &sim.phase {
        Phase::Pending => "Pending",
        Phase::Running => "Running",
        Phase::Terminated { exit_code: 0, .. } => "Succeeded",
        Phase::Terminated { .. } => "Failed",
    };
    let ready = sim.phase == Phase::Running;
    let not_ready_reason = match &sim.phase {
        Phase::Terminated { .. } => "PodCompleted",
        _ => "ContainersNotReady",
    };
    let since = sim.started.unwrap_or(sim.accepted);
    let conditions = vec![
        condition(
            "PodReadyToStartContainers",
            sim.pod_ip.is_some(),
            None,
            sim.accepted,
        ),
        condition("Initialized", true, None, sim.accepted),
        condition(
            "Ready",
            ready,
            (!ready).then_some(not_ready_reason),
            if ready {
                since
            } else {
                sim.finished.unwrap_or(sim.accepted)
            },
        ),
        condition(
            "ContainersReady",
            ready,
            (!ready).then_some(not_ready_reason),
            if ready {
                since
            } else {
                sim.finished.unwrap_or(sim.accepted)
            },
        ),
        condition("PodScheduled", true, None, sim.accepted),
    ];
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: Some(sim.host_ip.clone()),
        host_ips: Some(vec![k8s_openapi::api::core::v1::HostIP {
            ip: sim.host_ip.clone(),
        }]),
        pod_ip: sim.pod_ip.clone(),
        pod_ips: sim.pod_ip.as_ref().map(|ip| vec![PodIP { ip: ip.clone() }]),
        start_time: Some(time(sim.accepted)),
        container_statuses: Some(statuses),
        qos_class: Some(qos_class(pod)),
        ..Default::default()
    }
}

/// QoS class from requests and limits, as the API server computes it.
pub fn qos_class(pod: &Pod) -> String {
    let Some(spec) = &pod.spec else {
        return "BestEffort".into();
    };
    let mut any = false;
    let mut guaranteed = true;
    for c in &spec.containers {
        let res = c.resources.clone().unwrap_or_default();
        let req = res.requests.unwrap_or_default();
        let lim = res.limits.unwrap_or_default();
        if !req.is_empty() || !lim.is_empty() {
            any = true;
        }
        for r in ["cpu", "memory"] {
            match (lim.get(r), req.get(r)) {
                (Some(l), Some(q)) if l == q => {}
                (Some(_), None) => {}
                _ => guaranteed = false,
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort".into(),
        (true, true) => "Guaranteed".into(),
        (true, false) => "Burstable".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn pod() -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("web".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("nginx:1.27".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn sim(phase: Phase) -> SimState {
        SimState {
            phase,
            pod_ip: Some("10.244.0.5".into()),
            host_ip: "127.0.0.1".into(),
            accepted: jiff::Timestamp::UNIX_EPOCH,
            started: Some(jiff::Timestamp::UNIX_EPOCH),
            finished: None,
            restart_count: 0,
            last_exit: None,
        }
    }

    #[test]
    fn running_pod_is_ready_with_image_id() {
        let st = pod_status(&pod(), &sim(Phase::Running));
        assert_eq!(st.phase.as_deref(), Some("Running"));
        let cs = &st.container_statuses.unwrap()[0];
        assert!(cs.ready);
        assert!(cs.image_id.starts_with("docker.io/library/nginx@sha256:"));
        assert!(
            cs.container_id
                .as_ref()
                .unwrap()
                .starts_with("containerd://")
        );
        let conds = st.conditions.unwrap();
        for kind in ["Ready", "ContainersReady", "Initialized", "PodScheduled"] {
            assert!(
                conds.iter().any(|c| c.type_ == kind && c.status == "True"),
                "{kind}"
            );
        }
        assert_eq!(st.qos_class.as_deref(), Some("BestEffort"));
    }

    #[test]
    fn pending_and_failed_pods() {
        let st = pod_status(&pod(), &sim(Phase::Pending));
        let cs = &st.container_statuses.unwrap()[0];
        assert_eq!(
            cs.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("ContainerCreating")
        );
        assert!(cs.image_id.is_empty());
        let st = pod_status(
            &pod(),
            &sim(Phase::Terminated {
                exit_code: 2,
                reason: "Error".into(),
            }),
        );
        assert_eq!(st.phase.as_deref(), Some("Failed"));
        let ready = st
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.reason.as_deref(), Some("PodCompleted"));
    }

    #[test]
    fn image_ids_name_the_repository() {
        assert!(image_id("quay.io/org/app:v1").starts_with("quay.io/org/app@sha256:"));
        assert!(image_id("org/app").starts_with("docker.io/org/app@sha256:"));
        assert!(image_id("localhost:5000/app:1").starts_with("localhost:5000/app@sha256:"));
    }
}
