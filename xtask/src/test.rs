//! `cargo xtask test`: services up, leftovers of earlier runs gone, then the whole suite.

use std::path::Path;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::Value;

use crate::cmd::Cmd;
use crate::http;
use crate::services::{self, POSTGRES};
use testkit::database::TEST_DATABASE_PREFIX;

/// The prefix of every exchange, queue or vhost a test declares (`testkit::rabbitmq::unique_prefix`).
const TEST_BROKER_PREFIX: &str = "t_";
/// The prefix of every S3 bucket a test creates (bucket names allow no `_`).
const TEST_BUCKET_PREFIX: &str = "t-";

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Leave earlier runs' test databases, exchanges and queues alone: their cleanup would break
    /// another test run that is using the same servers right now.
    #[arg(long)]
    pub keep_leftovers: bool,
    /// Passed on to `cargo nextest run` (or `cargo test`), e.g. `-- -p testkit`.
    #[arg(last = true)]
    pub extra: Vec<String>,
}

/// Runs the suite and returns its exit code.
pub fn run(root: &Path, args: &Args) -> Result<i32> {
    services::ensure(root)?;
    // Tests clean up after themselves, but a test that panics or is killed leaves its database and
    // broker objects behind; over many runs they would pile up on the shared servers.
    if !args.keep_leftovers {
        if let Err(error) = drop_test_databases() {
            eprintln!("warning: could not drop leftover test databases: {error:#}");
        }
        if let Err(error) = delete_test_broker_objects() {
            eprintln!("warning: could not delete leftover test exchanges and queues: {error:#}");
        }
        if let Err(error) = delete_test_redis_keys() {
            eprintln!("warning: could not delete leftover test Redis keys: {error:#}");
        }
        delete_test_buckets(root);
    }
    let nextest = Cmd::cargo().args(["nextest", "--version"]).succeeds();
    let suite = suite_command(root, &args.extra, nextest);
    eprintln!("running `{suite}`");
    suite.exit_code()
}

