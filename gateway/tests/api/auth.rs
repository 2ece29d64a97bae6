//! Authentication: access tokens and every way one is refused, JWKS and key rotation,
//! sessions ended by logout, password change and deactivation, refresh rotation and reuse,
//! login throttling. Only the members service runs: every command here is one of its own.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use gateway::GatewaySettings;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Answer, Service, Session, TestApp, session_from};

/// The gateway and the members service, with `change` applied to the gateway's settings.
async fn app_with(change: impl FnOnce(&mut GatewaySettings)) -> TestApp {
    let mut app = TestApp::new().await;
    change(&mut app.settings);
    app.start_service(Service::Members).await;
    app.start_gateway().await;
    app
}

fn new_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

fn pem_of(key: &SigningKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

/// A gateway signing with `key`, so the test can sign tokens the gateway would accept, and a
/// member signed in to it.
async fn signed_in_with(key: &SigningKey) -> (TestApp, Session) {
    let pem = pem_of(key);
    let app = app_with(|settings| settings.auth.signing_keys = vec![pem]).await;
    let session = app.register().await;
    (app, session)
}

/// A route that needs a member; 204 with a good token.
async fn change_nickname(app: &TestApp, token: &str) -> Answer {
    app.call(
        Method::PATCH,
        "/api/v1/members/me",
        Some(token),
        Some(json!({"nickname": "renamed"})),
    )
    .await
}

/// The one refusal every bad token gets.
async fn assert_refused(app: &TestApp, token: &str) {
    let answer = change_nickname(app, token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
    assert_eq!(answer.code(), "unauthenticated");
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );
}

async fn login(app: &TestApp, email: &str, password: &str) -> Answer {
    app.call(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// Signs in again as `session`'s member: a second session.
async fn login_again(app: &TestApp, session: &Session) -> Session {
    let answer = login(app, &session.email, &session.password).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    session_from(&answer, session.email.clone(), session.password.clone())
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Answer {
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
    )
    .await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The parts of a JWT, decoded where they are JSON.
fn parts(token: &str) -> (Value, Value, String) {
    let mut parts = token.split('.');
    let mut json_part = || -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    let header = json_part();
    let claims = json_part();
    (header, claims, parts.next().unwrap().to_owned())
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// `claims` signed with `key` as EdDSA, naming the key `kid`.
fn sign(claims: &Value, key: &SigningKey, kid: &str) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    let der = key.to_pkcs8_der().unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).unwrap()
}

/// A token for the signed-in member with `change` applied to its claims, signed with the
/// gateway's own key: only what `change` did can make it fail.
fn resigned(session: &Session, key: &SigningKey, change: impl FnOnce(&mut Value)) -> String {
    let (header, mut claims, _) = parts(&session.access_token);
    change(&mut claims);
    sign(&claims, key, header["kid"].as_str().unwrap())
}

#[tokio::test]
async fn a_registered_member_uses_the_access_token_and_a_resigned_copy_of_it() {
    let key = new_key();
    let (app, session) = signed_in_with(&key).await;

    let answer = change_nickname(&app, &session.access_token).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    // The control for the refusals below: the same claims signed by the test are accepted.
    let copy = resigned(&session, &key, |_| {});
    let answer = change_nickname(&app, &copy).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);

    let (header, claims, _) = parts(&session.access_token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["sub"], session.member_id.as_str());
    for claim in ["sid", "roles", "iss", "aud", "exp", "nbf", "iat", "jti"] {
        assert!(!claims[claim].is_null(), "no `{claim}` in {claims}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    app.finish().await;
}

#[tokio::test]
async fn a_request_without_a_token_is_anonymous_and_a_member_route_refuses_it() {
    let app = app_with(|_| {}).await;

    let answer = app
        .call(
            Method::PATCH,
            "/api/v1/members/me",
            None,
            Some(json!({"nickname": "renamed"})),
        )
        .await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.header("www-authenticate").is_some());
    app.finish().await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (app, session) = signed_in_with(&new_key()).await;
    let (header, claims, _) = parts(&session.access_token);

    let unsigned = format!(
        "{}.{}.",
        encode_part(&json!({"alg": "none", "typ": "JWT", "kid": header["kid"]})),
        encode_part(&claims)
    );

    assert_refused(&app, &unsigned).await;
    app.finish().await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let (app, session) = signed_in_with(&new_key()).await;
    let (header, claims, _) = parts(&session.access_token);
    let jwks = app.get("/.well-known/jwks.json", None).await;
    let public_key = URL_SAFE_NO_PAD
        .decode(jwks.body["keys"][0]["x"].as_str().unwrap())
        .unwrap();

    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = header["kid"].as_str().map(str::to_owned);
    let forged =
        jsonwebtoken::encode(&hs256, &claims, &EncodingKey::from_secret(&public_key)).unwrap();

    assert_refused(&app, &forged).await;
    app.finish().await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let key = new_key();
    let (app, session) = signed_in_with(&key).await;

    let expired = resigned(&session, &key, |claims| {
        claims["iat"] = json!(now() - 720);
        claims["nbf"] = json!(now() - 720);
        claims["exp"] = json!(now() - 120);
    });

    assert_refused(&app, &expired).await;
    app.finish().await;
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let key = new_key();
    let (app, session) = signed_in_with(&key).await;

    let early = resigned(&session, &key, |claims| {
        claims["nbf"] = json!(now() + 120);
        claims["exp"] = json!(now() + 720);
    });

    assert_refused(&app, &early).await;
    app.finish().await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let key = new_key();
    let (app, session) = signed_in_with(&key).await;

    let foreign = resigned(&session, &key, |claims| claims["iss"] = json!("elsewhere"));

    assert_refused(&app, &foreign).await;
    app.finish().await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let key = new_key();
    let (app, session) = signed_in_with(&key).await;

    let foreign = resigned(&session, &key, |claims| {
        claims["aud"] = json!("another-api")
    });

    assert_refused(&app, &foreign).await;
    app.finish().await;
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    let (app, session) = signed_in_with(&new_key()).await;
    let (_, claims, _) = parts(&session.access_token);

    let foreign = sign(&claims, &new_key(), "not-one-of-ours");

    assert_refused(&app, &foreign).await;
    app.finish().await;
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let (app, session) = signed_in_with(&new_key()).await;
    let (header, mut claims, signature) = parts(&session.access_token);

    claims["roles"] = json!(["member", "admin"]);
    let tampered = format!(
        "{}.{}.{signature}",
        encode_part(&header),
        encode_part(&claims)
    );

    assert_refused(&app, &tampered).await;
    app.finish().await;
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let (app, session) = signed_in_with(&new_key()).await;
    let (header, claims, signature) = parts(&session.access_token);

    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[10] ^= 0x01;
    let tampered = format!(
        "{}.{}.{}",
        encode_part(&header),
        encode_part(&claims),
        URL_SAFE_NO_PAD.encode(bytes)
    );

    assert_refused(&app, &tampered).await;
    app.finish().await;
}

#[tokio::test]
async fn a_token_of_a_session_that_logged_out_is_refused() {
    let (app, session) = signed_in_with(&new_key()).await;

    let logout = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&session.access_token),
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{:?}", logout.body);

    assert_refused(&app, &session.access_token).await;
    assert_eq!(
        refresh(&app, &session.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.finish().await;
}

#[tokio::test]
async fn the_jwks_publishes_the_key_that_verifies_a_real_token() {
    let app = app_with(|_| {}).await;
    let session = app.register().await;

    let jwks = app.get("/.well-known/jwks.json", None).await;

    assert_eq!(jwks.status, StatusCode::OK);
    let (header, _, _) = parts(&session.access_token);
    let kid = header["kid"].as_str().unwrap();
    let keys = jwks.body["keys"].as_array().unwrap();
    let jwk = keys.iter().find(|key| key["kid"] == kid).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    let key = DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["waypoint"]);
    validation.set_audience(&["waypoint-api"]);
    let verified = jsonwebtoken::decode::<Value>(&session.access_token, &key, &validation).unwrap();
    assert_eq!(verified.claims["sub"], session.member_id.as_str());
    app.finish().await;
}

#[tokio::test]
async fn during_key_rotation_both_keys_verify_and_the_first_signs() {
    let (newer, older) = (new_key(), new_key());
    let pems = vec![pem_of(&newer), pem_of(&older)];
    let app = app_with(|settings| settings.auth.signing_keys = pems).await;
    let session = app.register().await;

    let jwks = app.get("/.well-known/jwks.json", None).await;
    let kids: Vec<&str> = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    let (header, claims, _) = parts(&session.access_token);
    assert_eq!(
        header["kid"], kids[0],
        "new tokens are signed by the first key"
    );

    let by_older = sign(&claims, &older, kids[1]);
    let answer = change_nickname(&app, &by_older).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    app.finish().await;
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_member() {
    let app = app_with(|_| {}).await;
    let first = app.register().await;
    let second = login_again(&app, &first).await;
    let third = login_again(&app, &first).await;

    let answer = app
        .call(
            Method::POST,
            "/api/v1/auth/logout-all",
            Some(&third.access_token),
            None,
        )
        .await;

    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    for session in [&first, &second, &third] {
        assert_refused(&app, &session.access_token).await;
        let refreshed = refresh(&app, &session.refresh_token).await;
        assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    }
    app.finish().await;
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_but_not_this_one() {
    let app = app_with(|_| {}).await;
    let current = app.register().await;
    let other = login_again(&app, &current).await;

    let answer = app
        .call(
            Method::PUT,
            "/api/v1/members/me/password",
            Some(&current.access_token),
            Some(json!({
                "current_password": current.password,
                "new_password": "a-new-password-long-enough",
            })),
        )
        .await;

    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    assert_refused(&app, &other.access_token).await;
    let answer = change_nickname(&app, &current.access_token).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    app.finish().await;
}

#[tokio::test]
async fn deactivation_ends_every_session() {
    let app = app_with(|_| {}).await;
    let current = app.register().await;
    let other = login_again(&app, &current).await;

    let answer = app
        .call(
            Method::DELETE,
            "/api/v1/members/me",
            Some(&current.access_token),
            None,
        )
        .await;

    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
    assert_refused(&app, &current.access_token).await;
    assert_refused(&app, &other.access_token).await;
    app.finish().await;
}

#[tokio::test]
async fn a_refresh_rotates_and_reusing_the_old_token_revokes_the_session() {
    let app = app_with(|settings| settings.auth.refresh_grace_s = 0).await;
    let session = app.register().await;

    let refreshed = refresh(&app, &session.refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    let next = session_from(&refreshed, session.email.clone(), session.password.clone());
    assert_ne!(next.refresh_token, session.refresh_token);
    assert_eq!(next.member_id, session.member_id);
    assert_eq!(refreshed.body["expires_in"], 600);
    let answer = change_nickname(&app, &next.access_token).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);

    // The rotated token again, past the grace window: someone else holds the chain.
    let reused = refresh(&app, &session.refresh_token).await;

    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "{:?}", reused.body);
    assert_refused(&app, &next.access_token).await;
    assert_refused(&app, &session.access_token).await;
    let successor = refresh(&app, &next.refresh_token).await;
    assert_eq!(successor.status, StatusCode::UNAUTHORIZED);
    app.finish().await;
}

#[tokio::test]
async fn two_refreshes_at_once_within_the_grace_window_get_the_same_pair() {
    let app = app_with(|settings| settings.auth.refresh_grace_s = 30).await;
    let session = app.register().await;

    let (first, second) = tokio::join!(
        refresh(&app, &session.refresh_token),
        refresh(&app, &session.refresh_token)
    );

    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(first.body["refresh_token"], second.body["refresh_token"]);
    for answer in [&first, &second] {
        let token = answer.body["access_token"].as_str().unwrap();
        let changed = change_nickname(&app, token).await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{:?}", changed.body);
    }
    // The shared successor is the session's one current token.
    let next = refresh(&app, first.body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    app.finish().await;
}

#[tokio::test]
async fn a_refresh_token_that_is_not_ours_is_refused() {
    let app = app_with(|_| {}).await;

    for token in ["", "not-a-token", &URL_SAFE_NO_PAD.encode([7u8; 32])] {
        let answer = refresh(&app, token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(answer.code(), "unauthenticated");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = app_with(|_| {}).await;
    let session = app.register().await;

    let wrong_password = login(&app, &session.email, "not-the-password").await;
    let unknown_email = login(&app, "nobody-here@example.com", "not-the-password").await;

    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.status, unknown_email.status);
    assert_eq!(wrong_password.body, unknown_email.body);
    app.finish().await;
}

#[tokio::test]
async fn too_many_failures_lock_the_account_out() {
    let app = app_with(|settings| {
        settings.auth.login_throttle.max_failures_per_account = 3;
        settings.auth.login_throttle.max_failures_per_ip = 100;
        settings.auth.login_throttle.lockout_s = 120;
    })
    .await;
    let session = app.register().await;

    for _ in 0..3 {
        let answer = login(&app, &session.email, "not-the-password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Locked out even with the right password, and under another spelling of the address.
    let locked = login(&app, &session.email.to_uppercase(), &session.password).await;

    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.code(), "login_throttled");
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    // Another account from the same address is not locked.
    let other = app.register().await;
    login_again(&app, &other).await;
    app.finish().await;
}

#[tokio::test]
async fn a_success_forgives_the_accounts_earlier_failures() {
    let app = app_with(|settings| {
        settings.auth.login_throttle.max_failures_per_account = 2;
        settings.auth.login_throttle.max_failures_per_ip = 100;
    })
    .await;
    let session = app.register().await;

    let failed = login(&app, &session.email, "not-the-password").await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    login_again(&app, &session).await;
    let failed = login(&app, &session.email, "not-the-password").await;

    assert_eq!(failed.status, StatusCode::UNAUTHORIZED, "{:?}", failed.body);
    login_again(&app, &session).await;
    app.finish().await;
}

#[tokio::test]
async fn too_many_failures_from_one_address_lock_the_address_out() {
    let app = app_with(|settings| {
        settings.auth.login_throttle.max_failures_per_account = 100;
        settings.auth.login_throttle.max_failures_per_ip = 3;
    })
    .await;

    for attempt in 0..3 {
        let email = format!("guess-{attempt}@example.com");
        let answer = login(&app, &email, "not-the-password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let locked = login(&app, "guess-new@example.com", "not-the-password").await;

    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        locked.body
    );
    assert_eq!(locked.code(), "login_throttled");
    assert!(locked.header("retry-after").is_some());
    app.finish().await;
}

/// A line to the test's Redis that the test can cut.
struct RedisLine {
    url: String,
    cut: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RedisLine {
    async fn open() -> Self {
        let mut url = reqwest::Url::parse(&testkit::redis_url()).unwrap();
        let redis = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(6379));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(listener.local_addr().unwrap().port()))
            .unwrap();
        let cut = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn({
            let cut = cut.clone();
            async move {
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    let (mut client, _) = tokio::select! {
                        () = cut.cancelled() => break,
                        accepted = listener.accept() => accepted.unwrap(),
                    };
                    let redis = redis.clone();
                    connections.spawn(async move {
                        let mut server = tokio::net::TcpStream::connect(redis).await.unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    });
                }
                connections.shutdown().await;
            }
        });
        Self {
            url: url.to_string(),
            cut,
            task,
        }
    }

    /// Closes every connection through the line and refuses new ones.
    async fn cut(self) {
        self.cut.cancel();
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn a_token_whose_session_cannot_be_checked_is_refused_with_503() {
    let line = RedisLine::open().await;
    let url = line.url.clone();
    let app = app_with(|settings| {
        settings.redis.url = url;
        // The rate limiter keeps the direct line: only the session check loses Redis.
        settings.rate_limit.redis_url = Some(testkit::redis_url());
    })
    .await;
    let session = app.register().await;
    let before = change_nickname(&app, &session.access_token).await;
    assert_eq!(before.status, StatusCode::NO_CONTENT, "{:?}", before.body);

    line.cut().await;
    let unchecked = change_nickname(&app, &session.access_token).await;

    assert_eq!(
        unchecked.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        unchecked.body
    );
    assert_eq!(unchecked.code(), "unavailable");
    app.finish().await;
}
