//! The load the whole-system suites (`bench system`, `bench standalone`) send through the
//! gateway over HTTP, as clients would: [`MEMBERS`] members and [`PLACES`] places registered
//! and added first, then reviews and ratings on (member, place) pairs of their own, reads of a
//! place's detail and of its reviews, and more registrations and places on demand.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::system::{RunNames, settle};

pub const MEMBERS: usize = 100;
pub const PLACES: usize = 600;
/// Registrations at once: each hashes a password with argon2id, whose memory would otherwise
/// inflate the members service's resident set for the rest of the run.
const REGISTERING: usize = 2;
const ADDING_PLACES: usize = 16;
/// Between two reads of a review that is not visible yet.
const READ_POLL: Duration = Duration::from_millis(1);
const VISIBLE_DEADLINE: Duration = Duration::from_secs(10);
const SEED_DEADLINE: Duration = Duration::from_secs(60);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The members, places and counters the load draws from.
#[derive(Debug)]
pub struct Load {
    client: Client,
    /// `http://<gateway>/api/v1`.
    api: String,
    /// The run's id, which makes the members' emails unique.
    id: String,
    /// `Bearer <token>` of each member.
    members: Vec<String>,
    places: Vec<String>,
    /// The next (member, place) pair to review, and to rate.
    next_review: AtomicUsize,
    next_rating: AtomicUsize,
    /// Milliseconds from a review's 201 to its first successful read.
    visible_ms: Mutex<Vec<f64>>,
    /// Writes only accepted (202).
    accepted_reviews: AtomicUsize,
    accepted_ratings: AtomicUsize,
}

impl Load {
    /// Registers the members and adds the places through the API at `api`, then waits until
    /// the reviews and ratings services of the run `names` know them all.
    pub async fn seed(api: String, names: &RunNames) -> Result<Self> {
        let client = Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        eprintln!("registering {MEMBERS} members and adding {PLACES} places…");
        let id = names.id().to_owned();
        let members: Vec<String> = futures::stream::iter(0..MEMBERS)
            .map(|n| register(&client, &api, format!("{id}-{n}")))
            .buffered(REGISTERING)
            .try_collect()
            .await?;
        let places: Vec<String> = futures::stream::iter(0..PLACES)
            .map(|n| add_place(&client, &api, &members[0], n))
            .buffered(ADDING_PLACES)
            .try_collect()
            .await?;
        for service in ["reviews", "ratings"] {
            known(names, service, "known_members", MEMBERS).await?;
            known(names, service, "known_places", PLACES).await?;
        }
        Ok(Self {
            client,
            api,
            id,
            members,
            places,
            next_review: AtomicUsize::new(0),
            next_rating: AtomicUsize::new(0),
            visible_ms: Mutex::new(Vec::new()),
            accepted_reviews: AtomicUsize::new(0),
            accepted_ratings: AtomicUsize::new(0),
        })
    }

    /// Writes that were only accepted (202), reviews and ratings together.
    pub fn accepted_writes(&self) -> usize {
        self.accepted_reviews.load(Ordering::Relaxed)
            + self.accepted_ratings.load(Ordering::Relaxed)
    }

    /// The `n`th (member, place) pair: consecutive pairs are different members.
    fn pair(&self, n: usize) -> Option<(&str, &str)> {
        let (member, place) = (n % self.members.len(), n / self.members.len());
        Some((&self.members[member], self.places.get(place)?))
    }

    /// One review answered 201, on a pair of its own: 1, or 0 when the pairs ran out. A review
    /// only accepted (202) is counted apart and another one written in its place, so the rate
    /// counts applied reviews while the time spent on the 202 still counts.
    pub async fn write_review(&self) -> Result<u64> {
        loop {
            match self.post_review().await? {
                Written::Created(_) => return Ok(1),
                Written::Accepted => {}
                Written::Exhausted => return Ok(0),
            }
        }
    }

    pub async fn post_review(&self) -> Result<Written> {
        let n = self.next_review.fetch_add(1, Ordering::Relaxed);
        let Some((member, place)) = self.pair(n) else {
            return Ok(Written::Exhausted);
        };
        let response = self
            .client
            .post(format!("{}/places/{place}/reviews", self.api))
            .header("Authorization", member)
            .json(&json!({
                "title": "Quiet mornings, loud evenings",
                "body": "The espresso is excellent and the staff remember your order.",
            }))
            .send()
            .await?;
        let Some(body) = answer(response, StatusCode::CREATED, "a review").await? else {
            self.accepted_reviews.fetch_add(1, Ordering::Relaxed);
            return Ok(Written::Accepted);
        };
        body["review_id"]
            .as_str()
            .map(|id| Written::Created(id.to_owned()))
            .context("the answer to a review has no review_id")
    }

    /// One rating applied (204) on a pair of its own, as [`Load::write_review`] counts.
    pub async fn rate_place(&self) -> Result<u64> {
        loop {
            let n = self.next_rating.fetch_add(1, Ordering::Relaxed);
            let Some((member, place)) = self.pair(n) else {
                return Ok(0);
            };
            let response = self
                .client
                .put(format!("{}/places/{place}/rating", self.api))
                .header("Authorization", member)
                .json(&json!({ "stars": n % 5 + 1 }))
                .send()
                .await?;
            match answer(response, StatusCode::NO_CONTENT, "a rating").await? {
                Some(_) => return Ok(1),
                None => self.accepted_ratings.fetch_add(1, Ordering::Relaxed),
            };
        }
    }

