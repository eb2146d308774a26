//! Persistence: kill the server without a graceful shutdown, restart on the same data dir.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start(dir: &std::path::Path, port: u16) -> (Proc, kube::Client) {
    let kc = dir.join("kubeconfig");
    let _ = std::fs::remove_file(&kc);
    let child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .arg("--write-kubeconfig")
        .arg(&kc)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    for _ in 0..200 {
        if let Ok(yaml) = std::fs::read_to_string(&kc) {
            let kc = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            return (proc, kube::Client::try_from(cfg).unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

#[tokio::test]
async fn acknowledged_writes_survive_a_kill() {
    common::process::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut proc, client) = start(dir.path(), port).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut last_rv = 0u64;
    for i in 0..50 {
        let c: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("p{i}")}, "data": {"i": i.to_string()}}),
        )
        .unwrap();
        let created = cms.create(&PostParams::default(), &c).await.unwrap();
        last_rv = created.metadata.resource_version.unwrap().parse().unwrap();
    }
    // SIGKILL: no graceful shutdown, no flush.
    proc.0.kill().unwrap();
    proc.0.wait().unwrap();
    drop(proc);
    let (_proc, client) = start(dir.path(), port).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let mut names: Vec<String> = list
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .filter(|n| n.starts_with('p'))
        .collect();
    names.sort();
    assert_eq!(names.len(), 50, "every acknowledged object is there");
    let list_rv: u64 = list.metadata.resource_version.unwrap().parse().unwrap();
    assert!(list_rv >= last_rv);
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "after"}})).unwrap();
    let created = cms.create(&PostParams::default(), &c).await.unwrap();
    let rv: u64 = created.metadata.resource_version.unwrap().parse().unwrap();
    assert!(
        rv > last_rv,
        "resourceVersions keep increasing across restarts ({rv} > {last_rv})"
    );
}