/// nextest where it is installed (one process per test, so a test that hangs or crashes doesn't
/// take the others down); plain `cargo test` otherwise.
fn suite_command(root: &Path, extra: &[String], nextest: bool) -> Cmd {
    let suite = if nextest {
        Cmd::cargo().args(["nextest", "run"])
    } else {
        Cmd::cargo().arg("test")
    };
    // cargo lets `--workspace` win over `-p`, so a caller's `-p testkit` would otherwise still
    // run everything.
    let picks_packages = extra
        .iter()
        .take_while(|arg| *arg != "--")
        .any(|arg| arg.starts_with("-p") || arg.starts_with("--package"));
    let suite = if picks_packages {
        suite
    } else {
        suite.arg("--workspace")
    };
    suite.arg("--no-fail-fast").args(extra).current_dir(root)
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

fn psql() -> Cmd {
    Cmd::new("psql")
        .args([
            "-h",
            &POSTGRES.ip().to_string(),
            "-p",
            &POSTGRES.port().to_string(),
        ])
        // -X: no ~/.psqlrc, -A -t: bare values, one per line.
        .args(["-U", "postgres", "-d", "postgres", "-X", "-A", "-t"])
        .args(["-v", "ON_ERROR_STOP=1"])
}

fn drop_test_databases() -> Result<()> {
    let names = psql()
        .args(["-c", "SELECT datname FROM pg_database"])
        .output()?;
    let leftovers: Vec<&str> = names
        .lines()
        .map(str::trim)
        .filter(|name| name.starts_with(TEST_DATABASE_PREFIX))
        .collect();
    if leftovers.is_empty() {
        return Ok(());
    }
    eprintln!("dropping {} leftover test databases", leftovers.len());
    // DROP DATABASE can't run inside a transaction, and psql runs one `-c` string as one; each
    // `-c` of its own runs on its own. Batches keep the command line short.
    for batch in leftovers.chunks(100) {
        let drops = batch.iter().flat_map(|name| {
            let quoted = name.replace('"', "\"\"");
            [
                "-c".to_owned(),
                format!(r#"DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)"#),
            ]
        });
        psql().args(drops).output()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Redis and S3

/// Deletes every key under a test prefix (`t_<id>:`).
fn delete_test_redis_keys() -> Result<()> {
    let deleted = services::delete_redis_keys(&format!("{TEST_BROKER_PREFIX}*"))?;
    if deleted > 0 {
        eprintln!("deleted leftover test Redis keys ({deleted})");
    }
    Ok(())
}

/// Test buckets (`t-<id>`) are folders of the local S3 server's data directory.
fn delete_test_buckets(root: &Path) {
    let data = crate::target_dir(root).join("s3-data");
    let Ok(entries) = std::fs::read_dir(&data) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(TEST_BUCKET_PREFIX)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ

fn delete_test_broker_objects() -> Result<()> {
    let mut paths = Vec::new();
    for kind in ["exchanges", "queues"] {
        for (vhost, name) in list_broker_objects(kind)? {
            if name.starts_with(TEST_BROKER_PREFIX) {
                let (vhost, name) = (http::encode_segment(&vhost), http::encode_segment(&name));
                paths.push(format!("/api/{kind}/{vhost}/{name}"));
            }
        }
    }
    // A test may have taken a whole vhost instead of prefixed names.
    for (_, vhost) in list_broker_objects("vhosts")? {
        if vhost.starts_with(TEST_BROKER_PREFIX) {
            paths.push(format!("/api/vhosts/{}", http::encode_segment(&vhost)));
        }
    }
    if paths.is_empty() {
        return Ok(());
    }
    eprintln!(
        "deleting {} leftover test exchanges, queues and vhosts",
        paths.len()
    );
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| match services::management(Method::DELETE, path) {
            // 404: gone since the listing, which is what we wanted.
            Ok(response) if matches!(response.status, 200..=299 | 404) => None,
            Ok(response) => Some(format!("{path}: HTTP {}", response.status)),
            Err(error) => Some(format!("{path}: {error:#}")),
        })
        .collect();
    if !failures.is_empty() {
        bail!(failures.join("; "));
    }
    Ok(())
}

/// `(vhost, name)` of every exchange, queue or vhost; a vhost's own vhost is empty.
fn list_broker_objects(kind: &str) -> Result<Vec<(String, String)>> {
    let path = format!("/api/{kind}?columns=name,vhost");
    let response = services::management(Method::GET, &path)?;
    if response.status != 200 {
        bail!("GET {path}: HTTP {}", response.status);
    }
    let objects: Vec<Value> =
        serde_json::from_str(&response.body).with_context(|| format!("GET {path}: not a list"))?;
    let field = |object: &Value, key: &str| object[key].as_str().unwrap_or_default().to_owned();
    Ok(objects
        .iter()
        .map(|object| (field(object, "vhost"), field(object, "name")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> String {
        let extra: Vec<String> = extra.iter().map(|arg| (*arg).to_owned()).collect();
        suite_command(Path::new("."), &extra, true).to_string()
    }

    #[test]
    fn the_suite_covers_the_workspace_unless_packages_are_picked() {
        assert!(
            args(&[]).ends_with("--workspace --no-fail-fast"),
            "{}",
            args(&[])
        );
        assert!(!args(&["-p", "testkit"]).contains("--workspace"));
        assert!(!args(&["--package=testkit"]).contains("--workspace"));
        // After the runner's own `--`, `-p…` belongs to the test binaries.
        assert!(args(&["--", "-print"]).contains("--workspace"));
    }

    #[test]
    fn without_nextest_the_suite_is_cargo_test() {
        let cmd = suite_command(Path::new("."), &[], false).to_string();
        assert!(cmd.ends_with(" test --workspace --no-fail-fast"), "{cmd}");
    }
}
