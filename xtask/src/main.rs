//! `cargo xtask`: the project's developer and CI commands, in Rust instead of shell scripts.
//!
//! # Layout
//! - [`services`]: makes sure PostgreSQL, Redis, RabbitMQ (with its management API) and the S3
//!   server are up on their local ports, starting whichever is down.
//! - [`test`]: services, then leftover cleanup, then the whole test suite.
//! - [`lint`]: rustfmt and clippy, warnings denied, then [`deploy_check`].
//! - [`deploy_check`]: docker-compose.yml and deploy/ (Kubernetes, Prometheus, Grafana),
//!   validated offline.
//! - [`bench`]: the benchmark suites and their shared report.
//! - [`system`]: the whole system as separate processes, for `bench system` and `chaos`.
//! - [`chaos`]: the whole system under load while its processes and the broker fail, then
//!   checked: exactly once, read models equal to their rebuilds, nothing left in a queue.
//! - [`cmd`], [`wait`], [`http`]: running programs, polling with a deadline, a tiny HTTP client.
//!
//! Every command runs from the workspace root, whatever the caller's directory.

mod bench;
mod chaos;
mod cmd;
mod deploy_check;
mod http;
mod lint;
mod services;
mod system;
mod test;
mod wait;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
#[command(about = "Waypoint's developer and CI commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make sure PostgreSQL, Redis, RabbitMQ and the S3 server are up locally, starting them if not.
    Services,
    /// Start the services, clean up what earlier test runs left, and run the whole test suite.
    Test(test::Args),
    /// Check formatting, run clippy with warnings denied, then validate the deployment files.
    Lint,
    /// Validate docker-compose.yml and deploy/ (Kubernetes manifests, Prometheus, Grafana)
    /// offline, installing the validators when missing.
    DeployCheck,
    /// What CI runs: lint, then test.
    Ci,
    /// Run a benchmark suite and write its figures to target/bench/<suite>.json.
    Bench {
        #[arg(value_enum)]
        suite: bench::Suite,
    },
    /// Run the whole system under load while processes are killed and the broker restarts,
    /// then check that nothing was lost or applied twice; writes target/chaos/summary.json.
    Chaos(chaos::Args),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            // The cause chain on one line; a backtrace would only show xtask's own plumbing.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = workspace_root();
    match cli.command {
        Command::Services => services::ensure(&root)?,
        Command::Test(args) => return test::run(&root, &args).map(suite_exit_code),
        Command::Lint => lint::run(&root)?,
        Command::DeployCheck => deploy_check::run(&root)?,
        Command::Ci => {
            lint::run(&root)?;
            return test::run(&root, &test::Args::default()).map(suite_exit_code);
        }
        Command::Bench { suite } => bench::run(&root, suite)?,
        Command::Chaos(args) => chaos::run(&root, &args)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The test suite's own exit code, so CI sees exactly what the runner said.
fn suite_exit_code(code: i32) -> ExitCode {
    u8::try_from(code).map_or(ExitCode::FAILURE, ExitCode::from)
}

/// The workspace root: this crate's parent folder.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// `target/` under the workspace root, where xtask keeps logs, S3 data and bench results.
fn target_dir(root: &Path) -> PathBuf {
    root.join("target")
}
