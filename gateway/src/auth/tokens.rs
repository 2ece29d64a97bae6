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
        let header = jsonwebtoken::decode_header(token).map_err(TokenError::Header)?;
        let kid = header.kid.ok_or(TokenError::NoKid)?;
        let key = self.keys.verifier(&kid).ok_or(TokenError::UnknownKid)?;
        jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(TokenError::Invalid)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

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
