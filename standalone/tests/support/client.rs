//! A client of the API, written as an application would write one: it signs up and in, sends
//! each command with an `Idempotency-Key`, follows a command answered 202 to its outcome, and
//! carries the consistency token of every write it made into its queries, so it reads its own
//! writes without waiting for anything else.
//!
//! The client checks the parts of the contract every answer keeps (a write's token, a 202's
//! `Location`), so every test that uses it checks them too.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use system_testkit::{Answer, Session, session_from};

use super::call;

/// How long the client waits for what happens in the background: a queued command running,
/// a read model catching up with a token.
pub const PATIENCE: Duration = Duration::from_secs(20);

const API_PREFIX: &str = "/api/v1";
const CONSISTENCY_HEADER: &str = "x-consistency-token";
const FRESHNESS_HEADER: &str = "waypoint-freshness";

/// The API of one running Waypoint.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    origin: String,
}

/// The longest one request may take.
const REQUEST_DEADLINE: Duration = Duration::from_secs(45);

impl Api {
    pub fn new(gateway: SocketAddr) -> Self {
        Self {
            // A redirect is part of an answer under test, not something to follow.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // Longer than any wait of the system's own (a command's reply wait is 30 s
                // here): a request still open after it is a hang, and fails the test instead.
                .timeout(REQUEST_DEADLINE)
                .build()
                .expect("an HTTP client"),
            origin: format!("http://{gateway}"),
        }
    }

    /// `path` under the API (`/places`), or a path the API handed out whole
    /// (`/api/v1/commands/...`).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with(API_PREFIX) {
            format!("{}{path}", self.origin)
        } else {
            format!("{}{API_PREFIX}{path}", self.origin)
        }
    }

    /// Anything the gateway serves outside the API (`/metrics`).
    pub fn outside_api(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Answer {
        call(self.request(Method::GET, path)).await
    }

    /// Registers a new member with fresh details, as `nickname`. A registration answered 202
    /// is followed until it ran, then the member logs in.
    pub async fn sign_up(&self, nickname: &str) -> Member {
        let suffix = testkit::unique_suffix();
        let email = format!("{nickname}-{suffix}@example.com");
        let password = format!("pw-{suffix}-long-enough");
        let registration = json!({ "email": email, "password": password, "nickname": nickname });
        let answer = call(
            self.request(Method::POST, "/auth/register")
                .json(&registration),
        )
        .await;
        let member = |session| Member {
            api: self.clone(),
            session,
            written: Mutex::default(),
        };
        match answer.status {
            StatusCode::CREATED => {
                let member = member(session_from(&answer, email, password));
                member.remember_answer(&answer);
                member
            }
            StatusCode::ACCEPTED => {
                let status = self.follow(&answer, None).await;
                assert_eq!(status["status"], "succeeded", "{status}");
                let login = self.log_in(&email, &password).await;
                assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
                let member = member(session_from(&login, email, password));
                member.remember_status(&status);
                member
            }
            _ => panic!("registering answered {}: {:?}", answer.status, answer.body),
        }
    }

    async fn log_in(&self, email: &str, password: &str) -> Answer {
        let credentials = json!({ "email": email, "password": password });
        call(self.request(Method::POST, "/auth/login").json(&credentials)).await
    }

    /// Follows a command answered 202 until it is no longer pending; its last status.
    pub async fn follow(&self, accepted: &Answer, bearer: Option<&str>) -> Value {
        assert_eq!(accepted.status, StatusCode::ACCEPTED, "{:?}", accepted.body);
        let command_id = accepted.body["command_id"]
            .as_str()
            .unwrap_or_else(|| panic!("`command_id` in {:?}", accepted.body));
        let location = accepted.header("location").unwrap_or_default();
        assert_eq!(location, format!("{API_PREFIX}/commands/{command_id}"));
        testkit::poll::until(&format!("command {command_id} to run"), PATIENCE, || {
            let mut request = self.request(Method::GET, location);
            if let Some(bearer) = bearer {
                request = request.bearer_auth(bearer);
            }
            async move {
                let status = call(request).await;
                assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
                (status.body["status"] != "pending").then_some(status.body)
            }
        })
        .await
    }
}

