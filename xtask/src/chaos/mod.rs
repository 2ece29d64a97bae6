//! `cargo xtask chaos`: the whole system as separate processes under a bounded mixed command
//! load through the gateway, while, in turn, a command service, the active relay of a store, a
//! read model and the gateway are killed (SIGKILL) and started again and the broker is stopped
//! and started again. Then, once everything has settled, it checks what must hold whatever
//! failed ([`checks`]) and prints a summary, also written to `target/chaos/summary.json`. Any
//! violation makes the command fail.
//!
//! # Layout
//! - [`profile`]: `--profile short` (CI) and `full`: clients, duration, rounds of faults.
//! - [`load`]: the clients and the journal of every command they sent.
//! - [`faults`]: the faults and how each is undone.
//! - [`checks`]: exactly once, read models equal to their rebuilds, nothing left in a queue.
//! - [`summary`]: the figures and the violations.

mod checks;
mod faults;
mod load;
mod profile;
mod summary;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::system::{Build, Options, ProcessSpec, Program, RunNames, System, build, settle};
use faults::{Fault, RELAY_SERVICE, RELAY_STANDBY};
use load::Shared;
pub use profile::Profile;
use summary::Summary;

/// How long the system may take to work off what the faults held back.
const SETTLE_DEADLINE: Duration = Duration::from_secs(180);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `short` fits in CI (about three minutes); `full` runs longer with two rounds of faults.
    #[arg(long, value_enum, default_value = "short")]
    profile: Profile,
    /// `debug` reuses what `cargo xtask test` built (CI runs it so); the figures of a debug
    /// build are not the ones to quote.
    #[arg(long, value_enum, default_value = "release")]
    build: Build,
}

pub fn run(root: &Path, args: &Args) -> Result<()> {
    crate::services::ensure(root)?;
    let mut specs = crate::system::whole_system()?;
    // A second instance of one service: its relay stands by for the first's.
    specs.push(ProcessSpec::new(
        RELAY_STANDBY,
        Program::Service(RELAY_SERVICE),
    ));
    build(root, &specs, args.build)?;
    let plan = args.profile.plan();
    let started = Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    let options = Options {
        build: args.build,
        log_filter: "info",
    };
    let mut summary = runtime.block_on(System::run(
        root,
        RunNames::new("chaos"),
        options,
        specs,
        async |system| chaos(system, args.profile, plan).await,
    ))?;
    summary.took = started.elapsed();
    let path = summary.write(root)?;
    summary.print();
    eprintln!("summary written to {}", path.display());
    if !summary.violations.is_empty() {
        bail!("{} violations (see above)", summary.violations.len());
    }
    Ok(())
}

async fn chaos(system: &mut System, profile: Profile, plan: profile::Plan) -> Result<Summary> {
    let shared = Arc::new(Shared::new(&system.gateway_url()?)?);
    eprintln!(
        "{} clients for {:?}, {} rounds of faults…",
        plan.clients, plan.load_for, plan.rounds
    );
    let load_started = Instant::now();
    let load = tokio::spawn(load::run(
        Arc::clone(&shared),
        plan,
        system.names().id().to_owned(),
    ));
    let injected = inject_all(system, plan, load_started).await;
    if injected.is_err() {
        load.abort();
    }
    let injected = injected?;
    load.await??;
    eprintln!("load done; waiting for the system to settle…");

    let commands = checks::commands(&shared.journal.entries()?);
    checks::accepted_decided(system.names(), &commands, SETTLE_DEADLINE).await?;
    let holding = checks::queues_drained(system.names(), SETTLE_DEADLINE).await?;
    settle::projections_caught_up(system, SETTLE_DEADLINE).await?;
    eprintln!("checking the stores and rebuilding the read models…");
    let ledger = checks::exactly_once(system.names(), &commands).await?;
    let checksums = checks::checksums(system).await?;
    Ok(Summary::new(
        profile, &commands, ledger, checksums, holding, injected,
    ))
}

/// Every round of faults, each at its time from `load_started`.
async fn inject_all(
    system: &mut System,
    plan: profile::Plan,
    load_started: Instant,
) -> Result<Vec<faults::Injected>> {
    let schedule: Vec<Fault> = (0..plan.rounds).flat_map(|_| Fault::ROUND).collect();
    let mut injected = Vec::new();
    for (fault, at) in schedule.iter().zip(plan.fault_times(schedule.len())) {
        tokio::time::sleep((load_started + at).saturating_duration_since(Instant::now())).await;
        let done = faults::inject(system, *fault, plan.down_for, load_started.elapsed()).await?;
        eprintln!(
            "{:>6.1} s: {} — back in {:.1} s",
            done.at.as_secs_f64(),
            done.what,
            done.recovered_after.as_secs_f64()
        );
        injected.push(done);
    }
    Ok(injected)
}
