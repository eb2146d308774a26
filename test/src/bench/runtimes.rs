//! One tokio runtime per in-process component, with named threads, so that the CPU time of the
//! super cluster, the simulated nodes, the tenant control planes and the harness itself can be
//! told apart from `/proc/self/task/*/stat`.

use std::future::Future;

use tokio::runtime::{Builder, Handle, Runtime};

/// Thread-name prefix of each component (at most 15 bytes: the kernel's `comm` limit).
pub const SUPER: &str = "rt-super";
/// Simulated nodes (nodesim).
pub const NODES: &str = "rt-nodes";
/// Tenant API servers.
pub const TENANTS: &str = "rt-tenants";
/// Load generators, watchers and orchestration.
pub const HARNESS: &str = "rt-harness";

/// The benchmark's runtimes.
pub struct Runtimes {
    /// Super-cluster API server.
    pub super_rt: Runtime,
    /// nodesim.
    pub nodes: Runtime,
    /// Tenant API servers.
    pub tenants: Runtime,
    /// Harness (drives everything; `block_on` runs here).
    pub harness: Runtime,
}

fn build(name: &str, threads: usize) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
}

impl Runtimes {
    /// Builds the four runtimes with `threads` workers each (default: the number of cores).
    pub fn new(threads: Option<usize>) -> std::io::Result<Self> {
        let n = threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2)
        });
        let n = n.max(1);
        Ok(Runtimes {
            super_rt: build(SUPER, n)?,
            nodes: build(NODES, n)?,
            tenants: build(TENANTS, n)?,
            harness: build(HARNESS, n)?,
        })
    }

    /// Stops every runtime without waiting for their tasks.
    pub fn shutdown(self) {
        self.super_rt.shutdown_background();
        self.nodes.shutdown_background();
        self.tenants.shutdown_background();
        self.harness.shutdown_background();
    }
}

/// Runs `fut` on the runtime behind `handle` and waits for it from the current one, so that the
/// tasks it spawns (listeners, control loops) live on that runtime.
pub async fn on<F>(handle: &Handle, fut: F) -> anyhow::Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(handle.spawn(fut).await?)
}
