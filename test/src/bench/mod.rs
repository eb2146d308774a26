//! The benchmark harness: command line, shared environment, the two scenarios.

mod cli;
mod cluster;
mod env;
mod fairness;
mod load;
mod procstat;
mod prom;
mod report;
mod runtimes;
mod scale;
mod stats;
mod sync;
mod syncer;
mod tracker;
mod verify;

pub use cli::{Cli, Scenario};

/// Runs the chosen benchmark on its own runtimes.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let threads = match &cli.scenario {
        Scenario::Sync(a) => a.common.threads,
        Scenario::Fairness(a) => a.common.threads,
        Scenario::Scale(a) => a.common.threads,
    };
    let rts = runtimes::Runtimes::new(threads)?;
    let result = rts.harness.block_on(async {
        match cli.scenario {
            Scenario::Sync(a) => sync::run(&rts, a.resolved()).await,
            Scenario::Fairness(a) => fairness::run(&rts, a.resolved()).await,
            Scenario::Scale(a) => scale::run(&rts, a.resolved()).await,
        }
    });
    rts.shutdown();
    result
}
