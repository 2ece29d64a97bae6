//! Locks the wire format of every public contract against stored JSON fixtures, which are the
//! contract: a change that breaks a fixture breaks a deployed consumer.

// Clippy's test exemption covers only `#[test]` functions; the shared helpers here should fail
// the test just the same.
#![allow(clippy::unwrap_used)]

mod checkpoint;
mod commands;
mod events;
mod recorded;
mod replies;

use std::fs;
use std::path::Path;

use serde_json::Value;

/// Every `.json` file directly in `tests/fixtures/<dir>`, as (file name, JSON), sorted by name.
fn read_fixtures(dir: &str) -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut fixtures: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let text = fs::read_to_string(&path).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
            (name, json)
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    fixtures
}

fn read_fixture(dir: &str, name: &str) -> Value {
    read_fixtures(dir)
        .into_iter()
        .find_map(|(file, json)| (file == name).then_some(json))
        .unwrap_or_else(|| panic!("no fixture {dir}/{name}"))
}
