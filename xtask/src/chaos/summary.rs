//! The run's outcome: what was sent and answered, what the stores recorded, the faults, the
//! read models' checksums, what the queues still hold, and every violation found.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use super::checks::{Checksums, Command, Holding, Ledger, is_dead_letters};
use super::faults::Injected;
use super::profile::Profile;

#[derive(Debug)]
pub struct Summary {
    profile: Profile,
    sent: usize,
    succeeded: usize,
    accepted: usize,
    refused: usize,
    unanswered: usize,
    /// Sent more than once with the same key before an answer came.
    retried: usize,
    /// Commands sent, by type.
    kinds: BTreeMap<&'static str, usize>,
    ledger: Ledger,
    faults: Vec<Injected>,
    checksums: Vec<Checksums>,
    holding: Vec<Holding>,
    pub violations: Vec<String>,
    /// The whole command, start-up and checks included; set by the caller.
    pub took: Duration,
}

impl Summary {
    pub fn new(
        profile: Profile,
        commands: &[Command],
        ledger: Ledger,
        checksums: Vec<Checksums>,
        holding: Vec<Holding>,
        faults: Vec<Injected>,
    ) -> Self {
        let count = |keep: fn(&Command) -> bool| commands.iter().filter(|c| keep(c)).count();
        let mut violations = ledger.violations.clone();
        for command in commands.iter().filter(|command| command.id_mismatch) {
            violations.push(format!(
                "the gateway named {} command {} by another id than its Idempotency-Key gives",
                command.service, command.command_id
            ));
        }
        for checksum in checksums.iter().filter(|checksum| !checksum.matches()) {
            violations.push(format!(
                "{} differs from its rebuild: live {}, rebuilt {}",
                checksum.model, checksum.live, checksum.rebuilt
            ));
        }
        for queue in &holding {
            let kind = if is_dead_letters(&queue.queue) {
                "dead-letter queue"
            } else {
                "queue"
            };
            violations.push(format!(
                "{kind} {} still holds {} ready and {} unacked messages",
                queue.queue, queue.ready, queue.unacked
            ));
        }
        Self {
            profile,
            sent: commands.len(),
            succeeded: count(Command::succeeded),
            accepted: count(Command::accepted),
            refused: count(|command| command.status.is_some_and(|s| (400..500).contains(&s))),
            unanswered: count(Command::unanswered),
            retried: count(|command| command.attempts > 1),
            kinds: commands.iter().fold(BTreeMap::new(), |mut kinds, command| {
                *kinds.entry(command.kind).or_default() += 1;
                kinds
            }),
            ledger,
            faults,
            checksums,
            holding,
            violations,
            took: Duration::ZERO,
        }
    }

    /// Writes `target/chaos/summary.json`; returns its path.
    pub fn write(&self, root: &Path) -> Result<PathBuf> {
        let dir = crate::target_dir(root).join("chaos");
        fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
        let path = dir.join("summary.json");
        let faults: Vec<_> = self
            .faults
            .iter()
            .map(|fault| {
                json!({
                    "fault": fault.what,
                    "at_s": fault.at.as_secs_f64(),
                    "takeover_ms": fault.takeover.map(|took| took.as_secs_f64() * 1_000.0),
                    "recovered_after_ms": fault.recovered_after.as_secs_f64() * 1_000.0,
                })
            })
            .collect();
        let checksums: serde_json::Map<String, serde_json::Value> = self
            .checksums
            .iter()
            .map(|checksum| (checksum.model.to_owned(), json!(checksum.matches())))
            .collect();
        let summary = json!({
            "profile": self.profile.name(),
            "took_s": self.took.as_secs_f64(),
            "commands_sent": self.sent,
            "answered_2xx": self.succeeded,
            "accepted_202": self.accepted,
            "refused_4xx": self.refused,
            "unanswered": self.unanswered,
            "retried": self.retried,
            "commands_by_type": self.kinds,
            "applied": self.ledger.applied,
            "recorded_refused": self.ledger.refused,
            "duplicates": self.ledger.duplicates,
            "lost": self.ledger.lost,
            "faults_injected": self.faults.len(),
            "faults": faults,
            "checksum_match": checksums,
            "queues_holding_messages": self.holding.len(),
            "violations": self.violations,
        });
        fs::write(&path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("could not write {}", path.display()))?;
        Ok(path)
    }

    /// The summary on stdout: it is the command's output.
    #[expect(clippy::print_stdout, reason = "the summary is the command's output")]
    pub fn print(&self) {
        println!(
            "chaos ({} profile), {:.0} s",
            self.profile.name(),
            self.took.as_secs_f64()
        );
        println!("  commands sent      {:>7}", self.sent);
        println!("  answered 2xx       {:>7}", self.succeeded);
        println!("  accepted 202       {:>7}", self.accepted);
        println!("  refused 4xx        {:>7}", self.refused);
        println!("  unanswered         {:>7}", self.unanswered);
        println!("  retried (same key) {:>7}", self.retried);
        println!("  applied            {:>7}", self.ledger.applied);
        println!("  duplicates         {:>7}", self.ledger.duplicates);
        println!("  lost               {:>7}", self.ledger.lost);
        println!("  faults injected    {:>7}", self.faults.len());
        for fault in &self.faults {
            let takeover = fault
                .takeover
                .map(|took| format!(", standby leading after {:.0} ms", took.as_secs_f64() * 1e3))
                .unwrap_or_default();
            println!(
                "    {:>6.1} s  {}{takeover}; all ready {:.1} s after the restart",
                fault.at.as_secs_f64(),
                fault.what,
                fault.recovered_after.as_secs_f64()
            );
        }
        for checksum in &self.checksums {
            let verdict = if checksum.matches() {
                "matches its rebuild"
            } else {
                "DIFFERS from its rebuild"
            };
            println!("  {:<18} {verdict}", checksum.model);
        }
        if self.holding.is_empty() {
            println!("  queues             empty, dead letters none");
        }
        if self.violations.is_empty() {
            println!("  no violations");
        } else {
            println!("  {} violations:", self.violations.len());
            for violation in &self.violations {
                println!("    - {violation}");
            }
        }
    }
}
