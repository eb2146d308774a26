//! `vcctl up` failing says which step failed and why, and leaves nothing running.

use std::net::TcpListener;
use std::process::Command;

use vcctl::local::{LocalCluster, LocalError, LocalOptions, LocalState, Step};

fn options(dir: &std::path::Path) -> LocalOptions {
    let mut o = LocalOptions::new(dir);
    o.port = 0;
    o
}

#[tokio::test]
async fn a_taken_port_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = options(dir.path());
    o.port = port_of(&taken);
    let err = LocalCluster::start(o).await.unwrap_err();
    assert_eq!(err.failed_step(), Some(&Step::SuperCluster));
    let text = err.to_string();
    assert!(
        text.contains(&format!("port {}", port_of(&taken))),
        "{text}"
    );
    assert!(
        text.contains("already in use") && text.contains("--port"),
        "{text}"
    );
    // The failed start recorded no running instance.
    let state = LocalState::load(dir.path()).unwrap().unwrap();
    assert_eq!(state.pid, None);
}

fn port_of(l: &TcpListener) -> u16 {
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unusable_state_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = LocalCluster::start(options(&file.join("state")))
        .await
        .unwrap_err();
    assert_eq!(err.failed_step(), Some(&Step::StateDir));
    let text = err.to_string();
    assert!(
        text.contains("a-file/state") && text.contains("--dir"),
        "{text}"
    );
}

#[tokio::test]
async fn a_second_instance_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut other = Command::new("sleep").arg("30").spawn().unwrap();
    let state = LocalState {
        pid: Some(other.id()),
        ..LocalState::default()
    };
    state.save(dir.path()).unwrap();
    let err = LocalCluster::start(options(dir.path())).await.unwrap_err();
    other.kill().unwrap();
    other.wait().unwrap();
    match err {
        LocalError::AlreadyRunning { pid, .. } => assert_eq!(pid, other.id()),
        e => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_binaries_without_binaries_fail_at_vc_manager() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.control_plane_binaries = Some(empty.path().to_path_buf());
    let err = LocalCluster::start(o).await.unwrap_err();
    assert_eq!(err.failed_step(), Some(&Step::VcManager), "{err}");
    assert!(err.to_string().contains("kube-apiserver"), "{err}");
}

/// `vcctl status | head -1`: a reader that goes away ends vcctl quietly, not with a panic.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    LocalState::default().save(dir.path()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vcctl"))
        .args(["status", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
