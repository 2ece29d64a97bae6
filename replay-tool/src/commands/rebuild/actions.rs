//! What `waypoint rebuild` does, one function per action, and how each reports: one JSON
//! document with `--json`, lines and tables otherwise.

use std::time::Duration;

use indicatif::ProgressBar;
use projection::ReadModel;
use projection::generations::{self, Activation, Generation, Instance};
use projection::rebuild::{Built, Progress, Rebuild, Served};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::failure;
use crate::{CliError, Outcome, Output};

/// The progress bar, fed by the catch-up.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn total(&mut self, events: u64) {
        self.0.set_length(events);
    }

    fn advance(&mut self, events: u64) {
        self.0.inc(events);
    }
}

/// What a rebuild or a rollback did.
#[derive(Debug, Serialize)]
struct Switched {
    projection: &'static str,
    action: &'static str,
    /// The generation now active.
    generation: i32,
    schema: String,
    /// The model's events read from the stores to build (or catch up) it, and how fast.
    events: u64,
    seconds: f64,
    events_per_second: f64,
    /// The generation that served before, now retired.
    previous: Option<i32>,
    /// The running instances and the generation each serves.
    instances: Vec<Instance>,
    /// Every running instance serves the new generation (true when none runs).
    switched: bool,
}

/// Builds the next generation, makes it active, and waits for the running instances.
pub(super) async fn rebuild<M: ReadModel>(
    rebuild: &Rebuild<'_, M>,
    wait: Duration,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    if !output.json_mode() {
        output.line(&format!(
            "{}: building the next generation from the source stores; the active one keeps serving",
            M::NAME
        ));
    }
    let mut bar = Bar(output.progress(0, M::NAME));
    let built = rebuild.build(&mut bar).await.map_err(failure::<M>);
    bar.0.finish_and_clear();
    let built = built?;
    let activation = rebuild
        .activate(&built.generation)
        .await
        .map_err(failure::<M>)?;
    let served = rebuild
        .wait_until_served(activation.active.number, wait)
        .await
        .map_err(failure::<M>)?;
    Ok(report::<M>(
        "rebuild",
        &built,
        &activation,
        served,
        wait,
        output,
    ))
}

/// Makes the previous generation active again, caught up first.
pub(super) async fn rollback<M: ReadModel>(
    rebuild: &Rebuild<'_, M>,
    wait: Duration,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let mut bar = Bar(output.progress(0, M::NAME));
    let rolled_back = rebuild.rollback(&mut bar).await.map_err(failure::<M>);
    bar.0.finish_and_clear();
    let (built, activation) = rolled_back?;
    let served = rebuild
        .wait_until_served(activation.active.number, wait)
        .await
        .map_err(failure::<M>)?;
    Ok(report::<M>(
        "rollback",
        &built,
        &activation,
        served,
        wait,
        output,
    ))
}

fn report<M: ReadModel>(
    action: &'static str,
    built: &Built,
    activation: &Activation,
    served: Served,
    wait: Duration,
    output: &mut Output,
) -> Outcome {
    let active = &activation.active;
    let report = Switched {
        projection: M::NAME,
        action,
        generation: active.number,
        schema: active.schema.clone(),
        events: built.events,
        seconds: built.elapsed.as_secs_f64(),
        events_per_second: built.events_per_second(),
        previous: activation.previous.as_ref().map(|previous| previous.number),
        instances: served.instances,
        switched: served.complete,
    };
    output.emit(&report, |out| {
        let verb = if action == "rollback" {
            "caught up"
        } else {
            "built"
        };
        out.line(&format!(
            "{}: {verb} generation {} ({}): {} events in {:.2} s, {:.0} events/s",
            M::NAME,
            report.generation,
            report.schema,
            report.events,
            report.seconds,
            report.events_per_second
        ));
        match report.previous {
            Some(previous) => out.line(&format!(
                "{}: generation {} is active; generation {previous} is retired \
                 (`waypoint rebuild {} --rollback` switches back)",
                M::NAME,
                report.generation,
                M::NAME
            )),
            None => out.line(&format!(
                "{}: generation {} is active",
                M::NAME,
                report.generation
            )),
        }
        out.line(&served_line::<M>(&report, wait));
    });
    if report.switched {
        Outcome::Ok
    } else {
        Outcome::Degraded
    }
}

fn served_line<M: ReadModel>(report: &Switched, wait: Duration) -> String {
    let name = M::NAME;
    if report.instances.is_empty() {
        return format!(
            "{name}: no instance is running; instances that start will serve generation {}",
            report.generation
        );
    }
    if report.switched {
        return format!(
            "{name}: {} running instance(s) serve generation {}",
            report.instances.len(),
            report.generation
        );
    }
    let behind: Vec<String> = report
        .instances
        .iter()
        .filter(|instance| instance.generation != report.generation)
        .map(|instance| {
            format!(
                "{} (generation {})",
                instance.instance_id, instance.generation
            )
        })
        .collect();
    format!(
        "{name}: after {} s these instances have not switched yet: {}; they switch once they \
         reach the database again (see their logs)",
        wait.as_secs(),
        behind.join(", ")
    )
}

#[derive(Debug, Serialize)]
struct Dropped {
    projection: &'static str,
    dropped: Vec<Generation>,
}

/// Drops the retired generations.
pub(super) async fn drop_old<M: ReadModel>(
    rebuild: &Rebuild<'_, M>,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let dropped = rebuild.drop_old().await.map_err(failure::<M>)?;
    let report = Dropped {
        projection: M::NAME,
        dropped,
    };
    output.emit(&report, |out| {
        if report.dropped.is_empty() {
            out.line(&format!("{}: no retired generation to drop", M::NAME));
        }
        for generation in &report.dropped {
            out.line(&format!(
                "{}: dropped generation {} ({})",
                M::NAME,
                generation.number,
                generation.schema
            ));
        }
    });
    Ok(Outcome::Ok)
}

#[derive(Debug, Serialize)]
struct Status {
    projection: &'static str,
    generations: Vec<Generation>,
    instances: Vec<Instance>,
}

/// Lists the generations and the running instances.
pub(super) async fn status<M: ReadModel>(
    base: &PgPool,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let database = |error| CliError::database(&format!("{}'s database", M::NAME), error);
    generations::ensure(base).await.map_err(database)?;
    let report = Status {
        projection: M::NAME,
        generations: generations::list(base).await.map_err(database)?,
        instances: generations::instances(base).await.map_err(database)?,
    };
    output.emit(&report, |out| {
        let rows = report.generations.iter().map(|generation| {
            let serving: Vec<&str> = report
                .instances
                .iter()
                .filter(|instance| instance.generation == generation.number)
                .map(|instance| instance.instance_id.as_str())
                .collect();
            [
                generation.number.to_string(),
                generation.schema.clone(),
                generation.state.as_str().to_owned(),
                when(Some(generation.created_at)),
                when(generation.activated_at),
                when(generation.retired_at),
                serving.join(", "),
            ]
        });
        out.table(
            &format!("{} generations", M::NAME),
            &[
                "generation",
                "schema",
                "state",
                "created",
                "activated",
                "retired",
                "served by",
            ],
            rows,
        );
    });
    Ok(Outcome::Ok)
}

fn when(at: Option<OffsetDateTime>) -> String {
    at.and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}
