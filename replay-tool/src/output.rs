//! What a command prints: tables for people, JSON for scripts (`--json`), progress bars on
//! stderr only when a person is watching.

use std::io::{IsTerminal, Write};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Where a command writes. Tests capture it; `main` sends it to stdout.
pub struct Output {
    json: bool,
    out: Box<dyn Write + Send>,
    interactive: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output").field("json", &self.json).finish()
    }
}

impl Output {
    /// Standard output; progress bars only when stderr is a terminal and not in JSON mode.
    pub fn stdout(json: bool) -> Self {
        Self {
            json,
            out: Box::new(std::io::stdout()),
            interactive: !json && std::io::stderr().is_terminal(),
        }
    }

    /// Any writer, never interactive (tests).
    pub fn to_writer(json: bool, out: Box<dyn Write + Send>) -> Self {
        Self {
            json,
            out,
            interactive: false,
        }
    }

    pub fn json_mode(&self) -> bool {
        self.json
    }

    /// One document for `--json`; in table mode, `human` decides what is shown.
    pub fn emit<T: Serialize>(&mut self, value: &T, human: impl FnOnce(&mut Self)) {
        if self.json {
            let text = serde_json::to_string_pretty(value).unwrap_or_default();
            self.line(&text);
        } else {
            human(self);
        }
    }

    /// A titled table.
    pub fn table<R: IntoIterator<Item = String>>(
        &mut self,
        title: &str,
        header: &[&str],
        rows: impl IntoIterator<Item = R>,
    ) {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(header.iter().copied());
        for row in rows {
            table.add_row(row.into_iter().collect::<Vec<_>>());
        }
        if !title.is_empty() {
            self.line(title);
        }
        self.line(&table.to_string());
    }

    pub fn line(&mut self, text: &str) {
        // A closed pipe (`waypoint status | head`) is not an error worth reporting.
        let _ = writeln!(self.out, "{text}");
    }

    /// A progress bar with rate and ETA, hidden unless a person is watching.
    pub fn progress(&self, total: u64, what: &str) -> ProgressBar {
        if !self.interactive {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        let style =
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, ETA {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_owned());
        bar
    }
}
