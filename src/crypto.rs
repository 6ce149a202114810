//! Secrets at rest and the admin password hash.
//!
//! Secrets (`sql_password`, lab admin passwords, tokens) are sealed with XChaCha20-Poly1305
//! under the master key, with the column's name as associated data so a sealed value cannot be
//! moved to another column. The admin password is an argon2id hash at its default cost.

use std::path::Path;

use anyhow::{Context as _, bail};
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};

const SEALED_PREFIX: &str = "v1:";

/// The columns secrets are sealed for (the associated data of each sealed value).
pub mod purpose {
    pub const SERVER_SQL_PASSWORD: &str = "servers.sql_password";
    pub const CLIENT_ADMIN_PASSWORD: &str = "clients.password";
    /// Laravel's `APP_KEY` of a client (`base64:` and 32 random bytes).
    pub const CLIENT_APP_KEY: &str = "clients.app_key";
    /// The password of a client's own SQL login (`DB_PASSWORD`).
    pub const CLIENT_DB_PASSWORD: &str = "clients.db_password";
    /// The token a client's LIMS authenticates to this API with (`ALFA_CLOUD_TOKEN`).
    pub const CLIENT_CLOUD_TOKEN: &str = "clients.cloud_token";
}

/// Seals and opens secrets with the master key.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            aead: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Decodes a 32-byte key given as base64 (44 characters) or hex (64 characters).
    pub fn from_encoded(encoded: &str) -> anyhow::Result<Self> {
        let encoded = encoded.trim();
        let bytes = if encoded.len() == 64 && encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&encoded[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()?
        } else {
            B64.decode(encoded)
                .context("ALFA_SECRET_KEY must be 32 bytes in base64 or hex")?
        };
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("ALFA_SECRET_KEY must decode to exactly 32 bytes"))?;
        Ok(Self::from_key(&key))
    }

    /// Uses the configured key, or the key file in `data_dir`, creating it (mode 0600) with a
    /// warning when neither exists.
    pub fn load_or_create(
        configured: Option<&SecretString>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        if let Some(key) = configured {
            return Self::from_encoded(key.expose_secret());
        }
        let path = data_dir.join("secret.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the key file {}", path.display()))?;
            return Self::from_encoded(&text)
                .with_context(|| format!("key file {} is damaged", path.display()));
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        write_private(&path, &B64.encode(key))?;
        tracing::warn!(
            path = %path.display(),
            "ALFA_SECRET_KEY is not set: generated a master key into the data folder. \
             Back it up: without it the stored secrets cannot be read."
        );
        Ok(Self::from_key(&key))
    }

    /// Seals `plain` for the column `purpose` (e.g. `servers.sql_password`).
    pub fn seal(&self, purpose: &str, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    /// Opens a value sealed by [`Cipher::seal`] for the same `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> anyhow::Result<SecretString> {
        let Some(body) = sealed.strip_prefix(SEALED_PREFIX) else {
            bail!("{purpose}: stored secret has an unknown format");
        };
        let bytes = B64.decode(body).context("stored secret is not base64")?;
        if bytes.len() < 24 + 16 {
            bail!("{purpose}: stored secret is truncated");
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().expect("split at 24");
        let plain = self
            .aead
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("{purpose}: stored secret does not open with this ALFA_SECRET_KEY")
            })?;
        let text = String::from_utf8(plain).context("stored secret is not UTF-8")?;
        Ok(SecretString::from(text))
    }
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Hashes a password with argon2id at the crate's default cost.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))
}

/// Verifies a password against a stored argon2 hash, in time independent of where they differ.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random password of `len` characters from an unambiguous alphabet.
pub fn random_password(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// `len` characters drawn uniformly from `[A-Za-z0-9]` with the operating system's CSPRNG:
/// safe in a `.env` file, a shell argument and a SQL string alike.
pub fn random_alphanumeric(len: usize) -> String {
    use rand::Rng as _;
    rand::rngs::OsRng
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A fresh Laravel `APP_KEY`: `base64:` and the standard base64 of 32 random bytes (the key
/// of AES-256-CBC, Laravel's default cipher), as `php artisan key:generate` writes it.
pub fn laravel_app_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("base64:{}", B64.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_own_column_and_key() {
        let cipher = Cipher::from_key(&[7; 32]);
        let sealed = cipher.seal("servers.sql_password", "s3cr3t");
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(
            cipher
                .open("servers.sql_password", &sealed)
                .unwrap()
                .expose_secret(),
            "s3cr3t"
        );
        assert!(cipher.open("clients.password", &sealed).is_err());
        assert!(
            Cipher::from_key(&[8; 32])
                .open("servers.sql_password", &sealed)
                .is_err()
        );
        assert_ne!(
            sealed,
            cipher.seal("servers.sql_password", "s3cr3t"),
            "nonce reused"
        );
    }

    #[test]
    fn generated_secrets_have_their_shape_and_differ() {
        let token = random_alphanumeric(40);
        assert_eq!(token.len(), 40);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(token, random_alphanumeric(40));
        let key = laravel_app_key();
        let raw = B64.decode(key.strip_prefix("base64:").unwrap()).unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(key, laravel_app_key());
    }

    #[test]
    fn keys_decode_from_base64_and_hex_of_32_bytes_only() {
        assert!(Cipher::from_encoded(&B64.encode([1u8; 32])).is_ok());
        assert!(Cipher::from_encoded(&"ab".repeat(32)).is_ok());
        assert!(Cipher::from_encoded(&B64.encode([1u8; 16])).is_err());
        assert!(Cipher::from_encoded("not a key").is_err());
    }

    #[test]
    fn password_hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("x", "not a hash"));
    }
}
