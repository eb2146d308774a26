//! Supervised child processes: started, restarted with backoff when they exit, stopped with
//! SIGTERM (then SIGKILL) on request. Output goes to a log file per process.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// First restart delay; doubled after each quick exit, capped at [`MAX_RESTART_DELAY`].
pub const MIN_RESTART_DELAY: Duration = Duration::from_millis(500);
/// Longest restart delay.
pub const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);
/// A process that ran this long before exiting restarts with the minimum delay again.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a process gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Short name for logs and status (`etcd`, `kube-apiserver`, ...).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where stdout and stderr go (appended).
    pub log: PathBuf,
}

/// What is known about a supervised process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessState {
    /// What the process waits for before its first start (see [`Supervised::start_after`]).
    pub waiting_for: Option<String>,
    /// A child is running right now.
    pub running: bool,
    /// How many times it was restarted.
    pub restarts: u32,
    /// How the last run ended (or why it could not start).
    pub last_exit: Option<String>,
}

/// A process under supervision.
pub struct Supervised {
    /// Its spec.
    pub spec: ProcessSpec,
    state: Arc<Mutex<ProcessState>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Supervised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervised")
            .field("spec", &self.spec)
            .field("state", &self.state())
            .finish()
    }
}

impl Supervised {
    /// Starts supervising `spec`.
    pub fn start(spec: ProcessSpec) -> Self {
        Self::start_after(spec, None)
    }

    /// Starts supervising `spec` once `gate` resolves: a description of what it waits for and
    /// the future that resolves then (e.g. the API server answering `/readyz`, before a
    /// controller-manager that exits when the API server's bootstrap RBAC is not there yet).
    pub fn start_after(spec: ProcessSpec, gate: Option<(String, Gate)>) -> Self {
        let state = Arc::new(Mutex::new(ProcessState {
            waiting_for: gate.as_ref().map(|(what, _)| what.clone()),
            ..ProcessState::default()
        }));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(
            spec.clone(),
            state.clone(),
            stop_rx,
            gate.map(|(_, g)| g),
        ));
        Supervised {
            spec,
            state,
            stop,
            task,
        }
    }

    /// A snapshot of the process state.
    pub fn state(&self) -> ProcessState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops the process (SIGTERM, then SIGKILL after a grace period) and the supervision.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// What a process waits for before its first start.
pub type Gate = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn supervise(
    spec: ProcessSpec,
    state: Arc<Mutex<ProcessState>>,
    mut stop: watch::Receiver<bool>,
    gate: Option<Gate>,
) {
    if let Some(gate) = gate {
        tokio::select! {
            _ = gate => set(&state, |s| s.waiting_for = None),
            _ = stopped(&mut stop) => {
                set(&state, |s| s.last_exit = Some("stopped before it started".into()));
                return;
            }
        }
    }
    let mut delay = MIN_RESTART_DELAY;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = match spawn(&spec) {
            Ok(mut child) => {
                set(&state, |s| s.running = true);
                tracing::info!(process = %spec.name, pid = ?child.id(), "started");
                let exit = tokio::select! {
                    status = child.wait() => status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    _ = stopped(&mut stop) => {
                        terminate(&mut child).await;
                        set(&state, |s| { s.running = false; s.last_exit = Some("stopped".into()); });
                        return;
                    }
                };
                set(&state, |s| s.running = false);
                exit
            }
            Err(e) => format!("cannot start {}: {e}", spec.program.display()),
        };
        tracing::warn!(process = %spec.name, outcome = %outcome, "process ended; restarting");
        set(&state, |s| {
            s.last_exit = Some(outcome.clone());
            s.restarts += 1;
        });
        if started.elapsed() >= STABLE_AFTER {
            delay = MIN_RESTART_DELAY;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut stop) => return,
        }
        delay = (delay * 2).min(MAX_RESTART_DELAY);
    }
}

/// Resolves once a stop was requested (or the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

fn set(state: &Mutex<ProcessState>, f: impl FnOnce(&mut ProcessState)) {
    f(&mut state.lock().unwrap_or_else(|e| e.into_inner()));
}

fn spawn(spec: &ProcessSpec) -> std::io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)?;
    let err = log.try_clone()?;
    Command::new(&spec.program)
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .spawn()
}

/// SIGTERM, wait for the grace period, then SIGKILL.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        // No libc binding here: `kill` is on every Linux and macOS machine.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, log: PathBuf) -> ProcessSpec {
        ProcessSpec {
            name: "sh".into(),
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            log,
        }
    }

    #[tokio::test]
    async fn restarts_a_process_that_exits_and_stops_a_running_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let p = Supervised::start(sh("echo run; exit 3", log.clone()));
        tokio::time::timeout(Duration::from_secs(10), async {
            while p.state().restarts < 2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap();
        assert!(p.state().last_exit.unwrap().contains('3'));
        p.stop().await;
        let runs = std::fs::read_to_string(&log)
            .unwrap()
            .matches("run")
            .count();
        assert!(runs >= 2, "{runs}");

        let p = Supervised::start(sh(
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
            log,
        ));
        tokio::time::timeout(Duration::from_secs(10), async {
            while !p.state().running {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        let state = p.state.clone();
        tokio::time::timeout(Duration::from_secs(5), p.stop())
            .await
            .unwrap();
        let s = state.lock().unwrap().clone();
        assert!(!s.running);
        assert_eq!(s.restarts, 0);
        assert_eq!(s.last_exit.as_deref(), Some("stopped"));
    }

    #[tokio::test]
    async fn a_gated_process_starts_once_its_gate_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (open, opened) = tokio::sync::oneshot::channel::<()>();
        let gate: Gate = Box::pin(async move {
            let _ = opened.await;
        });
        let p = Supervised::start_after(
            sh(
                "trap 'exit 0' TERM; while true; do sleep 0.1; done",
                dir.path().join("log"),
            ),
            Some(("the API server".into(), gate)),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = p.state();
        assert!(!s.running);
        assert_eq!(s.waiting_for.as_deref(), Some("the API server"));
        open.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while !p.state().running {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(p.state().waiting_for, None);
        p.stop().await;

        // Stopping a process that still waits ends the supervision at once.
        let gate: Gate = Box::pin(std::future::pending());
        let p = Supervised::start_after(
            sh("exit 0", dir.path().join("log2")),
            Some(("never".into(), gate)),
        );
        tokio::time::timeout(Duration::from_secs(5), p.stop())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_missing_program_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = Supervised::start(ProcessSpec {
            name: "nope".into(),
            program: dir.path().join("does-not-exist"),
            args: vec![],
            log: dir.path().join("log"),
        });
        tokio::time::timeout(Duration::from_secs(5), async {
            while p.state().last_exit.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
        assert!(p.state().last_exit.unwrap().contains("cannot start"));
        p.stop().await;
    }
}
