//! Running instances, from discovery, each asked whether it is ready.

use std::time::Duration;

use serde::Serialize;
use service_kit::discovery::{DiscoveryError, InstanceInfo, Registry};
use time::OffsetDateTime;

use super::Section;
use super::connections::bounded;
use crate::Context;

/// How long an instance may take to answer `/health/ready` (its own checks take up to 2 s).
const READY_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Instance {
    pub service: String,
    pub instance_id: String,
    pub address: String,
    pub version: String,
    /// The dynamic configuration version it has applied; `None` before it applied one.
    pub config_version: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub ready: bool,
    /// Why it is not ready: its failing checks, or why it could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// What it reports as degraded while ready (a read model with poison events set aside).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

/// Every live instance of every service in discovery, with its readiness. Each configured
/// command service and projection is expected to have one; one that has none is degraded.
pub(crate) async fn collect(
    context: &Context,
    registry: Result<&Registry, String>,
    http: &reqwest::Client,
) -> Section<Vec<Instance>> {
    let found = match registry {
        Ok(registry) => bounded(list(registry)).await,
        Err(error) => Err(error),
    };
    let found = match found {
        Ok(found) => found,
        Err(error) => return Section::failed(error),
    };
    let instances =
        futures::future::join_all(found.into_iter().map(|info| readiness(http, info))).await;
    let expected = context
        .settings
        .stores
        .keys()
        .chain(context.settings.projections.keys());
    let mut problems: Vec<String> = expected
        .filter(|name| !instances.iter().any(|instance| &instance.service == *name))
        .map(|service| format!("{service}: no instance is running"))
        .collect();
    for instance in &instances {
        let name = format!("{} {}", instance.service, instance.instance_id);
        if let Some(problem) = &instance.problem {
            problems.push(format!("{name} is not ready: {problem}"));
        }
        if let Some(degraded) = &instance.degraded {
            problems.push(format!("{name} is degraded: {degraded}"));
        }
    }
    Section::new(instances, problems)
}

async fn list(registry: &Registry) -> Result<Vec<InstanceInfo>, DiscoveryError> {
    let mut all = Vec::new();
    for service in registry.services().await? {
        all.extend(registry.instances(&service).await?);
    }
    Ok(all)
}

/// Asks one instance's `/health/ready`.
async fn readiness(http: &reqwest::Client, info: InstanceInfo) -> Instance {
    let url = format!("{}/health/ready", info.address.trim_end_matches('/'));
    let (problem, degraded) = match http.get(&url).timeout(READY_TIMEOUT).send().await {
        Ok(response) => {
            let status = response.status();
            let report: serde_json::Value = response.json().await.unwrap_or_default();
            let problem = (!status.is_success())
                .then(|| failing_checks(&report).unwrap_or_else(|| format!("answered {status}")));
            (problem, degraded_checks(&report))
        }
        Err(error) => (Some(format!("unreachable: {}", error.without_url())), None),
    };
    Instance {
        service: info.service,
        instance_id: info.instance_id,
        address: info.address,
        version: info.version,
        config_version: info.config_version,
        started_at: info.started_at,
        ready: problem.is_none(),
        problem,
        degraded,
    }
}

/// `check: error, ...` of a readiness report's failing checks.
fn failing_checks(report: &serde_json::Value) -> Option<String> {
    let checks = report.get("checks")?.as_object()?;
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, check)| check["ok"] == false)
        .map(|(name, check)| match check["error"].as_str() {
            Some(error) => format!("{name}: {error}"),
            None => name.clone(),
        })
        .collect();
    (!failing.is_empty()).then(|| failing.join(", "))
}

/// The checks that pass but report `"degraded": true` in their detail, with their poison
/// count when they give one.
fn degraded_checks(report: &serde_json::Value) -> Option<String> {
    let checks = report.get("checks")?.as_object()?;
    let degraded: Vec<String> = checks
        .iter()
        .filter(|(_, check)| check["detail"]["degraded"] == true)
        .map(
            |(name, check)| match check["detail"]["poisoned_events"].as_i64() {
                Some(poisoned) => format!("{name}: {poisoned} poison event(s) set aside"),
                None => name.clone(),
            },
        )
        .collect();
    (!degraded.is_empty()).then(|| degraded.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_checks_are_named_with_their_errors() {
        let report = serde_json::json!({
            "status": "not_ready",
            "checks": {
                "postgres": {"ok": false, "error": "connection refused"},
                "rabbitmq": {"ok": true},
                "relay": {"ok": false},
            }
        });
        assert_eq!(
            failing_checks(&report).as_deref(),
            Some("postgres: connection refused, relay")
        );
        assert_eq!(failing_checks(&serde_json::json!({"checks": {}})), None);
    }

    #[test]
    fn a_ready_model_with_poison_is_degraded() {
        let report = serde_json::json!({
            "status": "ready",
            "checks": {
                "postgres": {"ok": true},
                "review-feed": {"ok": true, "detail": {"degraded": true, "poisoned_events": 2}},
            }
        });
        assert_eq!(
            degraded_checks(&report).as_deref(),
            Some("review-feed: 2 poison event(s) set aside")
        );
        let healthy = serde_json::json!({
            "checks": {"review-feed": {"ok": true, "detail": {"degraded": false}}}
        });
        assert_eq!(degraded_checks(&healthy), None);
    }
}
