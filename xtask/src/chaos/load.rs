//! The mixed command load: members registering, adding and changing places, writing, editing
//! and deleting reviews, rating, renaming themselves, each command with an `Idempotency-Key`
//! of its own and retried with the same key whenever no answer came (the gateway was down,
//! the broker refused, the connection broke), as a careful client would.
//!
//! Every command is written down with the id the gateway derives from its key, so the checks
//! can find it in the event stores afterwards.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::profile::Plan;

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command is retried (gateway or broker down) before it is given up as unanswered.
const RETRY_FOR: Duration = Duration::from_secs(45);
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The gateway's namespace for command ids derived from `Idempotency-Key` (`gateway/src/
/// commands/context.rs`). A copy, checked against the gateway on every answer that names the
/// id (201s that name the new place, review or member, and 202s), so a change there fails the
/// run instead of silently checking other ids.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6a1d_3c1e_5b7f_4f0a_9c2e_8d41_77b0_c0de);

/// The command id the gateway derives: the member, the route as the handler sees it (below
/// `/api/v1`) and the key.
pub fn command_id(member: &str, method: &Method, path: &str, key: &str) -> Uuid {
    let name = format!("{member}\n{method} {path}\n{key}");
    Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, name.as_bytes())
}

/// What became of one command, as its client saw it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub service: &'static str,
    pub command: &'static str,
    pub command_id: Uuid,
    /// The final answer's status; `None` when every attempt went unanswered.
    pub status: Option<u16>,
    pub attempts: u32,
    /// Whether an answer named an id that differs from the derived one.
    pub id_mismatch: bool,
}

/// Every command sent, in the order the answers came.
#[derive(Debug, Default)]
pub struct Journal {
    sent: Mutex<Vec<Sent>>,
}

impl Journal {
    fn record(&self, sent: Sent) -> Result<()> {
        self.sent
            .lock()
            .map_err(|_| anyhow::anyhow!("a client panicked"))?
            .push(sent);
        Ok(())
    }

    pub fn entries(&self) -> Result<Vec<Sent>> {
        Ok(self
            .sent
            .lock()
            .map_err(|_| anyhow::anyhow!("a client panicked"))?
            .clone())
    }
}

/// What the clients share: the gateway, the journal, and the places anyone added.
pub struct Shared {
    client: Client,
    api: String,
    pub journal: Journal,
    places: Mutex<Vec<String>>,
}

impl Shared {
    pub fn new(gateway: &str) -> Result<Self> {
        Ok(Self {
            client: Client::builder().timeout(REQUEST_TIMEOUT).build()?,
            api: format!("{gateway}/api/v1"),
            journal: Journal::default(),
            places: Mutex::new(Vec::new()),
        })
    }

    fn add_place(&self, place: String) -> Result<()> {
        self.places
            .lock()
            .map_err(|_| anyhow::anyhow!("a client panicked"))?
            .push(place);
        Ok(())
    }

    fn any_place(&self, rng: &mut StdRng) -> Result<Option<String>> {
        let places = self
            .places
            .lock()
            .map_err(|_| anyhow::anyhow!("a client panicked"))?;
        Ok((!places.is_empty()).then(|| places[rng.random_range(0..places.len())].clone()))
    }
}

