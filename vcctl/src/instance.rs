//! `vcctl down` and `vcctl status`: find the instance of a state directory through its
//! `state.json`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use crds::VirtualCluster;
use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use vcctl::local::LocalState;
use vcctl::local::state::process_alive;

/// `down [--dir .vc]`.
#[derive(Args, Debug)]
pub struct DownArgs {
    /// State directory of the instance.
    #[arg(long, default_value = ".vc")]
    dir: PathBuf,
    /// Seconds to wait for it to stop.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// `status [--dir .vc]`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// State directory of the instance.
    #[arg(long, default_value = ".vc")]
    dir: PathBuf,
}

fn load(dir: &Path) -> anyhow::Result<LocalState> {
    LocalState::load(dir)?.ok_or_else(|| {
        anyhow!(
            "no instance in {}: nothing has run there (start one with `vcctl up --dir {}`)",
            dir.display(),
            dir.display()
        )
    })
}

/// `vcctl down`: SIGTERM to the `vcctl up` of the directory, then wait until it exits.
pub async fn down(args: DownArgs) -> anyhow::Result<()> {
    let state = load(&args.dir)?;
    let Some(pid) = state.live_pid() else {
        writeln!(std::io::stdout(), "not running ({})", args.dir.display())?;
        return Ok(());
    };
    let raw = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| anyhow!("state.json names an invalid pid {pid}"))?;
    rustix::process::kill_process(raw, rustix::process::Signal::TERM)
        .with_context(|| format!("cannot signal pid {pid}"))?;
    let t0 = Instant::now();
    while process_alive(pid) {
        if t0.elapsed() > Duration::from_secs(args.timeout) {
            bail!(
                "pid {pid} did not stop within {}s after SIGTERM (kill -9 {pid} forces it)",
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writeln!(
        std::io::stdout(),
        "stopped (pid {pid}, {:.2}s)",
        t0.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// `GET /healthz` of a plain-HTTP operations endpoint.
async fn healthz(addr: &str) -> String {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(resp)) if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") => {
            "healthy".into()
        }
        Ok(Ok(resp)) => resp.lines().next().unwrap_or("no answer").to_string(),
        Ok(Err(e)) => format!("unreachable ({e})"),
        Err(_) => "no answer within 2s".into(),
    }
}

async fn super_client(state: &LocalState) -> anyhow::Result<kube::Client> {
    let text = std::fs::read_to_string(&state.super_kubeconfig)
        .with_context(|| format!("reading {}", state.super_kubeconfig.display()))?;
    client_from_kubeconfig(&text).await
}

/// A client with short timeouts: `status` must answer even when the instance hangs.
async fn client_from_kubeconfig(text: &str) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(text)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    config.connect_timeout = Some(Duration::from_secs(2));
    config.read_timeout = Some(Duration::from_secs(5));
    Ok(kube::Client::try_from(config)?)
}

/// `vcctl status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let state = load(&args.dir)?;
    let running = state.live_pid();
    match running {
        Some(pid) if state.ready => writeln!(
            std::io::stdout(),
            "running (pid {pid}, since {}, ready in {:.2}s)",
            state.started_at.as_deref().unwrap_or("?"),
            state.ready_seconds.unwrap_or_default()
        )?,
        Some(pid) => writeln!(std::io::stdout(), "starting (pid {pid})")?,
        None => writeln!(
            std::io::stdout(),
            "not running (last started {}); `vcctl up --dir {}` resumes it",
            state.started_at.as_deref().unwrap_or("never"),
            args.dir.display()
        )?,
    }
    writeln!(
        std::io::stdout(),
        "\nCOMPONENT            ADDRESS                  STATE"
    )?;
    for (name, l) in &state.listeners {
        let health = match running {
            None => "stopped".to_string(),
            Some(_) if name.ends_with("-ops") => healthz(&l.addr).await,
            Some(_) => match tokio::net::TcpStream::connect(&l.addr).await {
                Ok(_) => "listening".into(),
                Err(e) => format!("unreachable ({e})"),
            },
        };
        writeln!(
            std::io::stdout(),
            "{name:<20} {:<24} {health}  ({})",
            l.addr,
            l.serves
        )?;
    }
    if running.is_none() {
        return Ok(());
    }
    let client = super_client(&state).await?;
    let vcs: Vec<VirtualCluster> = Api::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing VirtualClusters")?
        .items;
    writeln!(
        std::io::stdout(),
        "\nTENANT               PHASE        KUBECONFIG"
    )?;
    for vc in vcs {
        let name = vc.name_any();
        let phase = vc
            .phase()
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "-".into());
        let kubeconfig = state
            .tenants
            .get(&name)
            .map(|t| t.kubeconfig.display().to_string())
            .unwrap_or_else(|| "-".into());
        writeln!(std::io::stdout(), "{name:<20} {phase:<12} {kubeconfig}")?;
    }
    let nodes: Vec<Node> = Api::all(client)
        .list(&ListParams::default())
        .await
        .context("listing nodes")?
        .items;
    writeln!(
        std::io::stdout(),
        "\nNODE                 STATUS    NODE CLASS                            FLAVOR"
    )?;
    for n in nodes {
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| {
                if c.status == "True" {
                    "Ready"
                } else {
                    "NotReady"
                }
            })
            .unwrap_or("Unknown");
        let labels = n.labels();
        let class = labels
            .get(nodesim::config::LABEL_NODE_CLASS)
            .map(String::as_str)
            .unwrap_or("-");
        let flavor = labels
            .get("node.kubernetes.io/instance-type")
            .map(String::as_str)
            .unwrap_or("-");
        writeln!(
            std::io::stdout(),
            "{:<20} {ready:<9} {class:<37} {flavor}",
            n.name_any()
        )?;
    }
    Ok(())
}
