//! `config set` and `config apply`: validate, store a new version, broadcast it, and
//! optionally wait for the instances to report it.

use std::path::PathBuf;
use std::time::Duration;

use dynamic_config::broadcast;
use dynamic_config::{Change, ConfigError, ConfigStore, DynamicConfig, FieldError, Refused};
use dynamic_config::{Changed, StoredVersion, keys};
use message_bus::{Bus, Publisher, Topology};
use redis::aio::ConnectionManager;
use serde::Serialize;

use super::cli_error;
use super::convergence::{self, Convergence};
use super::show::shown;
use crate::{CliError, Context, Outcome, Output};

/// How long `--wait` waits when given no number.
const DEFAULT_WAIT_S: &str = "10";

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The value is read as JSON (5, true, \"text\"), then as TOML ('text', 1_000), and otherwise \
taken as text, so a log filter needs no quotes. A refused value changes nothing (exit 1).

Examples:
  waypoint config set rate_limit.per_ip_burst 200
  waypoint config set breaker.failure_rate 0.3 -m 'flaky upstream' --wait
  waypoint config set log_filter info,gateway=debug
  waypoint config set features.new-search true --wait 30")]
pub struct SetArgs {
    /// A dotted key: `log_filter`, `rate_limit.per_ip_burst`, `features.<name>`, ...
    key: String,
    /// The new value.
    #[arg(allow_hyphen_values = true)]
    value: String,
    #[command(flatten)]
    options: ChangeOptions,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The file is the whole dynamic configuration; keys it leaves out take their defaults, unknown \
keys are refused. When it matches the current version, nothing new is stored and the current \
version is broadcast again.

Examples:
  waypoint config apply ops/waypoint-dynamic.toml
  waypoint config apply ops/waypoint-dynamic.toml -m 'release 42' --wait --json")]
pub struct ApplyArgs {
    /// A dynamic-config TOML file (`log_filter = ...`, `[rate_limit]`, `[breaker]`,
    /// `[commands]`, `[features]`).
    file: PathBuf,
    #[command(flatten)]
    options: ChangeOptions,
}

#[derive(Debug, clap::Args)]
struct ChangeOptions {
    /// Why: stored with the version, shown by `config history`.
    #[arg(short = 'm', long)]
    comment: Option<String>,
    /// After broadcasting, wait up to SECONDS (10 when not given) for every instance to
    /// report the new version; exit 1 if some have not.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = DEFAULT_WAIT_S)]
    wait: Option<u64>,
}

pub async fn set(
    args: SetArgs,
    store: &ConfigStore,
    context: &Context,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let comment = args
        .options
        .comment
        .clone()
        .unwrap_or_else(|| format!("set {} = {}", args.key, args.value));
    commit(
        store,
        context,
        output,
        &comment,
        args.options.wait,
        |current| keys::set(current, &args.key, &args.value),
    )
    .await
}

pub async fn apply(
    args: ApplyArgs,
    store: &ConfigStore,
    context: &Context,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let text = std::fs::read_to_string(&args.file).map_err(|error| {
        CliError::new(format!("cannot read {}: {error}", args.file.display()))
            .with_hint("give the path of a dynamic-config TOML file")
    })?;
    let document = match DynamicConfig::from_toml(&text) {
        Ok(document) => document,
        Err(refused) => return refuse(store, context, output, &refused).await,
    };
    let comment = args
        .options
        .comment
        .clone()
        .unwrap_or_else(|| format!("apply {}", args.file.display()));
    commit(store, context, output, &comment, args.options.wait, |_| {
        Ok(document.clone())
    })
    .await
}

/// What `set` and `apply` print.
#[derive(Debug, Serialize)]
struct Report<'a> {
    /// `stored`, `unchanged` or `refused`.
    status: &'static str,
    /// The version current now.
    version: i64,
    /// The version before a stored change.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<i64>,
    changes: &'a [Change],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    convergence: Option<&'a Convergence>,
}

/// Stores what `change` makes of the current document, broadcasts the version now current
/// (again, when nothing changed), and waits for the instances if asked to.
async fn commit(
    store: &ConfigStore,
    context: &Context,
    output: &mut Output,
    comment: &str,
    wait: Option<u64>,
    change: impl Fn(&DynamicConfig) -> Result<DynamicConfig, Refused>,
) -> Result<Outcome, CliError> {
    // Refused before anything is connected, so bad input is answered as such even while the
    // broker is away; the store checks again against the version it locks.
    let current = store
        .current()
        .await
        .map_err(|error| cli_error(context, error))?;
    if let Err(refused) = change(&current.document) {
        return refuse(store, context, output, &refused).await;
    }
    // Connected next: a change that could not be broadcast is better not stored at all.
    let mut announcer = Announcer::connect(context).await?;
    let author = &context.settings.config.author;
    let changed = match store.change(author, comment, change).await {
        Ok(changed) => changed,
        Err(ConfigError::Refused(refused)) => {
            announcer.close().await;
            return refuse(store, context, output, &refused).await;
        }
        Err(error) => {
            announcer.close().await;
            return Err(cli_error(context, error));
        }
    };
    let current = changed.current();
    let announced = announcer.announce(context, current).await;
    announcer.close().await;
    if let Err(error) = announced {
        return Err(CliError::new(format!(
            "version {} is stored but could not be broadcast: {error}",
            current.version
        ))
        .with_hint(
            "instances keep the version they run; once Redis and RabbitMQ answer, setting the \
             same value again (or applying the same file) broadcasts the current version",
        ));
    }
    let convergence = match wait {
        Some(seconds) => {
            Some(convergence::wait(context, current.version, Duration::from_secs(seconds)).await?)
        }
        None => None,
    };
    let (status, previous, changes) = match &changed {
        Changed::Stored { version, changes } => {
            ("stored", Some(version.version - 1), changes.as_slice())
        }
        Changed::Unchanged(_) => ("unchanged", None, &[][..]),
    };
    let report = Report {
        status,
        version: current.version,
        previous,
        changes,
        errors: &[],
        convergence: convergence.as_ref(),
    };
    output.emit(&report, |output| {
        print_change(output, current, &report);
        if let Some(convergence) = &convergence {
            convergence::print(output, convergence);
        }
    });
    let converged = convergence
        .as_ref()
        .is_none_or(|convergence| convergence.converged);
    Ok(if converged {
        Outcome::Ok
    } else {
        Outcome::Degraded
    })
}

fn print_change(output: &mut Output, current: &StoredVersion, report: &Report<'_>) {
    match report.previous {
        Some(previous) => {
            output.line(&format!(
                "stored version {} (was {previous}) and broadcast it",
                current.version
            ));
            let rows = report.changes.iter().map(|change| {
                vec![
                    change.key.clone(),
                    shown(change.old.as_ref()),
                    shown(change.new.as_ref()),
                ]
            });
            output.table("", &["key", "was", "now"], rows);
        }
        None => output.line(&format!(
            "unchanged: version {} already holds this; broadcast it again",
            current.version
        )),
    }
}

/// Prints why a change was refused; the current version stays as it was (exit 1).
async fn refuse(
    store: &ConfigStore,
    context: &Context,
    output: &mut Output,
    refused: &Refused,
) -> Result<Outcome, CliError> {
    let current = store
        .current()
        .await
        .map_err(|error| cli_error(context, error))?;
    let report = Report {
        status: "refused",
        version: current.version,
        previous: None,
        changes: &[],
        errors: &refused.errors,
        convergence: None,
    };
    output.emit(&report, |output| {
        output.line(&format!(
            "refused, nothing changed (version {} stays current):",
            current.version
        ));
        for error in &refused.errors {
            output.line(&format!("  {error}"));
        }
    });
    Ok(Outcome::Degraded)
}

/// Redis and the broker, connected before anything is stored.
struct Announcer {
    redis: ConnectionManager,
    bus: Bus,
    publisher: Publisher,
}

impl Announcer {
    async fn connect(context: &Context) -> Result<Self, CliError> {
        let redis = broadcast::redis_connection(&context.settings.redis)
            .await
            .map_err(|error| cli_error(context, error))?;
        let bus = context.bus(Topology::new(context.names())).await?;
        Ok(Self {
            redis,
            publisher: Publisher::new(bus.clone()),
            bus,
        })
    }

    async fn announce(
        &mut self,
        context: &Context,
        version: &StoredVersion,
    ) -> Result<(), ConfigError> {
        broadcast::announce(
            &mut self.redis,
            &context.settings.redis.key_prefix,
            &self.publisher,
            &context.names().config_exchange(),
            version,
        )
        .await
    }

    async fn close(self) {
        self.bus.shutdown().await;
    }
}
