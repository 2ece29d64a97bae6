//! The gateway's circuit breakers, scraped from each gateway instance's `/metrics`.

use std::time::Duration;

use serde::Serialize;

use super::Section;
use super::instances::Instance;

/// The service name the gateway registers under in discovery.
const GATEWAY: &str = "gateway";
const METRIC: &str = "gateway_breaker_state";
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Breaker {
    pub gateway: String,
    pub upstream: String,
    /// `closed`, `half-open` or `open`.
    pub state: &'static str,
}

/// Every breaker of every gateway instance; an open one is degraded, and so is a gateway
/// whose metrics cannot be read.
pub(crate) async fn collect(
    instances: &[Instance],
    http: &reqwest::Client,
) -> Section<Vec<Breaker>> {
    let gateways = instances
        .iter()
        .filter(|instance| instance.service == GATEWAY);
    let scraped = futures::future::join_all(gateways.map(|gateway| async move {
        let url = format!("{}/metrics", gateway.address.trim_end_matches('/'));
        let text = async {
            http.get(&url)
                .timeout(SCRAPE_TIMEOUT)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        }
        .await
        .map_err(|error| error.without_url().to_string());
        (gateway.instance_id.clone(), text)
    }))
    .await;
    let mut breakers = Vec::new();
    let mut problems = Vec::new();
    for (gateway, text) in scraped {
        match text {
            Ok(text) => {
                breakers.extend(parse(&text).into_iter().map(|(upstream, state)| Breaker {
                    gateway: gateway.clone(),
                    upstream,
                    state,
                }))
            }
            Err(error) => problems.push(format!("gateway {gateway}: metrics unreadable: {error}")),
        }
    }
    problems.extend(
        breakers
            .iter()
            .filter(|breaker| breaker.state == "open")
            .map(|breaker| {
                format!(
                    "gateway {}: the breaker to {} is open",
                    breaker.gateway, breaker.upstream
                )
            }),
    );
    Section::new(breakers, problems)
}

/// `(upstream, state)` of every `gateway_breaker_state{upstream="..."} <0|1|2>` sample.
fn parse(text: &str) -> Vec<(String, &'static str)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(METRIC)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once('}')?;
            let upstream = label(labels, "upstream")?;
            let state = match value.trim().parse::<f64>().ok()? {
                value if value >= 1.5 => "open",
                value if value >= 0.5 => "half-open",
                _ => "closed",
            };
            Some((upstream, state))
        })
        .collect()
}

/// The value of `name="value"` in a Prometheus label set (values here never hold `"`).
fn label(labels: &str, name: &str) -> Option<String> {
    labels.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_states_are_read_from_the_exposition() {
        let text = "# TYPE gateway_breaker_state gauge\n\
                    gateway_breaker_state{upstream=\"review-feed\"} 0\n\
                    gateway_breaker_state{upstream=\"place-directory\"} 2\n\
                    gateway_breaker_state{instance=\"a\",upstream=\"member-profile\"} 1\n\
                    gateway_breaker_states_total{upstream=\"x\"} 2\n\
                    gateway_http_requests_total{route=\"/\"} 3\n";
        assert_eq!(
            parse(text),
            vec![
                ("review-feed".to_owned(), "closed"),
                ("place-directory".to_owned(), "open"),
                ("member-profile".to_owned(), "half-open"),
            ]
        );
    }
}
