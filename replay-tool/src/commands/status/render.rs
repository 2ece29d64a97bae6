//! `status` for people: a verdict, the problems, then one table per part.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Section, Snapshot};
use crate::Output;

pub(super) fn human(output: &mut Output, snapshot: &Snapshot) {
    let at = snapshot.at.format(&Rfc3339).unwrap_or_default();
    if snapshot.healthy {
        output.line(&format!("Waypoint is healthy ({at})"));
    } else {
        output.line(&format!(
            "Waypoint is DEGRADED ({at}): {} problem(s)",
            snapshot.problems.len()
        ));
        for problem in &snapshot.problems {
            output.line(&format!("  - {problem}"));
        }
    }
    output.line("");

    section(output, "Instances", &snapshot.instances, |output, items| {
        let rows = items.iter().map(|instance| {
            vec![
                instance.service.clone(),
                instance.instance_id.clone(),
                instance.address.clone(),
                instance.version.clone(),
                instance
                    .config_version
                    .map_or_else(|| "-".to_owned(), |version| version.to_string()),
                age(instance.started_at),
                match (&instance.problem, &instance.degraded) {
                    (Some(problem), _) => format!("NOT READY: {problem}"),
                    (None, Some(degraded)) => format!("ready, DEGRADED: {degraded}"),
                    (None, None) => "ready".to_owned(),
                },
            ]
        });
        output.table(
            "",
            &[
                "service", "instance", "address", "version", "config", "up", "ready",
            ],
            rows,
        );
    });

    section(
        output,
        "Projections",
        &snapshot.projections,
        |output, items| {
            let rows = items.iter().map(|lag| {
                let behind = match (&lag.problem, lag.events_behind, lag.seconds_behind) {
                    (Some(problem), _, _) => problem.clone(),
                    (None, Some(events), Some(seconds)) => {
                        format!("{events} events, {seconds:.1} s")
                    }
                    _ => "-".to_owned(),
                };
                vec![
                    lag.projection.clone(),
                    lag.source.clone(),
                    match lag.head.as_deref() {
                        None => "-".to_owned(),
                        Some("0.0") => "empty".to_owned(),
                        Some(head) => head.to_owned(),
                    },
                    lag.checkpoint.clone().unwrap_or_else(|| "none".to_owned()),
                    behind,
                ]
            });
            output.table(
                "",
                &["projection", "source", "store head", "checkpoint", "behind"],
                rows,
            );
        },
    );

    section(output, "Queues", &snapshot.queues, |output, items| {
        let rows = items.iter().map(|queue| {
            vec![
                queue.name.clone(),
                queue.kind.clone().unwrap_or_default(),
                queue.messages.to_string(),
                queue.consumers.to_string(),
                format!("{:.1}", queue.publish_rate),
                format!("{:.1}", queue.deliver_rate),
            ]
        });
        output.table(
            "",
            &["queue", "type", "messages", "consumers", "in/s", "out/s"],
            rows,
        );
    });

    section(
        output,
        "Dead letters",
        &snapshot.dead_letters,
        |output, items| {
            let rows = items
                .iter()
                .map(|row| vec![row.queue.clone(), row.messages.to_string()]);
            output.table("", &["queue", "messages"], rows);
        },
    );

    section(
        output,
        "Gateway breakers",
        &snapshot.breakers,
        |output, items| {
            let rows = items.iter().map(|breaker| {
                vec![
                    breaker.gateway.clone(),
                    breaker.upstream.clone(),
                    breaker.state.to_owned(),
                ]
            });
            output.table("", &["gateway", "upstream", "state"], rows);
        },
    );
}

/// A titled part: its table, `(none)`, or why it could not be read.
fn section<R>(
    output: &mut Output,
    title: &str,
    section: &Section<Vec<R>>,
    table: impl FnOnce(&mut Output, &[R]),
) {
    match &section.error {
        Some(error) => output.line(&format!("{title}: UNREACHABLE: {error}")),
        None if section.items.is_empty() => output.line(&format!("{title}: (none)")),
        None => {
            output.line(title);
            table(output, &section.items);
        }
    }
    output.line("");
}

/// `3d 4h`, `5m 12s`: how long ago, for "up".
fn age(since: OffsetDateTime) -> String {
    let seconds = (OffsetDateTime::now_utc() - since).whole_seconds().max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {}s", seconds % 60),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}