/// A command as the API takes it.
#[derive(Debug, Clone)]
pub struct Command {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl Command {
    pub fn add_place(name: &str) -> Self {
        Self::new(
            Method::POST,
            "/places".to_owned(),
            Some(json!({ "name": name, "category": "cafe", "address": "1 Quay Street" })),
        )
    }

    pub fn write_review(place_id: &str, title: &str, photo_ids: &[String]) -> Self {
        Self::new(
            Method::POST,
            format!("/places/{place_id}/reviews"),
            Some(json!({
                "title": title,
                "body": "Good coffee, a quiet corner, and the staff remember your order.",
                "photo_ids": photo_ids,
            })),
        )
    }

    pub fn rate(place_id: &str, stars: u8) -> Self {
        Self::new(
            Method::PUT,
            format!("/places/{place_id}/rating"),
            Some(json!({ "stars": stars })),
        )
    }

    pub fn change_nickname(nickname: &str) -> Self {
        Self::new(
            Method::PATCH,
            "/members/me".to_owned(),
            Some(json!({ "nickname": nickname })),
        )
    }

    pub fn close_place(place_id: &str) -> Self {
        Self::new(Method::DELETE, format!("/places/{place_id}"), None)
    }

    pub fn delete_review(review_id: &str) -> Self {
        Self::new(Method::DELETE, format!("/reviews/{review_id}"), None)
    }

