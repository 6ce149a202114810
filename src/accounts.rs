//! The one admin account of the API: first-start creation and password changes, shared by
//! `POST /cloud_admin_password` and `alfa-cloud admin set-password`; and the credentials that
//! verified, remembered so that each request does not pay an argon2 check.

use std::collections::HashSet;

use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use crate::sync::Mutex;

use crate::config::Settings;
use crate::crypto;
use crate::error::Problems;
use crate::store::{Db, admin};

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 256;

/// Creates the admin on first start from `ALFA_ADMIN_USER`/`ALFA_ADMIN_PASSWORD`. Without a
/// configured password one is generated and returned so the caller can show it once.
pub async fn ensure_admin(db: &Db, settings: &Settings) -> anyhow::Result<Option<String>> {
    if admin::admin_exists(db).await? {
        return Ok(None);
    }
    let (password, generated) = match &settings.admin_password {
        Some(p) => (p.expose_secret().to_owned(), false),
        None => (crypto::random_password(20), true),
    };
    let hash = hash_blocking(password.clone()).await?;
    let created = admin::create_admin(db, &settings.admin_user, &hash).await?;
    if created {
        tracing::info!(user = %settings.admin_user, "created the API admin account");
    }
    Ok((created && generated).then_some(password))
}

/// Checks a new password against the rules and the current one; every problem is named.
pub async fn validate_new_password(
    db: &Db,
    password: &str,
    confirm: Option<&str>,
) -> anyhow::Result<Problems> {
    let mut problems = Problems::default();
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        problems.add(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        );
    } else if len > MAX_PASSWORD_LEN {
        problems.add(
            "password",
            format!("must be at most {MAX_PASSWORD_LEN} characters"),
        );
    }
    if password.chars().any(char::is_control) {
        problems.add("password", "must not contain control characters");
    }
    if confirm.is_some_and(|confirm| confirm != password) {
        problems.add("confirm_password", "does not match password");
    }
    if problems.is_empty()
        && let Some(current) = admin::current_hash(db).await?
    {
        let candidate = password.to_owned();
        let same =
            tokio::task::spawn_blocking(move || crypto::verify_password(&candidate, &current))
                .await?;
        if same {
            problems.add("password", "must differ from the current password");
        }
    }
    Ok(problems)
}

/// Stores a new admin password (already validated).
pub async fn set_password(db: &Db, password: &str) -> anyhow::Result<()> {
    let hash = hash_blocking(password.to_owned()).await?;
    if !admin::set_password_hash(db, &hash).await? {
        anyhow::bail!("there is no admin account yet: start the service once to create it");
    }
    tracing::info!("the API admin password was changed");
    Ok(())
}

/// argon2 takes ~20 ms of CPU: never on the async workers.
async fn hash_blocking(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || crypto::hash_password(&password)).await?
}

/// Entries kept before the cache is emptied (a bound, not an eviction policy: verified
/// credentials are few, and a cleared cache costs one argon2 check per credential).
const CACHE_CAPACITY: usize = 4096;

/// argon2id verifications allowed at once. Each takes ~19 MiB and ~20 ms of a core: unbounded,
/// a burst of logins (or of wrong passwords) would cost 19 MiB per request in flight.
const VERIFY_SLOTS: usize = 1;

/// Credentials that verified, as keyed hashes; never the credentials themselves.
pub struct CredentialCache {
    key: [u8; 32],
    verified: Mutex<HashSet<[u8; 32]>>,
    verify_slots: tokio::sync::Semaphore,
}

impl Default for CredentialCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self {
            key,
            verified: Mutex::new(HashSet::new()),
            verify_slots: tokio::sync::Semaphore::new(VERIFY_SLOTS),
        }
    }
}

impl CredentialCache {
    /// A keyed hash of (Authorization header, stored password hash): changing the password
    /// changes the stored hash, so every remembered credential stops matching at once, in
    /// every process.
    pub fn fingerprint(&self, header: &[u8], password_hash: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(header);
        mac.update(&[0]);
        mac.update(password_hash.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn contains(&self, fingerprint: &[u8; 32]) -> bool {
        self.verified.lock().contains(fingerprint)
    }

    pub fn insert(&self, fingerprint: [u8; 32]) {
        let mut verified = self.verified.lock();
        if verified.len() >= CACHE_CAPACITY {
            verified.clear();
        }
        verified.insert(fingerprint);
    }

    /// One of the few argon2 checks allowed at once; held while checking.
    pub async fn verify_slot(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.verify_slots.acquire().await
    }
}
