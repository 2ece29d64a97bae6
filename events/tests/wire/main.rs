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

/// Every part of Waypoint shares this crate, so it must pull nothing in: no runtime, no I/O.
#[test]
fn the_crate_depends_on_serde_uuid_and_time_only_and_does_no_io() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["name"] == env!("CARGO_PKG_NAME"))
        .unwrap();
    let mut dependencies: Vec<&str> = package["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|dependency| dependency["kind"] != "dev")
        .map(|dependency| dependency["name"].as_str().unwrap())
        .collect();
    dependencies.sort_unstable();
    assert_eq!(dependencies, ["serde", "time", "uuid"]);

    // Nor does it reach for what std offers for I/O.
    let sources = rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(sources.len() > 10, "{sources:?}");
    for file in sources {
        let text = fs::read_to_string(&file).unwrap();
        for module in ["std::fs", "std::io", "std::net", "std::process", "std::env"] {
            assert!(!text.contains(module), "{} uses {module}", file.display());
        }
    }
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}