/// Runs `plan.clients` members for `plan.load_for`.
pub async fn run(shared: Arc<Shared>, plan: Plan, run_id: String) -> Result<()> {
    let until = Instant::now() + plan.load_for;
    let clients: Vec<_> = (0..plan.clients)
        .map(|n| {
            let shared = Arc::clone(&shared);
            let name = format!("{run_id}-{n}");
            tokio::spawn(async move {
                let mut member = Member::register(&shared, name).await?;
                while Instant::now() < until {
                    member.act(&shared).await?;
                    tokio::time::sleep(plan.pause).await;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for client in clients {
        client.await??;
    }
    Ok(())
}

/// One command as a request.
struct Request {
    service: &'static str,
    command: &'static str,
    method: Method,
    /// Below `/api/v1`.
    path: String,
    body: Option<Value>,
    /// The answer's field that names the new thing by the command's id, if any.
    names_id: Option<&'static str>,
}

/// A signed-in member and what they have made.
struct Member {
    id: String,
    authorization: String,
    rng: StdRng,
    places: Vec<String>,
    reviews: Vec<String>,
    reviewed: Vec<String>,
    rated: Vec<String>,
    nickname_changes: u32,
}

impl Member {
    /// Registers, retrying with the same key until the members service has answered.
    async fn register(shared: &Shared, name: String) -> Result<Self> {
        let request = Request {
            service: "members",
            command: "Register",
            method: Method::POST,
            path: "/auth/register".to_owned(),
            body: Some(json!({
                "email": format!("chaos-{name}@example.com"),
                "password": format!("chaos-password-{name}"),
                "nickname": format!("chaos {name}"),
            })),
            names_id: Some("member_id"),
        };
        let key = Uuid::new_v4().to_string();
        let started = Instant::now();
        loop {
            let (status, body) = send(shared, &request, "", None, &key).await?;
            if status == Some(StatusCode::CREATED.as_u16()) {
                let field = |name: &str| {
                    body[name]
                        .as_str()
                        .map(str::to_owned)
                        .with_context(|| format!("no {name} in a registration's answer"))
                };
                return Ok(Self {
                    id: field("member_id")?,
                    authorization: format!("Bearer {}", field("access_token")?),
                    rng: StdRng::from_os_rng(),
                    places: Vec::new(),
                    reviews: Vec::new(),
                    reviewed: Vec::new(),
                    rated: Vec::new(),
                    nickname_changes: 0,
                });
            }
            // Only accepted (202): asking again with the same key gets the stored outcome.
            if started.elapsed() > RETRY_FOR {
                bail!("registering {name} was answered {status:?} for {RETRY_FOR:?}");
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// One command, chosen at random among what this member can do now.
    async fn act(&mut self, shared: &Shared) -> Result<()> {
        let roll = self.rng.random_range(0..100);
        let request = match roll {
            0..10 => self.add_place(),
            10..15 => self.pick_own_place().map(|place| Request {
                service: "places",
                command: "UpdatePlace",
                method: Method::PATCH,
                path: format!("/places/{place}"),
                body: Some(json!({ "description": format!("Updated at roll {roll}.") })),
                names_id: None,
            }),
            15..17 => self.close_place(),
            17..47 => self.write_review(shared)?,
            47..57 => self.pick_own_review().map(|review| Request {
                service: "reviews",
                command: "EditReview",
                method: Method::PATCH,
                path: format!("/reviews/{review}"),
                body: Some(json!({
                    "title": "Better on a second visit",
                    "body": "They fixed the draught by the door; the soup is still great.",
                })),
                names_id: None,
            }),
            57..62 => self.delete_review(),
            62..87 => self.rate(shared)?,
            87..92 => self.remove_rating(),
            _ => Some(self.change_nickname()),
        };
        // Nothing of that kind to do yet: adding a place always is.
        let request = match request {
            Some(request) => request,
            None => self
                .add_place()
                .context("adding a place is always possible")?,
        };
        let key = Uuid::new_v4().to_string();
        let command_id = command_id(&self.id, &request.method, &request.path, &key);
        let (status, _) = send(shared, &request, &self.id, Some(&self.authorization), &key).await?;
        if status.is_some_and(|status| status < 300) {
            self.remember(shared, &request, command_id)?;
        }
        Ok(())
    }

    fn add_place(&mut self) -> Option<Request> {
        Some(Request {
            service: "places",
            command: "AddPlace",
            method: Method::POST,
            path: "/places".to_owned(),
            body: Some(json!({
                "name": format!("Chaos Café {}", self.rng.random_range(0..1_000_000)),
                "category": "cafe",
                "address": "1 Fault Line",
            })),
            names_id: Some("place_id"),
        })
    }

    fn close_place(&mut self) -> Option<Request> {
        let place = self.take_random(|member| &mut member.places)?;
        Some(Request {
            service: "places",
            command: "ClosePlace",
            method: Method::DELETE,
            path: format!("/places/{place}"),
            body: None,
            names_id: None,
        })
    }

    fn write_review(&mut self, shared: &Shared) -> Result<Option<Request>> {
        let Some(place) = shared.any_place(&mut self.rng)? else {
            return Ok(None);
        };
        if self.reviewed.contains(&place) {
            return Ok(None);
        }
        Ok(Some(Request {
            service: "reviews",
            command: "WriteReview",
            method: Method::POST,
            path: format!("/places/{place}/reviews"),
            body: Some(json!({
                "title": "Worth the detour",
                "body": "Friendly staff, fair prices, and a terrace in the sun.",
            })),
            names_id: Some("review_id"),
        }))
    }

    fn delete_review(&mut self) -> Option<Request> {
        let review = self.take_random(|member| &mut member.reviews)?;
        Some(Request {
            service: "reviews",
            command: "DeleteReview",
            method: Method::DELETE,
            path: format!("/reviews/{review}"),
            body: None,
            names_id: None,
        })
    }

    fn rate(&mut self, shared: &Shared) -> Result<Option<Request>> {
        Ok(shared.any_place(&mut self.rng)?.map(|place| Request {
            service: "ratings",
            command: "RatePlace",
            method: Method::PUT,
            path: format!("/places/{place}/rating"),
            body: Some(json!({ "stars": self.rng.random_range(1..=5) })),
            names_id: None,
        }))
    }

    fn remove_rating(&mut self) -> Option<Request> {
        let place = self.take_random(|member| &mut member.rated)?;
        Some(Request {
            service: "ratings",
            command: "RemoveRating",
            method: Method::DELETE,
            path: format!("/places/{place}/rating"),
            body: None,
            names_id: None,
        })
    }

    fn change_nickname(&mut self) -> Request {
        self.nickname_changes += 1;
        Request {
            service: "members",
            command: "ChangeNickname",
            method: Method::PATCH,
            path: "/members/me".to_owned(),
            body: Some(json!({ "nickname": format!("chaos n{}", self.nickname_changes) })),
            names_id: None,
        }
    }

    fn pick_own_place(&mut self) -> Option<String> {
        let places = &self.places;
        (!places.is_empty()).then(|| places[self.rng.random_range(0..places.len())].clone())
    }

    fn pick_own_review(&mut self) -> Option<String> {
        let reviews = &self.reviews;
        (!reviews.is_empty()).then(|| reviews[self.rng.random_range(0..reviews.len())].clone())
    }

    fn take_random(&mut self, list: impl Fn(&mut Self) -> &mut Vec<String>) -> Option<String> {
        let len = list(self).len();
        if len == 0 {
            return None;
        }
        let index = self.rng.random_range(0..len);
        Some(list(self).swap_remove(index))
    }

    /// What a command that was applied (or queued) made, for the member's later commands.
    fn remember(&mut self, shared: &Shared, request: &Request, command_id: Uuid) -> Result<()> {
        let id = command_id.to_string();
        match request.command {
            "AddPlace" => {
                self.places.push(id.clone());
                shared.add_place(id)?;
            }
            "WriteReview" => {
                self.reviews.push(id);
                if let Some(place) = request
                    .path
                    .strip_prefix("/places/")
                    .and_then(|rest| rest.strip_suffix("/reviews"))
                {
                    self.reviewed.push(place.to_owned());
                }
            }
            "RatePlace" => {
                if let Some(place) = request
                    .path
                    .strip_prefix("/places/")
                    .and_then(|rest| rest.strip_suffix("/rating"))
                {
                    self.rated.push(place.to_owned());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Sends `request` with `key` until it is answered or [`RETRY_FOR`] has passed; records it in
/// the journal; returns the final status (`None`: never answered) and body.
async fn send(
    shared: &Shared,
    request: &Request,
    member: &str,
    authorization: Option<&str>,
    key: &str,
) -> Result<(Option<u16>, Value)> {
    let command_id = command_id(member, &request.method, &request.path, key);
    let url = format!("{}{}", shared.api, request.path);
    let started = Instant::now();
    let mut attempts = 0;
    let (status, body) = loop {
        attempts += 1;
        let mut http = shared
            .client
            .request(request.method.clone(), &url)
            .header("Idempotency-Key", key);
        if let Some(authorization) = authorization {
            http = http.header("Authorization", authorization);
        }
        if let Some(body) = &request.body {
            http = http.json(body);
        }
        let answer = match http.send().await {
            Ok(response) if !retried(response.status()) => {
                let status = response.status().as_u16();
                Some((status, response.json().await.unwrap_or(Value::Null)))
            }
            // No answer, or the gateway says to come back: the same key again later.
            _ => None,
        };
        if let Some(answer) = answer {
            break (Some(answer.0), answer.1);
        }
        if started.elapsed() > RETRY_FOR {
            break (None, Value::Null);
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    };
    let named = match status {
        Some(202) => body["command_id"].as_str(),
        Some(201) => request.names_id.and_then(|field| body[field].as_str()),
        _ => None,
    };
    let id_mismatch = named.is_some_and(|named| named != command_id.to_string());
    shared.journal.record(Sent {
        service: request.service,
        command: request.command,
        command_id,
        status,
        attempts,
        id_mismatch,
    })?;
    Ok((status, body))
}

/// The answers that mean "not now": the gateway could not publish the command (the broker is
/// away) or an upstream hop failed.
fn retried(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_one_command_per_member_and_route() {
        let first = command_id("m1", &Method::POST, "/places", "k");
        assert_eq!(first, command_id("m1", &Method::POST, "/places", "k"));
        assert_ne!(first, command_id("m2", &Method::POST, "/places", "k"));
        assert_ne!(first, command_id("m1", &Method::PUT, "/places", "k"));
        assert_ne!(first, command_id("m1", &Method::POST, "/places", "k2"));
    }
}
