//! What the mock's containers stream: logs (deterministic lines), exec through the built-in
//! shell, attach (stdin echoed, logs followed) and port-forwards to declared ports.

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::logs::LogSource;
use super::status::Phase;
use super::{MockProvider, ports, shell, volumes};
use crate::provider::{LogOptions, LogStream, ProviderError};
use crate::stream::{ExecIo, ExecOutcome};

impl MockProvider {
    /// A container's log lines, followed while it runs when asked.
    pub(super) async fn stream_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        opts: LogOptions,
    ) -> Result<LogStream, ProviderError> {
        let (p, sim) = self.running_pod(namespace, pod)?;
        Self::container_of(&p, container)?;
        let k = (namespace.to_string(), pod.to_string());
        let source = |instance, start, end| LogSource {
            namespace: namespace.into(),
            pod: pod.into(),
            container: container.into(),
            instance,
            start,
            end,
            interval: self.cfg.log_interval,
        };
        if opts.previous {
            let Some((_, start, end)) = sim.last_exit else {
                return Err(ProviderError::BadRequest(format!(
                    "previous terminated container {container:?} in pod {pod:?} not found"
                )));
            };
            return Ok(source(sim.restart_count - 1, start, Some(end)).stream(opts, || false));
        }
        let Some(start) = sim.started else {
            return Err(ProviderError::BadRequest(format!(
                "container {container:?} in pod {pod:?} is waiting to start: ContainerCreating"
            )));
        };
        let generation = self.generation_of(&k).unwrap_or(0);
        let this = self.clone();
        Ok(source(sim.restart_count, start, sim.finished)
            .stream(opts, move || this.is_alive(&k, generation)))
    }

    /// Runs `command` with the built-in shell in a running container.
    pub(super) async fn run_command(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
        mut io: ExecIo,
    ) -> Result<ExecOutcome, ProviderError> {
        let (p, sim) = self.running_pod(namespace, pod)?;
        let c = Self::container_of(&p, container)?;
        if sim.phase != Phase::Running {
            return Err(ProviderError::Internal(format!(
                "container {container:?} in pod {pod:?} is not running"
            )));
        }
        let env = match &self.client {
            Some(client) => volumes::shell_env(client, &p, &c)
                .await
                .map_err(|e| ProviderError::Internal(e.to_string()))?,
            None => shell::ShellEnv {
                hostname: pod.to_string(),
                ..Default::default()
            },
        };
        let mut sink_out = tokio::io::sink();
        let mut sink_err = tokio::io::sink();
        let mut stdin = io.stdin.take();
        let input = match stdin.as_mut() {
            Some(r) => shell::Input::Stream(r.as_mut()),
            None => shell::Input::Empty,
        };
        let code = {
            let (out, err): (
                &mut (dyn tokio::io::AsyncWrite + Send + Unpin),
                &mut (dyn tokio::io::AsyncWrite + Send + Unpin),
            ) = match (io.stdout.as_mut(), io.stderr.as_mut()) {
                (Some(o), Some(e)) => (o.as_mut(), e.as_mut()),
                (Some(o), None) if io.tty => {
                    let o: &mut (dyn tokio::io::AsyncWrite + Send + Unpin) = o.as_mut();
                    // With a TTY stderr goes to the terminal too; a second handle is not
                    // available, so errors are written after the command.
                    let mut errors = Vec::new();
                    let code = shell::run(&command, &env, input, o, &mut errors).await;
                    let _ = o.write_all(&errors).await;
                    let _ = o.flush().await;
                    return Ok(ExecOutcome::Exited(code));
                }
                (Some(o), None) => (o.as_mut(), &mut sink_err),
                (None, Some(e)) => (&mut sink_out, e.as_mut()),
                (None, None) => (&mut sink_out, &mut sink_err),
            };
            let code = shell::run(&command, &env, input, out, err).await;
            let _ = out.flush().await;
            let _ = err.flush().await;
            code
        };
        Ok(ExecOutcome::Exited(code))
    }

    /// Attaches to a running container: stdin is echoed, new log lines follow.
    pub(super) async fn attach_io(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        mut io: ExecIo,
    ) -> Result<ExecOutcome, ProviderError> {
        let (p, sim) = self.running_pod(namespace, pod)?;
        Self::container_of(&p, container)?;
        if sim.phase != Phase::Running {
            return Err(ProviderError::Internal(format!(
                "container {container:?} in pod {pod:?} is not running"
            )));
        }
        // The main process echoes its stdin and keeps logging; output starts from now.
        let opts = LogOptions {
            follow: true,
            tail_lines: Some(0),
            ..Default::default()
        };
        let mut lines = self.stream_logs(namespace, pod, container, opts).await?;
        let mut stdin = io.stdin.take();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                line = lines.next() => {
                    let Some(line) = line else { break };
                    if let Some(out) = io.stdout.as_mut()
                        && (out.write_all(&line).await.is_err() || out.flush().await.is_err())
                    {
                        break;
                    }
                }
                n = async {
                    match stdin.as_mut() {
                        Some(r) => r.read(&mut buf).await,
                        None => std::future::pending().await,
                    }
                } => {
                    match n {
                        Ok(0) | Err(_) => stdin = None,
                        Ok(n) => {
                            if let Some(out) = io.stdout.as_mut()
                                && (out.write_all(&buf[..n]).await.is_err() || out.flush().await.is_err())
                            {
                                break;
                            }
                        }
                    }
                }
            }
        }
        Ok(ExecOutcome::Exited(0))
    }

    /// Forwards to a port one of the pod's containers declares.
    pub(super) async fn forward_port(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
        stream: DuplexStream,
    ) -> Result<(), ProviderError> {
        let (p, sim) = self.running_pod(namespace, pod)?;
        if sim.phase != Phase::Running {
            return Err(ProviderError::Internal(format!(
                "pod {pod:?} is not running"
            )));
        }
        let declared = p.spec.as_ref().is_some_and(|s| {
            s.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .any(|cp| cp.container_port == i32::from(port))
        });
        if !declared {
            return Err(ProviderError::Internal(format!(
                "failed to connect to localhost:{port} inside namespace of pod {pod}: connection refused"
            )));
        }
        ports::serve(namespace, pod, port, stream)
            .await
            .map_err(|e| ProviderError::Internal(e.to_string()))
    }
}
