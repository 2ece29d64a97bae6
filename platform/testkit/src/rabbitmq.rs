//! Broker addresses, per-test name prefixes and the RabbitMQ management API.

/// The AMQP URL of the test broker.
pub fn amqp_url() -> String {
    std::env::var("WAYPOINT_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The management API's base URL of the test broker.
pub fn management_url() -> String {
    std::env::var("WAYPOINT_TEST_RABBITMQ_MANAGEMENT_URL")
        .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".to_owned())
}

/// A unique prefix for this test's exchanges and queues (`t_<hex>`).
pub fn unique_prefix() -> String {
    format!("t_{}", crate::unique_suffix())
}

/// The default virtual host, as it appears in management API paths.
const VHOST: &str = "%2F";

/// Percent-encodes one path segment of a management API URL (names may contain `/`, spaces, `>`).
fn segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn management_get(path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", management_url()))
        .send()
        .await
        .expect("call the RabbitMQ management API (is the rabbitmq_management plugin enabled?)")
}

async fn management_list(path: &str) -> Vec<serde_json::Value> {
    management_get(path)
        .await
        .error_for_status()
        .expect("list from the RabbitMQ management API")
        .json()
        .await
        .expect("parse the RabbitMQ management API's list")
}

/// The broker-side names of the open connections whose client-provided `connection_name` is
/// `connection_name`.
pub async fn connections_named(connection_name: &str) -> Vec<String> {
    management_list("/api/connections")
        .await
        .iter()
        .filter(|connection| {
            connection["client_properties"]["connection_name"].as_str() == Some(connection_name)
        })
        .filter_map(|connection| connection["name"].as_str().map(str::to_owned))
        .collect()
}

/// Messages delivered and not yet acked over all channels of the connections named
/// `connection_name`. The broker samples these statistics every few seconds: poll for them.
pub async fn unacked_on_connections_named(connection_name: &str) -> u64 {
    let mut unacked = 0;
    for connection in connections_named(connection_name).await {
        let channels = management_list(&format!(
            "/api/connections/{}/channels",
            segment(&connection)
        ))
        .await;
        unacked += channels
            .iter()
            .filter_map(|channel| channel["messages_unacknowledged"].as_u64())
            .sum::<u64>();
    }
    unacked
}

/// Force-closes every connection named `connection_name`, as a broker restart or a network cut
/// would, and returns how many it closed.
pub async fn close_connections_named(connection_name: &str) -> usize {
    let names = connections_named(connection_name).await;
    for name in &names {
        close_connection(name).await;
    }
    names.len()
}

/// Force-closes one connection by its broker-side name (from [`connections_named`]).
pub async fn close_connection(name: &str) {
    let response = reqwest::Client::new()
        .delete(format!(
            "{}/api/connections/{}",
            management_url(),
            segment(name)
        ))
        .header("X-Reason", "closed by a Waypoint test")
        .send()
        .await
        .expect("close a connection through the RabbitMQ management API");
    // 404: it went away by itself in the meantime, which is what we wanted.
    assert!(
        response.status().is_success() || response.status() == reqwest::StatusCode::NOT_FOUND,
        "closing connection {name} failed: {}",
        response.status()
    );
}

/// A queue as the management API describes it (arguments, type, consumers), if it exists. Its
/// message counts lag by the statistics interval: count messages over AMQP instead.
pub async fn queue(name: &str) -> Option<serde_json::Value> {
    let response = management_get(&format!("/api/queues/{VHOST}/{}", segment(name))).await;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    Some(
        response
            .error_for_status()
            .expect("read a queue from the RabbitMQ management API")
            .json()
            .await
            .expect("parse a queue from the RabbitMQ management API"),
    )
}

/// Whether an exchange exists.
pub async fn exchange_exists(name: &str) -> bool {
    let response = management_get(&format!("/api/exchanges/{VHOST}/{}", segment(name))).await;
    response.status().is_success()
}

/// Deletes a queue (missing is fine).
pub async fn delete_queue(name: &str) {
    let _ = reqwest::Client::new()
        .delete(format!(
            "{}/api/queues/{VHOST}/{}",
            management_url(),
            segment(name)
        ))
        .send()
        .await;
}

/// Best-effort clean-up: deletes every queue and exchange whose name starts with `prefix`.
/// RabbitMQ is shared by all tests, so each test removes what it created.
pub async fn delete_prefixed(prefix: &str) {
    let client = reqwest::Client::new();
    for kind in ["queues", "exchanges"] {
        let Ok(response) = client
            .get(format!(
                "{}/api/{kind}/{VHOST}?columns=name",
                management_url()
            ))
            .send()
            .await
        else {
            continue;
        };
        let Ok(items) = response.json::<Vec<serde_json::Value>>().await else {
            continue;
        };
        for name in items.iter().filter_map(|item| item["name"].as_str()) {
            if name.starts_with(prefix) {
                let _ = client
                    .delete(format!(
                        "{}/api/{kind}/{VHOST}/{}",
                        management_url(),
                        segment(name)
                    ))
                    .send()
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(
            super::segment("127.0.0.1:5 -> a/b"),
            "127%2E0%2E0%2E1%3A5%20%2D%3E%20a%2Fb"
        );
    }
}
