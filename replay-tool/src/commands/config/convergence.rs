//! Which instances run a version yet, as they report it in discovery.

use std::time::Duration;

use serde::Serialize;
use service_kit::discovery::Registry;
use tokio::time::Instant;

use crate::{CliError, Context, Output};

/// How often discovery is read while waiting. Instances report with their next heartbeat.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Every live instance and the configuration version it reports.
#[derive(Debug, Clone, Serialize)]
pub struct Convergence {
    pub version: i64,
    /// Every instance runs `version` (or a newer one).
    pub converged: bool,
    pub instances: Vec<InstanceVersion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceVersion {
    pub service: String,
    pub instance_id: String,
    pub config_version: Option<i64>,
    pub current: bool,
}

/// Reads discovery until every instance reports `version` or `limit` has passed.
pub async fn wait(
    context: &Context,
    version: i64,
    limit: Duration,
) -> Result<Convergence, CliError> {
    let registry = Registry::connect(&context.settings.redis)
        .await
        .map_err(CliError::redis)?;
    let deadline = Instant::now() + limit;
    loop {
        let seen = read(&registry, version).await?;
        if seen.converged || Instant::now() >= deadline {
            return Ok(seen);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn read(registry: &Registry, version: i64) -> Result<Convergence, CliError> {
    let mut instances = Vec::new();
    for service in registry.services().await.map_err(CliError::redis)? {
        for info in registry
            .instances(&service)
            .await
            .map_err(CliError::redis)?
        {
            instances.push(InstanceVersion {
                current: info
                    .config_version
                    .is_some_and(|applied| applied >= version),
                service: info.service,
                instance_id: info.instance_id,
                config_version: info.config_version,
            });
        }
    }
    Ok(Convergence {
        version,
        converged: instances.iter().all(|instance| instance.current),
        instances,
    })
}

pub fn print(output: &mut Output, convergence: &Convergence) {
    let total = convergence.instances.len();
    if total == 0 {
        output.line("no instance is running to apply it");
        return;
    }
    let rows = convergence.instances.iter().map(|instance| {
        vec![
            instance.service.clone(),
            instance.instance_id.clone(),
            instance
                .config_version
                .map_or_else(|| "-".to_owned(), |version| version.to_string()),
            if instance.current { "yes" } else { "not yet" }.to_owned(),
        ]
    });
    output.table(
        "",
        &["service", "instance", "config version", "runs it"],
        rows,
    );
    let behind = convergence
        .instances
        .iter()
        .filter(|instance| !instance.current)
        .count();
    output.line(&if behind == 0 {
        format!("all {total} instances run version {}", convergence.version)
    } else {
        format!(
            "{behind} of {total} instances do not run version {} yet",
            convergence.version
        )
    });
}
