//! The Ed25519 signing keys: the first signs, all verify, so a new key can be introduced
//! while tokens signed by the previous one are still out there. Each key is named by its
//! RFC 7638 thumbprint, which is the token's `kid` and the JWKS entry's `kid`.

use std::collections::HashMap;

use anyhow::Context;
use axum::body::Bytes;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{DecodingKey, EncodingKey};

/// The key that signs new tokens.
pub struct Signer {
    pub kid: String,
    pub key: EncodingKey,
}

/// Every configured key, ready to sign (the first) and verify (all).
pub struct KeyRing {
    signer: Signer,
    verifiers: HashMap<String, DecodingKey>,
    /// `/.well-known/jwks.json`, serialized once: it only changes with the configuration.
    jwks: Bytes,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signing_kid", &self.signer.kid)
            .field("kids", &self.verifiers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// The keys from PKCS#8 PEM, newest first. No keys at all means one made up now, which
    /// only suits a single development instance: tokens die with it and no other instance
    /// can verify them.
    pub fn new(pems: &[String]) -> anyhow::Result<Self> {
        let keys = if pems.is_empty() {
            tracing::warn!(
                "no [auth] signing_keys configured: signing with a key generated at start-up, \
                 fit for development only"
            );
            vec![SigningKey::from_bytes(&rand::random::<[u8; 32]>())]
        } else {
            pems.iter()
                .enumerate()
                .map(|(index, pem)| {
                    SigningKey::from_pkcs8_pem(pem.trim()).map_err(|error| {
                        anyhow::anyhow!(
                            "[auth] signing_keys[{index}] is not an Ed25519 PKCS#8 PEM key: {error}"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        Self::from_keys(&keys)
    }

    fn from_keys(keys: &[SigningKey]) -> anyhow::Result<Self> {
        let mut verifiers = HashMap::new();
        let mut jwks = JwkSet::default();
        let mut signer = None;
        for key in keys {
            let jwk = public_jwk(key)?;
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            let AlgorithmParameters::OctetKeyPair(params) = &jwk.algorithm else {
                anyhow::bail!("an Ed25519 key made a JWK of another type");
            };
            verifiers.insert(kid.clone(), DecodingKey::from_ed_components(&params.x)?);
            if signer.is_none() {
                let der = key
                    .to_pkcs8_der()
                    .context("encoding the signing key as PKCS#8")?;
                signer = Some(Signer {
                    kid,
                    key: EncodingKey::from_ed_der(der.as_bytes()),
                });
            }
            jwks.keys.push(jwk);
        }
        let signer = signer.context("no signing key")?;
        Ok(Self {
            signer,
            verifiers,
            jwks: Bytes::from(serde_json::to_vec(&jwks)?),
        })
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The public key named `kid`, if it is one of ours.
    pub fn verifier(&self, kid: &str) -> Option<&DecodingKey> {
        self.verifiers.get(kid)
    }

    pub fn jwks(&self) -> Bytes {
        self.jwks.clone()
    }
}

/// The public half as a JWK, with its thumbprint as `kid`.
fn public_jwk(key: &SigningKey) -> anyhow::Result<Jwk> {
    use base64::Engine;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x,
        }),
    };
    jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256)?);
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

    fn pem() -> String {
        SigningKey::from_bytes(&rand::random::<[u8; 32]>())
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_first_key_signs_and_every_key_is_published() {
        let ring = KeyRing::new(&[pem(), pem()]).unwrap();
        let jwks: serde_json::Value = serde_json::from_slice(&ring.jwks()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["kid"], ring.signer().kid.as_str());
        for key in keys {
            assert_eq!(key["kty"], "OKP");
            assert_eq!(key["crv"], "Ed25519");
            assert_eq!(key["alg"], "EdDSA");
            assert_eq!(key["use"], "sig");
            assert!(ring.verifier(key["kid"].as_str().unwrap()).is_some());
        }
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        use base64::Engine;
        use sha2::Digest;
        let ring = KeyRing::new(&[pem()]).unwrap();
        let jwks: serde_json::Value = serde_json::from_slice(&ring.jwks()).unwrap();
        let x = jwks["keys"][0]["x"].as_str().unwrap();
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(canonical.as_bytes()));
        assert_eq!(ring.signer().kid, expected);
    }

    #[test]
    fn no_keys_means_one_generated_key() {
        let ring = KeyRing::new(&[]).unwrap();
        assert!(ring.verifier(&ring.signer().kid).is_some());
    }

    #[test]
    fn a_key_that_is_not_ed25519_pem_is_refused() {
        let error = KeyRing::new(&[
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".to_owned(),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("signing_keys[0]"), "{error}");
    }
}
