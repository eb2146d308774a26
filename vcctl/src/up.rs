//! `vcctl up`: run everything locally in this process until Ctrl-C/SIGTERM, with progress on
//! the terminal and the components' logs in `<dir>/vcctl.log`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use clap::Args;
use vcctl::local::{
    LocalCluster, LocalError, LocalHandle, LocalOptions, Progress, RequestLog, Step,
};

/// `up [--dir .vc] [--port 6443] [--tenants a,b] [--nodes N | --node-class SPEC...] ...`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// State directory: SQLite data, PKI, kubeconfigs, logs and `state.json`.
    #[arg(long, default_value = ".vc")]
    dir: PathBuf,
    /// Port of the super cluster's API server (0: any free port).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Address every listener binds.
    #[arg(long, default_value = "127.0.0.1")]
    address: std::net::IpAddr,
    /// VirtualClusters to run (created when missing).
    #[arg(long, value_delimiter = ',', default_value = "demo")]
    tenants: Vec<String>,
    /// Namespace of the VirtualClusters.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Simulated nodes per node class.
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// A node class (repeatable; replaces the two default classes), in nodesim's pool syntax:
    /// `name=gpu,count=2,cpu=8,memory=32Gi,gpu=1,node-class=<uuid>,flavor=g.large,...`.
    #[arg(long = "node-class", value_name = "SPEC")]
    node_classes: Vec<String>,
    /// Directory with upstream `kube-apiserver` and `etcd` (and `kube-controller-manager`)
    /// binaries: tenants run those instead of the embedded API server.
    #[arg(long, value_name = "DIR")]
    control_plane_binaries: Option<PathBuf>,
    /// Elect leaders on Leases as deployed components do (a restart after a crash then waits
    /// for the previous Lease to expire).
    #[arg(long)]
    leader_elect: bool,
    /// Append each distinct request that vc-manager, the syncer and vn-agent make to the super
    /// cluster to FILE (JSON lines: component, user, verb, resource...).
    #[arg(long, value_name = "FILE")]
    request_log: Option<PathBuf>,
    /// Seconds each tenant may take to be Running and to run a pod.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

impl UpArgs {
    fn options(&self, dir: &Path) -> anyhow::Result<LocalOptions> {
        let mut opts = LocalOptions::new(dir);
        opts.port = self.port;
        opts.bind = self.address;
        opts.tenants = self
            .tenants
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        opts.vc_namespace = self.namespace.clone();
        opts.pools = if self.node_classes.is_empty() {
            vcctl::local::default_pools(self.nodes)
        } else {
            self.node_classes
                .iter()
                .map(|s| nodesim::PoolConfig::parse(s).map_err(|e| anyhow!("--node-class: {e}")))
                .collect::<anyhow::Result<_>>()?
        };
        if opts.pools.iter().map(|p| p.count).sum::<usize>() == 0 {
            anyhow::bail!("no nodes: give --nodes or --node-class with a count above 0");
        }
        opts.control_plane_binaries = self
            .control_plane_binaries
            .as_deref()
            .map(std::path::absolute)
            .transpose()
            .context("--control-plane-binaries")?;
        opts.leader_election = self.leader_elect;
        opts.request_log = match &self.request_log {
            Some(p) => Some(
                RequestLog::with_file(p)
                    .with_context(|| format!("--request-log {}", p.display()))?,
            ),
            None => None,
        };
        opts.tenant_timeout = Duration::from_secs(self.timeout.max(1));
        Ok(opts)
    }
}

