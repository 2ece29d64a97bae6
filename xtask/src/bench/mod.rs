//! `cargo xtask bench <suite>`: one module per suite, each reporting through [`report`].

mod commands;
mod gateway;
pub(crate) mod harness;
mod load;
mod projections;
mod report;
mod standalone;
mod store;
mod system;

use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;

use crate::cmd::Cmd;

/// The benchmark suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// The event store and its relay, against the machine's own insert limits.
    Store,
    /// The four command services over the bus, against the bus's and the database's limits.
    Commands,
    /// The read models: rebuilds over a million events, live apply and lag.
    Projections,
    /// The gateway's read path against the projection it proxies and against nginx.
    Gateway,
    /// The whole system as separate processes, end to end through the gateway over HTTP.
    System,
    /// The whole system in one process (`waypoint-standalone`): time to ready and memory, idle
    /// and under a mixed load through the gateway.
    Standalone,
}

pub fn run(root: &Path, suite: Suite) -> Result<()> {
    // `cargo xtask` builds unoptimised, and so would the code under measurement: rerun this
    // command from a release build instead.
    if cfg!(debug_assertions) {
        let name = suite
            .to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default();
        return Cmd::cargo()
            .args([
                "run",
                "--quiet",
                "--release",
                "--package",
                "xtask",
                "--",
                "bench",
            ])
            .arg(name)
            .current_dir(root)
            .run();
    }
    match suite {
        Suite::Store => store::run(root),
        Suite::Commands => commands::run(root),
        Suite::Projections => projections::run(root),
        Suite::Gateway => gateway::run(root),
        Suite::System => system::run(root),
        Suite::Standalone => standalone::run(root),
    }
}
