//! What every request handler can reach.

use std::sync::Arc;

use crate::accounts::CredentialCache;
use crate::config::Settings;
use crate::crypto::Cipher;
use crate::metrics::Metrics;
use crate::ops::Engine;
use crate::store::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cipher: Cipher,
    pub settings: Arc<Settings>,
    pub credentials: Arc<CredentialCache>,
    pub metrics: Arc<Metrics>,
    pub engine: Engine,
    pub pages: Arc<PageCache>,
}

/// Serialized `GET /clients` pages, each valid while the clients' data version it was built at
/// holds (see `store::clients::data_version`). Bounded: when full, it starts over.
pub struct PageCache {
    max_bytes: usize,
    pages: crate::sync::Mutex<PageMap>,
}

#[derive(Default)]
struct PageMap {
    version: i64,
    bytes: usize,
    pages: std::collections::HashMap<String, axum::body::Bytes>,
}

impl PageCache {
    /// A cache of at most `max_mb` MB of pages (8 MB hold ≈ 250 pages of 50 clients); 0: off.
    pub fn new(max_mb: usize) -> Self {
        Self {
            max_bytes: max_mb.saturating_mul(1 << 20),
            pages: crate::sync::Mutex::default(),
        }
    }

    /// False when configured with 0 MB: callers then skip reading the data version.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    pub fn get(&self, key: &str, version: i64) -> Option<axum::body::Bytes> {
        let map = self.pages.lock();
        (map.version == version)
            .then(|| map.pages.get(key).cloned())
            .flatten()
    }

    pub fn put(&self, key: String, version: i64, body: axum::body::Bytes) {
        if body.len() > self.max_bytes {
            return;
        }
        let mut map = self.pages.lock();
        if version < map.version {
            return;
        }
        if version > map.version || map.bytes + body.len() > self.max_bytes {
            *map = PageMap {
                version,
                ..PageMap::default()
            };
        }
        map.bytes += body.len();
        if let Some(old) = map.pages.insert(key, body) {
            map.bytes -= old.len();
        }
    }
}