/// Progress lines on stderr, with a spinner for the running step when stderr is a terminal.
struct Printer {
    tty: bool,
    running: Mutex<Vec<(String, Instant)>>,
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Printer {
    fn line(&self, running: &[(String, Instant)], text: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{text}");
        if self.tty {
            Self::spin(&mut err, running, 0);
        }
    }

    fn spin(err: &mut impl std::io::Write, running: &[(String, Instant)], tick: usize) {
        if let Some((step, since)) = running.last() {
            let more = match running.len() {
                1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            let _ = write!(
                err,
                "\r\x1b[2K  {} {step}{more} {:.1}s",
                SPINNER[tick % SPINNER.len()],
                since.elapsed().as_secs_f64()
            );
            let _ = err.flush();
        }
    }

    fn spawn_spinner(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if !self.tty {
            return None;
        }
        let me = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut tick = 0usize;
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                tick += 1;
                if let Ok(running) = me.running.lock() {
                    Self::spin(&mut std::io::stderr().lock(), &running, tick);
                }
            }
        }))
    }

    fn clear(&self) {
        if self.tty {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

impl Progress for Printer {
    fn started(&self, step: &Step) {
        if let Ok(mut r) = self.running.lock() {
            r.push((step.to_string(), Instant::now()));
        }
    }

    fn finished(&self, step: &Step, took: Duration, detail: &str) {
        let name = step.to_string();
        if let Ok(mut r) = self.running.lock() {
            r.retain(|(s, _)| *s != name);
            self.line(
                &r,
                &format!("  ✓ {name:<34} {:>6.2}s  {detail}", took.as_secs_f64()),
            );
        }
    }

    fn failed(&self, step: &Step, took: Duration, error: &LocalError) {
        let name = step.to_string();
        let cause = match error {
            LocalError::Step { cause, .. } => cause.clone(),
            other => other.to_string(),
        };
        if let Ok(mut r) = self.running.lock() {
            r.retain(|(s, _)| *s != name);
            self.line(
                &r,
                &format!("  ✗ {name:<34} {:>6.2}s  {cause}", took.as_secs_f64()),
            );
        }
    }
}

/// Errors of the components on stderr.
fn stderr_errors<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    tracing_subscriber::fmt::layer()
        .compact()
        .with_writer(std::io::stderr)
        // kube-client logs every failed request as an error; the components report what matters.
        .with_filter(tracing_subscriber::EnvFilter::new("error,kube_client=off"))
}

/// Logs go to `<dir>/vcctl.log` (`RUST_LOG`, default info); errors also to stderr.
fn init_logs(dir: &Path) -> Option<PathBuf> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let path = dir.join("vcctl.log");
    let file = std::fs::create_dir_all(dir)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
        })
        .ok();
    let Some(file) = file else {
        // The state-directory step reports why the directory is unusable.
        let _ = tracing_subscriber::registry()
            .with(stderr_errors())
            .try_init();
        return None;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_errors())
        .try_init();
    Some(path)
}

/// `vcctl up`.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let dir =
        std::path::absolute(&args.dir).with_context(|| format!("--dir {}", args.dir.display()))?;
    let log = init_logs(&dir);
    let mut opts = args.options(&dir)?;
    let printer = Arc::new(Printer {
        tty: std::io::stderr().is_terminal(),
        running: Mutex::new(Vec::new()),
    });
    opts.progress = printer.clone();
    eprintln!(
        "Starting virtualcluster in {}{}",
        dir.display(),
        log.as_ref()
            .map(|l| format!(" (logs: {})", l.display()))
            .unwrap_or_default()
    );
    // Handlers first: a signal during start stops what started instead of killing the process.
    let signal = common::process::shutdown_signal();
    tokio::pin!(signal);
    let spinner = printer.spawn_spinner();
    let started = tokio::select! {
        r = LocalCluster::start(opts) => Some(r),
        _ = &mut signal => None,
    };
    if let Some(s) = spinner {
        s.abort();
    }
    printer.clear();
    let handle = match started {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            let hint = log
                .map(|l| format!(" (details in {})", l.display()))
                .unwrap_or_default();
            return Err(anyhow!("vcctl up failed: {e}{hint}"));
        }
        None => {
            eprintln!("interrupted while starting; stopped");
            return Ok(());
        }
    };
    print_next_steps(&handle, &args.dir);
    // Without any signal handler there is nothing to wait for: stop at once, as on a signal.
    let _ = signal.await;
    eprintln!("stopping…");
    let t0 = Instant::now();
    if tokio::time::timeout(Duration::from_secs(30), handle.shutdown())
        .await
        .is_err()
    {
        return Err(anyhow!("components did not stop within 30s"));
    }
    eprintln!("stopped in {:.2}s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn print_next_steps(handle: &LocalHandle, dir_arg: &Path) {
    let state = handle.state();
    let tenants: Vec<&String> = state.tenants.keys().collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nvirtualcluster ready in {:.2}s: super cluster {}, {} nodes, tenants: {}",
        handle.ready_after().as_secs_f64(),
        state.super_url,
        state.nodes.len(),
        tenants
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(first) = tenants.first() {
        let _ = writeln!(
            out,
            "\nTry it:\n  export KUBECONFIG={}\n  kubectl create deployment web --image=nginx --replicas=3 --port=80\n  kubectl get pods -o wide\n  kubectl logs deployment/web\n  kubectl exec deployment/web -- echo hi\n  kubectl expose deployment web\n  kubectl get service web -o yaml   # transparency.tenancy.x-k8s.io/clusterIP: the super IP",
            handle.tenant_kubeconfig(first).display()
        );
    }
    let _ = writeln!(
        out,
        "\nThe super cluster side:\n  kubectl --kubeconfig {} get namespaces,pods -A\n\nStatus: vcctl status --dir {d}   Stop: Ctrl-C or vcctl down --dir {d}",
        state.super_kubeconfig.display(),
        d = dir_arg.display()
    );
    let _ = out.flush();
}
