//! argon2id hashing and verification, off the async workers.

use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use command_handler::HandlerError;
use events::Secret;
use tokio::sync::Semaphore;

use crate::domain::Password;

/// OWASP's argon2id recommendation: 19 MiB of memory, 2 passes, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Hashes and checks passwords on the blocking pool, as many at a time as there are cores:
/// each one is pure CPU and holds 19 MiB, so more at once would only add memory and latency.
#[derive(Debug, Clone)]
pub(super) struct Passwords {
    slots: Arc<Semaphore>,
}

impl Passwords {
    pub(super) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            slots: Arc::new(Semaphore::new(cores)),
        }
    }

    /// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh salt.
    pub(super) async fn hash(&self, password: &Password) -> Result<String, HandlerError> {
        let password = password.expose().to_owned();
        self.run(move || hash(&password)).await
    }

    /// Whether `password` matches `stored`. Without a stored hash (no member has that email)
    /// the password is checked against a dummy hash all the same and the answer is `false`:
    /// the work, and so the time, is the same as for a wrong password, and the reply's timing
    /// does not tell whether an address is registered.
    pub(super) async fn verify(
        &self,
        password: &Secret,
        stored: Option<&str>,
    ) -> Result<bool, HandlerError> {
        let password = password.expose().to_owned();
        let stored = stored.map(str::to_owned);
        self.run(move || match stored {
            Some(stored) => verify(&password, &stored),
            None => verify(&password, dummy_hash()?).map(|_| false),
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Result<T, HandlerError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|error| HandlerError::Service(error.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| HandlerError::Service(format!("the password task failed: {error}")))?
            .map_err(HandlerError::Service)
    }
}

fn argon2id() -> Result<Argon2<'static>, String> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|error| error.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2id()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| format!("hashing a password: {error}"))
}

/// The parameters come from the stored string, so hashes made with older parameters still
/// verify after the constants change.
fn verify(password: &str, stored: &str) -> Result<bool, String> {
    let parsed = PasswordHash::new(stored)
        .map_err(|error| format!("a stored hash is unreadable: {error}"))?;
    match argon2id()?.verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(error) => Err(format!("verifying a password: {error}")),
    }
}

/// Made once, on the first login attempt for an unknown address, with today's parameters.
fn dummy_hash() -> Result<&'static str, String> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(dummy) = DUMMY.get() {
        return Ok(dummy);
    }
    let dummy = hash("no member has this password")?;
    Ok(DUMMY.get_or_init(|| dummy))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_a_fresh_salt() {
        let first = hash("correct horse battery").unwrap();
        let second = hash("correct horse battery").unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second);
    }

    #[test]
    fn only_the_hashed_password_verifies() {
        let stored = hash("correct horse battery").unwrap();
        assert!(verify("correct horse battery", &stored).unwrap());
        assert!(!verify("correct horse battery!", &stored).unwrap());
    }

    #[test]
    fn a_corrupt_hash_is_an_error_not_a_mismatch() {
        assert!(verify("anything", "not a phc string").is_err());
    }

    #[tokio::test]
    async fn without_a_stored_hash_nothing_verifies() {
        let passwords = Passwords::new();
        let anything = Secret::new("no member has this password");
        assert!(!passwords.verify(&anything, None).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_address_costs_what_a_wrong_password_costs() {
        let passwords = Passwords::new();
        let stored = hash("correct horse battery").unwrap();
        let wrong = Secret::new("a wrong password");
        // The fastest of a few runs each, so a moment of load elsewhere does not decide it.
        let fastest = async |stored: Option<&str>| {
            let mut fastest = std::time::Duration::MAX;
            for _ in 0..3 {
                let started = std::time::Instant::now();
                assert!(!passwords.verify(&wrong, stored).await.unwrap());
                fastest = fastest.min(started.elapsed());
            }
            fastest
        };
        // The dummy hash is made on first use; that once is not what is compared.
        passwords.verify(&wrong, None).await.unwrap();

        let (known, unknown) = (fastest(Some(&stored)).await, fastest(None).await);

        assert!(
            unknown * 2 > known,
            "an unknown address took {unknown:?}, a wrong password {known:?}"
        );
    }
}
