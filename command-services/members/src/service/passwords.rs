//! argon2id hashing and verification, off the async workers, in memory kept between hashes.
//!
//! Each hash fills 19 MiB. Allocated afresh every time (as `PasswordHasher::hash_password`
//! does), that memory stays with the allocator of whichever blocking thread ran the hash: the
//! process grew by hundreds of megabytes after a burst of registrations. So the service keeps
//! one buffer per permitted concurrent hash and lends it out; its memory is bounded by the
//! number of cores, and a hash no longer pays for page faults on fresh memory.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    /// At most one buffer per slot: a hash takes one (or makes it) and gives it back.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Passwords {
    pub(super) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self {
            slots: Arc::new(Semaphore::new(cores)),
            buffers: Arc::new(Mutex::new(Vec::with_capacity(cores))),
        }
    }

    /// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh salt.
    pub(super) async fn hash(&self, password: &Password) -> Result<String, HandlerError> {
        let password = password.expose().to_owned();
        self.run(move |memory| hash(&password, memory)).await
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
        self.run(move |memory| match stored {
            Some(stored) => verify(&password, &stored, memory),
            None => verify(&password, dummy_hash(memory)?, memory).map(|_| false),
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, String> + Send + 'static,
    ) -> Result<T, HandlerError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|error| HandlerError::Service(error.to_string()))?;
        let buffers = Arc::clone(&self.buffers);
        tokio::task::spawn_blocking(move || {
            let mut memory = lock(&buffers).pop().unwrap_or_default();
            let outcome = work(&mut memory);
            lock(&buffers).push(memory);
            outcome
        })
        .await
        .map_err(|error| HandlerError::Service(format!("the password task failed: {error}")))?
        .map_err(HandlerError::Service)
    }
}

/// A panicking hash cannot leave the list of buffers half-changed: it is only pushed and popped.
fn lock(buffers: &Mutex<Vec<Vec<Block>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    buffers.lock().unwrap_or_else(PoisonError::into_inner)
}

fn hash(password: &str, memory: &mut Vec<Block>) -> Result<String, String> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|error| error.to_string())?;
    let salt = SaltString::generate(&mut OsRng);
    let output = digest(
        password,
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        salt.as_salt(),
        Params::DEFAULT_OUTPUT_LEN,
        memory,
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|error| error.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// The parameters come from the stored string, so hashes made with older parameters still
/// verify after the constants change.
fn verify(password: &str, stored: &str, memory: &mut Vec<Block>) -> Result<bool, String> {
    let unreadable =
        |error: &dyn std::fmt::Display| format!("a stored hash is unreadable: {error}");
    let parsed = PasswordHash::new(stored).map_err(|error| unreadable(&error))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|error| unreadable(&error))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|error| unreadable(&error))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|error| unreadable(&error))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(unreadable(&"no salt or no hash"));
    };
    let computed = digest(
        password,
        algorithm,
        version,
        &params,
        salt,
        expected.len(),
        memory,
    )?;
    // `Output`'s equality takes the same time wherever the first difference is.
    Ok(computed == expected)
}

/// The raw argon2 output of `password` under `params`, computed in `memory`, which is grown
/// (or shrunk) to what `params` needs.
fn digest(
    password: &str,
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    salt: Salt<'_>,
    output_len: usize,
    memory: &mut Vec<Block>,
) -> Result<Output, String> {
    let failed = |error: &dyn std::fmt::Display| format!("hashing a password: {error}");
    let mut salt_bytes = [0_u8; Salt::MAX_LENGTH];
    let salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|error| failed(&error))?;
    memory.resize(params.block_count(), Block::default());
    let argon2 = Argon2::new(algorithm, version, params.clone());
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
            .map_err(Into::into)
    })
    .map_err(|error| failed(&error))
}

/// Made once, on the first login attempt for an unknown address, with today's parameters.
fn dummy_hash(memory: &mut Vec<Block>) -> Result<&'static str, String> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(dummy) = DUMMY.get() {
        return Ok(dummy);
    }
    let dummy = hash("no member has this password", memory)?;
    Ok(DUMMY.get_or_init(|| dummy))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_a_fresh_salt() {
        let mut memory = Vec::new();
        let first = hash("correct horse battery", &mut memory).unwrap();
        let second = hash("correct horse battery", &mut memory).unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second);
    }

    #[test]
    fn only_the_hashed_password_verifies() {
        let mut memory = Vec::new();
        let stored = hash("correct horse battery", &mut memory).unwrap();
        assert!(verify("correct horse battery", &stored, &mut memory).unwrap());
        assert!(!verify("correct horse battery!", &stored, &mut memory).unwrap());
    }

    #[test]
    fn a_corrupt_hash_is_an_error_not_a_mismatch() {
        assert!(verify("anything", "not a phc string", &mut Vec::new()).is_err());
    }

    #[test]
    fn hashes_of_the_crates_own_hasher_and_of_other_parameters_verify() {
        use argon2::password_hash::PasswordHasher;
        let older_params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, older_params)
            .hash_password(b"correct horse battery", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        let mut memory = Vec::new();
        assert!(verify("correct horse battery", &older, &mut memory).unwrap());
        assert!(!verify("correct horse batter", &older, &mut memory).unwrap());
        assert_eq!(
            memory.len(),
            8 * 1024,
            "one block per KiB of the stored parameters"
        );
        hash("correct horse battery", &mut memory).unwrap();
        assert_eq!(memory.len(), 19 * 1024);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_is_kept_for_each_hash_allowed_at_once_and_no_more() {
        let passwords = Passwords::new();
        let mut checks = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let passwords = passwords.clone();
            checks.spawn(async move {
                let anything = Secret::new("no member has this password");
                passwords.verify(&anything, None).await
            });
        }
        while let Some(verified) = checks.join_next().await {
            assert!(!verified.unwrap().unwrap());
        }
        let kept = lock(&passwords.buffers).len();
        let allowed = passwords.slots.available_permits();
        assert!(
            (1..=allowed).contains(&kept),
            "{kept} buffers for {allowed} slots"
        );
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
        let stored = hash("correct horse battery", &mut Vec::new()).unwrap();
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
