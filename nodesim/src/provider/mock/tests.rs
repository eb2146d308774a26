//! Lifecycle, failure injection and streaming of the mock provider (no API server needed).

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec};
use tokio::sync::mpsc;

fn node() -> NodeInfo {
    NodeInfo {
        name: "n1".into(),
        address: "127.0.0.1".parse().unwrap(),
        pod_cidr: "10.244.3.0/24".parse().unwrap(),
        capacity: BTreeMap::new(),
    }
}

fn pod(name: &str, annotations: &[(&str, &str)], restart: &str) -> Pod {
    Pod {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some("n1".into()),
            restart_policy: Some(restart.into()),
            containers: vec![Container {
                name: "app".into(),
                image: Some("busybox".into()),
                ports: Some(vec![ContainerPort {
                    container_port: 8080,
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn provider(delay: Duration) -> (MockProvider, mpsc::UnboundedReceiver<Pod>) {
    let p = MockProvider::new(
        MockConfig {
            start_delay: delay,
            log_interval: Duration::from_millis(10),
            ..Default::default()
        },
        None,
    );
    p.add_node(node()).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    p.notify_pods(tx);
    (p, rx)
}

fn phase(p: &Pod) -> String {
    p.status.as_ref().unwrap().phase.clone().unwrap()
}

#[tokio::test]
async fn pods_start_with_ips_from_the_node_cidr() {
    let (p, mut rx) = provider(Duration::from_millis(20)).await;
    p.create_pod(&pod("a", &[], "Always")).await.unwrap();
    let first = rx.recv().await.unwrap();
    assert_eq!(phase(&first), "Pending");
    let running = rx.recv().await.unwrap();
    assert_eq!(phase(&running), "Running");
    assert_eq!(
        running.status.unwrap().pod_ip.as_deref(),
        Some("10.244.3.2")
    );
    p.create_pod(&pod("b", &[], "Always")).await.unwrap();
    let b = loop {
        let x = rx.recv().await.unwrap();
        if phase(&x) == "Running" {
            break x;
        }
    };
    assert_eq!(b.status.unwrap().pod_ip.as_deref(), Some("10.244.3.3"));
    assert_eq!(p.get_pods("n1").await.unwrap().len(), 2);
    // Deleting frees the IP for reuse.
    p.delete_pod(&pod("a", &[], "Always")).await.unwrap();
    p.create_pod(&pod("c", &[], "Always")).await.unwrap();
    let c = loop {
        let x = rx.recv().await.unwrap();
        if phase(&x) == "Running" {
            break x;
        }
    };
    assert_eq!(c.status.unwrap().pod_ip.as_deref(), Some("10.244.3.2"));
}

#[tokio::test]
async fn injected_failures_follow_the_restart_policy() {
    let (p, mut rx) = provider(Duration::ZERO).await;
    let failing = [(ANNOTATION_FAIL_AFTER, "20ms"), (ANNOTATION_EXIT_CODE, "3")];
    p.create_pod(&pod("never", &failing, "Never"))
        .await
        .unwrap();
    let failed = loop {
        let x = rx.recv().await.unwrap();
        if phase(&x) == "Failed" {
            break x;
        }
    };
    let cs = &failed.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(
        cs.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        3
    );

    p.create_pod(&pod("always", &failing, "Always"))
        .await
        .unwrap();
    let restarted = loop {
        let x = rx.recv().await.unwrap();
        let st = x.status.clone().unwrap();
        if st.container_statuses.unwrap()[0].restart_count >= 2 {
            break x;
        }
    };
    assert_eq!(phase(&restarted), "Running");
    let logs = p
        .container_logs(
            "ns",
            "always",
            "app",
            LogOptions {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let text: Vec<_> = logs.collect().await;
    assert!(String::from_utf8_lossy(&text[0]).contains("instance 1: line 0"));

    p.create_pod(&pod(
        "done",
        &[(ANNOTATION_COMPLETE_AFTER, "10ms")],
        "OnFailure",
    ))
    .await
    .unwrap();
    loop {
        let x = rx.recv().await.unwrap();
        if x.metadata.name.as_deref() == Some("done") && phase(&x) == "Succeeded" {
            break;
        }
    }
}

#[tokio::test]
async fn node_ready_can_be_injected() {
    let (p, _rx) = provider(Duration::ZERO).await;
    let ready = |p: &MockProvider| {
        p.node_conditions("n1")
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .status
    };
    assert_eq!(ready(&p), "True");
    p.set_node_ready("n1", false);
    assert_eq!(ready(&p), "False");
}

#[tokio::test]
async fn exec_and_port_forward() {
    let (p, _rx) = provider(Duration::ZERO).await;
    p.create_pod(&pod("a", &[], "Always")).await.unwrap();
    let (out_w, mut out_r) = tokio::io::duplex(1024);
    let io = ExecIo {
        stdin: None,
        stdout: Some(Box::new(out_w)),
        stderr: None,
        tty: false,
        resize: None,
    };
    let outcome = p
        .exec(
            "ns",
            "a",
            "app",
            vec!["sh".into(), "-c".into(), "echo hi; hostname".into()],
            io,
        )
        .await
        .unwrap();
    assert_eq!(outcome, ExecOutcome::Exited(0));
    let mut text = String::new();
    out_r.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "hi\na\n");
    assert!(matches!(
        p.exec(
            "ns",
            "a",
            "nope",
            vec![],
            ExecIo {
                stdin: None,
                stdout: None,
                stderr: None,
                tty: false,
                resize: None
            }
        )
        .await,
        Err(ProviderError::ContainerNotFound(_))
    ));
    let (a, _b) = tokio::io::duplex(1024);
    let err = p.port_forward("ns", "a", 9999, a).await.unwrap_err();
    assert!(err.to_string().contains("connection refused"));
    let (a, mut b) = tokio::io::duplex(1024);
    tokio::spawn(async move { p.port_forward("ns", "a", 8080, a).await });
    b.write_all(b"xyz").await.unwrap();
    let mut echo = [0u8; 3];
    b.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"xyz");
}

#[test]
fn run_to_completion_commands_finish_like_their_programs() {
    let pod = |policy: &str, command: &[&str]| Pod {
        spec: Some(PodSpec {
            restart_policy: Some(policy.into()),
            containers: vec![Container {
                name: "c".into(),
                command: Some(command.iter().map(|s| s.to_string()).collect()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    let code = |p: &Pod| super::command_exit(p).map(|(_, c)| c);
    assert_eq!(code(&pod("Never", &["true"])), Some(0));
    assert_eq!(code(&pod("OnFailure", &["/bin/false"])), Some(1));
    assert_eq!(code(&pod("Never", &["sh", "-c", "exit 3"])), Some(3));
    assert_eq!(
        super::command_exit(&pod("Never", &["sleep", "2"])).map(|(d, _)| d),
        Some(Duration::from_secs(2))
    );
    assert_eq!(code(&pod("Never", &["sleep", "infinity"])), None);
    assert_eq!(code(&pod("Never", &["nginx"])), None);
    assert_eq!(
        code(&pod("Always", &["true"])),
        None,
        "Always pods keep running"
    );
}