    fn new(method: Method, path: String, body: Option<Value>) -> Self {
        Self { method, path, body }
    }
}

/// What came of a command that was applied.
#[derive(Debug)]
pub enum Outcome {
    /// Applied before the answer (201 or 204).
    Answered(Answer),
    /// Answered 202, then followed until it ran.
    Followed { command_id: String },
}

impl Outcome {
    /// The id of what the command created: `field` of the answer or, after a 202, the
    /// command's own id, which a new place or review takes.
    pub fn created(&self, field: &str) -> String {
        let id = match self {
            Self::Answered(answer) => answer.body[field].as_str(),
            Self::Followed { command_id, .. } => Some(command_id.as_str()),
        };
        id.unwrap_or_else(|| panic!("`{field}` in {self:?}"))
            .to_owned()
    }
}

/// A signed-in member, and the consistency tokens of what they wrote.
#[derive(Debug)]
pub struct Member {
    api: Api,
    pub session: Session,
    /// The latest token per source (`<source>.<xid>.<position>`): covering it covers the
    /// source's earlier writes, and a read model takes a handful of tokens at most.
    written: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl Member {
    pub fn id(&self) -> &str {
        &self.session.member_id
    }

    /// Logs in again: a new session, whose tokens replace the current ones when it opens.
    pub async fn log_in(&mut self) -> Answer {
        let answer = self
            .api
            .log_in(&self.session.email, &self.session.password)
            .await;
        if answer.status == StatusCode::OK {
            self.take_session(&answer);
        }
        answer
    }

    /// Trades `refresh_token` for a new pair, which replaces the current one when it comes.
    pub async fn refresh_with(&mut self, refresh_token: &str) -> Answer {
        let body = json!({ "refresh_token": refresh_token });
        let answer = call(self.api.request(Method::POST, "/auth/refresh").json(&body)).await;
        if answer.status == StatusCode::OK {
            self.take_session(&answer);
        }
        answer
    }

    pub async fn log_out(&self) -> Answer {
        call(self.authorized(Method::POST, "/auth/logout")).await
    }

    /// `GET path` as this member, once, without waiting for anything.
    pub async fn get_as_member(&self, path: &str) -> Answer {
        call(self.authorized(Method::GET, path)).await
    }

    fn take_session(&mut self, answer: &Answer) {
        let email = self.session.email.clone();
        let password = self.session.password.clone();
        self.session = session_from(answer, email, password);
    }

    fn authorized(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.api
            .request(method, path)
            .bearer_auth(&self.session.access_token)
    }

    /// Sends `command` once with a key of its own.
    pub async fn send(&self, command: &Command) -> Answer {
        self.send_keyed(command, &testkit::unique_suffix()).await
    }

    /// Sends `command` with `Idempotency-Key: key`: the same key again is the same command.
    pub async fn send_keyed(&self, command: &Command, key: &str) -> Answer {
        let mut request = self
            .authorized(command.method.clone(), &command.path)
            .header("idempotency-key", key);
        if let Some(body) = &command.body {
            request = request.json(body);
        }
        let answer = call(request).await;
        if answer.status.is_success() && answer.status != StatusCode::ACCEPTED {
            self.remember_answer(&answer);
        }
        answer
    }

    /// Sends `command` and, if it was queued (202), follows it until it ran; it must succeed.
    pub async fn apply(&self, command: &Command) -> Outcome {
        let answer = self.send(command).await;
        self.settle(answer).await
    }

    /// What came of a command answered `answer`: applied at once, or queued (202) and then
    /// followed until it ran; it must succeed.
    pub async fn settle(&self, answer: Answer) -> Outcome {
        match answer.status {
            StatusCode::ACCEPTED => self.follow(&answer).await,
            status if status.is_success() => Outcome::Answered(answer),
            status => panic!("a command answered {status}: {:?}", answer.body),
        }
    }

    /// Follows a command this member sent that was answered 202 until it succeeded.
    pub async fn follow(&self, accepted: &Answer) -> Outcome {
        let status = self
            .api
            .follow(accepted, Some(&self.session.access_token))
            .await;
        assert_eq!(status["status"], "succeeded", "{status}");
        self.remember_status(&status);
        Outcome::Followed {
            command_id: status["command_id"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// A write's answer carries its token: remembered for this member's next queries.
    fn remember_answer(&self, answer: &Answer) {
        let token = answer
            .header(CONSISTENCY_HEADER)
            .unwrap_or_else(|| panic!("a write answered without a token: {answer:?}"));
        self.remember(token);
    }

    /// A followed command's status carries its token once it succeeded.
    fn remember_status(&self, status: &Value) {
        let token = status["consistency_token"]
            .as_str()
            .unwrap_or_else(|| panic!("a succeeded command without a token: {status}"));
        self.remember(token);
    }

    pub fn remember(&self, token: &str) {
        let mut parts = token.rsplitn(3, '.');
        let (Some(position), Some(transaction), Some(source)) =
            (parts.next(), parts.next(), parts.next())
        else {
            panic!("not a consistency token: {token}");
        };
        let at = (
            transaction.parse().expect("a transaction id"),
            position.parse().expect("a position"),
        );
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        let latest = written.entry(source.to_owned()).or_insert(at);
        *latest = (*latest).max(at);
    }

    /// This member's tokens, as `X-Consistency-Token` takes them.
    pub fn tokens(&self) -> Option<String> {
        let written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        let tokens: Vec<String> = written
            .iter()
            .map(|(source, (transaction, position))| format!("{source}.{transaction}.{position}"))
            .collect();
        (!tokens.is_empty()).then(|| tokens.join(","))
    }

    /// `GET path` with this member's tokens, as anyone may ask it, once the read model has
    /// caught up with them (a read model waits a moment for a token, then answers `stale`; the
    /// client asks again).
    pub async fn read(&self, path: &str) -> Answer {
        let started = Instant::now();
        loop {
            let mut request = self.api.request(Method::GET, path);
            let tokens = self.tokens();
            if let Some(tokens) = &tokens {
                request = request.header(CONSISTENCY_HEADER, tokens);
            }
            let answer = call(request).await;
            let fresh = answer.header(FRESHNESS_HEADER) == Some("fresh");
            if answer.status == StatusCode::OK && fresh {
                return answer;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{path} with {tokens:?} did not answer fresh within {PATIENCE:?}; last: {answer:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Adds a place; its id.
    pub async fn add_place(&self, name: &str) -> String {
        let added = self.apply(&Command::add_place(name)).await;
        added.created("place_id")
    }

    /// Uploads a PNG; the photo's id.
    pub async fn upload_photo(&self, png: Vec<u8>) -> String {
        let request = self
            .authorized(Method::POST, "/photos")
            .header("content-type", "image/png")
            .body(png);
        let answer = call(request).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["photo_id"]
            .as_str()
            .unwrap_or_else(|| panic!("`photo_id` in {:?}", answer.body))
            .to_owned()
    }

    /// Reviews a place; the review's id.
    pub async fn write_review(&self, place_id: &str, title: &str, photo_ids: &[String]) -> String {
        let written = self
            .apply(&Command::write_review(place_id, title, photo_ids))
            .await;
        written.created("review_id")
    }

    pub async fn rate(&self, place_id: &str, stars: u8) {
        self.apply(&Command::rate(place_id, stars)).await;
    }
}
