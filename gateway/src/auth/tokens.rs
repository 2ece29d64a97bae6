//! Access tokens: short-lived EdDSA JWTs. Verification trusts nothing in the token's header
//! but the `kid`, and only to pick one of our own keys.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use events::{MemberId, Role};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::KeyRing;

/// Clock differences between gateway instances; anything more is a token used out of its time.
const LEEWAY_S: u64 = 3;

/// Tokens whose signature and claims were checked, kept so that a client's next requests do
/// not pay for the Ed25519 verification again (it was most of the gateway's CPU per request).
/// Enough for the access tokens of many thousands of active clients.
const VERIFIED_CAPACITY: usize = 16_384;

/// Every claim is required: a token missing one does not deserialize.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: MemberId,
    pub sid: Uuid,
    pub roles: Vec<Role>,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: Uuid,
}

/// Why a token was refused; logged, never told to the client.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token's header cannot be read: {0}")]
    Header(jsonwebtoken::errors::Error),
    #[error("the token names no key")]
    NoKid,
    #[error("the token names an unknown key")]
    UnknownKid,
    #[error("the token is not valid: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token could not be signed: {0}")]
    Signing(jsonwebtoken::errors::Error),
}

/// Signs and verifies access tokens for one issuer and audience.
#[derive(Debug)]
pub struct AccessTokens {
    keys: KeyRing,
    issuer: String,
    audience: String,
    ttl: Duration,
    validation: Validation,
    /// The whole token string → its claims. Keyed by the whole string, so a token differing
    /// in any byte is verified afresh; only the time checks are repeated on a hit.
    verified: quick_cache::sync::Cache<String, AccessClaims>,
}

impl AccessTokens {
    pub fn new(keys: KeyRing, issuer: &str, audience: &str, ttl: Duration) -> Self {
        // Only EdDSA: a token claiming `none` or an HMAC algorithm (keyed with our public key)
        // is refused before any key is used.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_S;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            validation,
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// How long a new token lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new token for `member` in session `sid`.
    pub fn issue(&self, member: MemberId, sid: Uuid, roles: &[Role]) -> Result<String, TokenError> {
        let now = unix_now();
        let claims = AccessClaims {
            sub: member,
            sid,
            roles: roles.to_vec(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + self.ttl.as_secs(),
            nbf: now,
            iat: now,
            jti: Uuid::new_v4(),
        };
        let signer = self.keys.signer();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, &claims, &signer.key).map_err(TokenError::Signing)
    }

    /// The claims of a token we signed that is within its time, for us.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            return within_time(claims, unix_now());
        }
        let header = jsonwebtoken::decode_header(token).map_err(TokenError::Header)?;
        let kid = header.kid.ok_or(TokenError::NoKid)?;
        let key = self.keys.verifier(&kid).ok_or(TokenError::UnknownKid)?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(TokenError::Invalid)?;
        self.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }
}

/// The time checks `Validation` made when the token was first verified, made again.
fn within_time(claims: AccessClaims, now: u64) -> Result<AccessClaims, TokenError> {
    if claims.exp.saturating_add(LEEWAY_S) < now {
        return Err(TokenError::Expired);
    }
    if claims.nbf > now.saturating_add(LEEWAY_S) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_token_is_still_refused_once_its_time_is_over() {
        let tokens = tokens();
        let token = tokens
            .issue(MemberId::generate(), Uuid::new_v4(), &[Role::Member])
            .unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert!(tokens.verified.get(&token).is_some(), "remembered");

        let late = claims.exp + LEEWAY_S + 1;
        let early = claims.nbf - LEEWAY_S - 1;
        assert!(matches!(
            within_time(claims.clone(), late),
            Err(TokenError::Expired)
        ));
        assert!(matches!(
            within_time(claims.clone(), early),
            Err(TokenError::NotYetValid)
        ));
        assert!(within_time(claims.clone(), claims.iat).is_ok());
    }

    #[test]
    fn a_token_differing_in_one_byte_is_verified_afresh() {
        let tokens = tokens();
        let token = tokens
            .issue(MemberId::generate(), Uuid::new_v4(), &[Role::Member])
            .unwrap();
        tokens.verify(&token).unwrap();
        let mut tampered = token.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(tokens.verify(&tampered).is_err());
    }

    fn tokens() -> AccessTokens {
        AccessTokens::new(
            KeyRing::new(&[]).unwrap(),
            "waypoint",
            "waypoint-api",
            Duration::from_secs(600),
        )
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let tokens = tokens();
        let member = MemberId::generate();
        let sid = Uuid::new_v4();
        let token = tokens.issue(member, sid, &[Role::Member]).unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!(claims.sub, member);
        assert_eq!(claims.sid, sid);
        assert_eq!(claims.roles, vec![Role::Member]);
        assert_eq!(claims.exp - claims.iat, 600);
    }

    #[test]
    fn another_gateways_token_is_refused() {
        let token = tokens()
            .issue(MemberId::generate(), Uuid::new_v4(), &[])
            .unwrap();
        assert!(matches!(
            tokens().verify(&token),
            Err(TokenError::UnknownKid)
        ));
    }
}
