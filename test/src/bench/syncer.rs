//! The syncer as its own process: finding (and building) the binary, starting and killing it,
//! its CPU time and memory from `/proc`, and its `/metrics`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cluster::eventually;
use super::procstat::{self, Memory};
use super::prom::{self, Sample};

/// How to start the syncer.
#[derive(Debug, Clone)]
pub struct SyncerCommand {
    /// The binary.
    pub bin: PathBuf,
    /// Super-cluster kubeconfig.
    pub kubeconfig: PathBuf,
    /// Seconds between patrol scans (`None`: the syncer's default).
    pub patrol_interval: Option<u64>,
    /// Extra arguments.
    pub extra: Vec<String>,
    /// Log file (appended to by every start).
    pub log: PathBuf,
}

/// The syncer binary: `explicit`, else `syncer` next to this executable, built first with
/// `cargo build -p syncer` in this executable's profile unless `no_build`.
pub fn locate(explicit: Option<PathBuf>, no_build: bool) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        anyhow::ensure!(p.is_file(), "--syncer-bin {} does not exist", p.display());
        return Ok(p);
    }
    let exe = std::env::current_exe().context("locating this executable")?;
    let dir = exe.parent().context("executable directory")?;
    let bin = dir.join("syncer");
    if !no_build {
        build(dir)?;
    }
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --release -p syncer` or pass --syncer-bin",
        bin.display()
    );
    Ok(bin)
}

/// `cargo build -p syncer --bin syncer` for the profile whose output directory is `dir`.
fn build(dir: &Path) -> anyhow::Result<()> {
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_string();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", "syncer", "--bin", "syncer"]);
    if profile != "debug" {
        cmd.args(["--profile", &profile]);
    }
    eprintln!("bench: building the syncer ({profile})");
    let status = cmd.status().context("running cargo build -p syncer")?;
    anyhow::ensure!(status.success(), "cargo build -p syncer failed: {status}");
    Ok(())
}

/// A running syncer process (killed when dropped).
pub struct SyncerProcess {
    child: Child,
    /// Its ops endpoint (`/metrics`, `/readyz`).
    pub ops: SocketAddr,
}

/// A free loopback port (bound and released; the syncer binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

impl SyncerCommand {
    /// Starts the syncer; its logs go to the log file.
    pub fn spawn(&self) -> anyhow::Result<SyncerProcess> {
        let ops = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--no-leader-election")
            .arg("--ops-addr")
            .arg(ops.to_string())
            .args(
                self.patrol_interval
                    .map(|s| ["--patrol-interval".to_string(), s.to_string()])
                    .into_iter()
                    .flatten(),
            )
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        Ok(SyncerProcess { child, ops })
    }
}

impl SyncerProcess {
    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds used so far.
    pub fn cpu(&self) -> anyhow::Result<f64> {
        procstat::cpu_seconds(self.pid())
    }

    /// Resident memory now and at its peak.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        procstat::memory(self.pid())
    }

    /// Kills the process at once (SIGKILL: no graceful shutdown) and reaps it.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing the syncer")?;
        self.child.wait().context("reaping the syncer")?;
        Ok(())
    }

    /// Fails if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            Some(status) => anyhow::bail!("the syncer exited: {status} (see its log)"),
            None => Ok(()),
        }
    }

    /// GETs `path` on the ops endpoint: status code and body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.ops, path).await
    }

    /// A scrape of `/metrics`.
    pub async fn metrics(&self) -> anyhow::Result<Vec<Sample>> {
        let (code, body) = self.get("/metrics").await?;
        anyhow::ensure!(code == 200, "/metrics answered {code}");
        Ok(prom::parse(&body))
    }

    /// Waits until `/readyz` is OK and `tenants` tenants report healthy.
    pub async fn wait_tenants(&mut self, tenants: usize, timeout: Duration) -> anyhow::Result<()> {
        self.check_alive()?;
        eventually("the syncer's /readyz", timeout, || async {
            matches!(self.get("/readyz").await, Ok((200, _))).then_some(())
        })
        .await?;
        eventually(&format!("{tenants} healthy tenants"), timeout, || async {
            let m = self.metrics().await.ok()?;
            (prom::count_equal(&m, "syncer_tenant_healthy", 1.0) >= tenants).then_some(())
        })
        .await
    }

    /// Waits until the syncer is quiet: no reconcile for three scrapes 300 ms apart. (Queue
    /// depth never returns to zero: token refreshes wait there as delayed items.)
    pub async fn wait_idle(&self, timeout: Duration) -> anyhow::Result<()> {
        let start = std::time::Instant::now();
        let mut last = f64::NAN;
        let mut quiet = 0;
        while quiet < 3 {
            anyhow::ensure!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for the syncer to be idle"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            let Ok(m) = self.metrics().await else {
                quiet = 0;
                continue;
            };
            let ops = prom::sum(&m, "syncer_operations_total", &[]);
            quiet = if ops == last { quiet + 1 } else { 0 };
            last = ops;
        }
        Ok(())
    }
}

impl Drop for SyncerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET (the ops endpoint is plain HTTP on loopback).
async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .context("ops endpoint timed out")??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    Ok((code, body.to_string()))
}
