//! Shared test plumbing: servers, raw HTTP, kubectl.

use std::path::PathBuf;
use std::process::Command;

use apiserver::{ServerBuilder, ServerHandle};

pub async fn server() -> ServerHandle {
    common::process::install_crypto_provider();
    ServerBuilder::new().start().await.expect("start server")
}

/// Raw HTTPS requests as admin, for requests kube-rs would not send.
pub struct Raw(pub kube::Client);

impl Raw {
    pub async fn send(
        &self,
        method: http::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        use http_body_util::BodyExt;
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(kube::client::Body::from(body))
            .unwrap();
        let resp = self.0.send(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(
            String::from_utf8_lossy(&bytes).into(),
        ));
        (status, v)
    }
}

pub fn raw(srv: &ServerHandle) -> Raw {
    Raw(srv.client())
}

/// Writes the server's kubeconfig to a temp file and runs the machine's kubectl against it.
pub struct Kubectl {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bin: PathBuf,
}

impl Kubectl {
    pub fn new(srv: &ServerHandle) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, srv.kubeconfig_yaml()).unwrap();
        Kubectl {
            _dir: dir,
            path,
            bin: "kubectl".into(),
        }
    }

    /// The versioned kubectl (`kubectl.1.28`...) that sits beside the one on PATH; `None`
    /// (after printing why) on a machine without it.
    pub fn versioned(srv: &ServerHandle, version: &str) -> Option<Self> {
        let on_path = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("kubectl"))
                .find(|c| c.is_file())
        });
        let bin = on_path
            .and_then(|p| std::fs::canonicalize(p).ok())
            .map(|p| p.with_file_name(format!("kubectl.{version}")))
            .filter(|p| p.is_file());
        let Some(bin) = bin else {
            println!("SKIP kubectl {version}: no kubectl.{version} beside the kubectl on PATH");
            return None;
        };
        Some(Kubectl {
            bin,
            ..Kubectl::new(srv)
        })
    }

    pub fn kubeconfig(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
        self.run_stdin(args, None)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use std::io::Write;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--kubeconfig").arg(&self.path).args(args);
        cmd.env("HOME", self._dir.path());
        cmd.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl binary");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl expecting success.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let (ok, out, err) = self.run_stdin(args, Some(stdin));
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }
}

/// Polls `f` until it returns `Some` or the timeout passes.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {secs}s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