    /// Writes a review, then reads it until it is there, without a consistency token and
    /// without a session (whose own writes the gateway would wait for), and records the time
    /// from the write's answer to the first successful read.
    pub async fn write_then_read(&self) -> Result<u64> {
        let review_id = loop {
            match self.post_review().await? {
                Written::Created(review_id) => break review_id,
                Written::Accepted => {}
                Written::Exhausted => return Ok(0),
            }
        };
        let written = Instant::now();
        let url = format!("{}/reviews/{review_id}", self.api);
        loop {
            let status = self.client.get(&url).send().await?.status();
            match status {
                StatusCode::OK => break,
                StatusCode::NOT_FOUND if written.elapsed() < VISIBLE_DEADLINE => {
                    tokio::time::sleep(READ_POLL).await;
                }
                _ => bail!("reading review {review_id} answered {status}"),
            }
        }
        let visible = written.elapsed().as_secs_f64() * 1_000.0;
        self.visible_ms
            .lock()
            .map_err(|_| anyhow::anyhow!("a reader panicked"))?
            .push(visible);
        Ok(1)
    }

    /// The write-to-read times recorded so far, sorted.
    pub fn visible_ms(&self) -> Result<Vec<f64>> {
        let mut visible = self
            .visible_ms
            .lock()
            .map_err(|_| anyhow::anyhow!("a reader panicked"))?
            .clone();
        visible.sort_by(f64::total_cmp);
        Ok(visible)
    }

    /// `GET /places/{id}` of the `n`th place, as the `n`th member.
    pub async fn place_detail(&self, n: usize) -> Result<u64> {
        self.read(&format!("/places/{}", self.place(n)), n, "a place's detail")
            .await
    }

    /// `GET /places/{id}/reviews` of the `n`th place, as the `n`th member.
    pub async fn place_reviews(&self, n: usize) -> Result<u64> {
        let path = format!("/places/{}/reviews", self.place(n));
        self.read(&path, n, "a place's reviews").await
    }

    fn place(&self, n: usize) -> &str {
        &self.places[n % self.places.len()]
    }

    /// One query answered 200, read to its end.
    async fn read(&self, path: &str, n: usize, what: &str) -> Result<u64> {
        let response = self
            .client
            .get(format!("{}{path}", self.api))
            .header("Authorization", &self.members[n % self.members.len()])
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            bail!("{what} was answered {}", response.status());
        }
        response.bytes().await?;
        Ok(1)
    }

    /// Registers one more member (an argon2id hash), the `n`th beyond the seeded ones.
    pub async fn register_another(&self, n: usize) -> Result<u64> {
        register(&self.client, &self.api, format!("{}-more-{n}", self.id)).await?;
        Ok(1)
    }

    /// Adds one more place, the `n`th beyond the seeded ones, as the `n`th member.
    pub async fn add_another_place(&self, n: usize) -> Result<u64> {
        let member = &self.members[n % self.members.len()];
        add_place(&self.client, &self.api, member, PLACES + n).await?;
        Ok(1)
    }
}

/// What became of one write of the load.
#[derive(Debug)]
pub enum Written {
    /// Applied; the new review's id.
    Created(String),
    /// Only accepted (202): the service did not answer within the gateway's reply timeout.
    Accepted,
    /// No (member, place) pair left.
    Exhausted,
}

/// The body of an `expected` answer, `None` for a 202; anything else fails the bench.
async fn answer(
    response: reqwest::Response,
    expected: StatusCode,
    what: &str,
) -> Result<Option<Value>> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    match status {
        StatusCode::ACCEPTED => Ok(None),
        status if status == expected => Ok(Some(body)),
        _ => bail!("{what} was answered {status}: {body}"),
    }
}

/// The body of the 201 to `request`, sent with an `Idempotency-Key` and sent again with it
/// while only accepted (202), so that it runs once and is applied before the caller goes on.
async fn created(request: reqwest::RequestBuilder, what: &str) -> Result<Value> {
    let key = uuid::Uuid::new_v4().to_string();
    let started = Instant::now();
    loop {
        let attempt = request
            .try_clone()
            .context("a request without a body to repeat")?
            .header("Idempotency-Key", &key);
        if let Some(body) = answer(attempt.send().await?, StatusCode::CREATED, what).await? {
            return Ok(body);
        }
        if started.elapsed() > SEED_DEADLINE {
            bail!("{what} was still only accepted (202) after {SEED_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers a member; its `Authorization` header.
async fn register(client: &Client, api: &str, name: String) -> Result<String> {
    let request = client.post(format!("{api}/auth/register")).json(&json!({
        "email": format!("bench-{name}@example.com"),
        "password": format!("bench-password-{name}"),
        "nickname": format!("bench {name}"),
    }));
    let body = created(request, "a registration").await?;
    let token = body["access_token"]
        .as_str()
        .context("the registration answer has no access_token")?;
    Ok(format!("Bearer {token}"))
}

async fn add_place(client: &Client, api: &str, member: &str, n: usize) -> Result<String> {
    let request = client
        .post(format!("{api}/places"))
        .header("Authorization", member)
        .json(&json!({
            "name": format!("Bench Café {n}"),
            "category": "cafe",
            "address": format!("{n} Loopback Lane"),
        }));
    let body = created(request, "a place").await?;
    body["place_id"]
        .as_str()
        .map(str::to_owned)
        .context("the answer to a place has no place_id")
}

/// Waits until `service`'s local copy `table` holds `count` rows.
async fn known(names: &RunNames, service: &str, table: &str, count: usize) -> Result<()> {
    let pool = settle::connect(names, service).await?;
    let started = Instant::now();
    // The table is one of the two local-copy tables named by the caller.
    let statement = format!("SELECT count(*) FROM {table}");
    loop {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(statement.clone()))
            .fetch_one(&pool)
            .await?;
        if rows as usize >= count {
            break;
        }
        if started.elapsed() > SEED_DEADLINE {
            bail!("{service} knew {rows} of {count} rows of {table} after {SEED_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
    Ok(())
}
