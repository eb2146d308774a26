//! A real Go TLS client (the machine's `kubectl`, with `get --raw`) presenting a tenant
//! certificate, as the tenant API server's kubelet client does.

use std::path::Path;

use tokio::process::Command;

use crate::support::World;

fn kubectl() -> Option<&'static str> {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| Path::new(&d).join("kubectl").is_file())
    });
    if !found {
        eprintln!("skipping: kubectl is not on PATH");
    }
    found.then_some("kubectl")
}

async fn raw(w: &World, dir: &Path, cert: &(String, String), path: &str) -> (bool, String) {
    let crt = dir.join(format!("{}.crt", path.len()));
    let key = dir.join(format!("{}.key", path.len()));
    std::fs::write(&crt, &cert.0).unwrap();
    std::fs::write(&key, &cert.1).unwrap();
    let out = Command::new(kubectl().unwrap())
        .arg(format!(
            "--server=https://127.0.0.1:{}",
            w.agent.local_addr().port()
        ))
        .arg(format!("--client-certificate={}", crt.display()))
        .arg(format!("--client-key={}", key.display()))
        .arg("--insecure-skip-tls-verify=true")
        .arg("--kubeconfig=/dev/null")
        .args(["get", "--raw", path])
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn go_client_sends_its_certificate_and_sees_reasons() {
    if kubectl().is_none() {
        return;
    }
    let w = World::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = raw(
        &w,
        dir.path(),
        &w.a.kubelet_client(),
        "/containerLogs/default/web/app",
    )
    .await;
    assert!(ok, "{text}");
    assert!(text.contains("logs of /containerLogs/"), "{text}");
    let forged = w.a.ca.client(w.b.key());
    let (ok, text) = raw(
        &w,
        dir.path(),
        &forged,
        "/containerLogs/default/web/app?x=1",
    )
    .await;
    assert!(!ok);
    assert!(
        text.contains("Forbidden") || text.contains("forbidden"),
        "{text}"
    );
    assert!(
        text.contains("does not verify against the root CA"),
        "{text}"
    );
    assert_eq!(w.kubelet.count(), 1);
}
