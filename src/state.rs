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

/// `GET /clients` pages, each valid while the clients' data version it was built at holds (see
/// `store::clients::data_versions`). Bounded: when full, it starts over. Probe results are not
/// part of that version: a page keeps its clients' JSON and takes fresh probe fields when the
/// probe results moved (`api::clients`).
pub struct PageCache {
    max_bytes: usize,
    pages: crate::sync::Mutex<PageMap>,
}

/// One cached page.
pub struct CachedPage {
    /// Clients matching the page's filters.
    pub total: i64,
    /// Each client's id and its own fields as JSON (`{"id":…`, without the probe fields).
    pub parts: Arc<[(i64, String)]>,
    /// The probe results' version `body` was built at.
    pub probes_version: i64,
    /// The whole answer.
    pub body: axum::body::Bytes,
}

impl CachedPage {
    fn size(&self) -> usize {
        self.body.len() + self.parts.iter().map(|(_, c)| c.len() + 32).sum::<usize>()
    }
}

#[derive(Default)]
struct PageMap {
    version: i64,
    bytes: usize,
    pages: std::collections::HashMap<String, Arc<CachedPage>>,
}

impl PageCache {
    /// A cache of at most `max_mb` MB of pages (8 MB hold ≈ 120 pages of 50 clients); 0: off.
    pub fn new(max_mb: usize) -> Self {
        Self {
            max_bytes: max_mb.saturating_mul(1 << 20),
            pages: crate::sync::Mutex::default(),
        }
    }

    /// False when configured with 0 MB: callers then build every page.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    pub fn get(&self, key: &str, version: i64) -> Option<Arc<CachedPage>> {
        let map = self.pages.lock();
        (map.version == version)
            .then(|| map.pages.get(key).cloned())
            .flatten()
    }

    pub fn put(&self, key: String, version: i64, page: Arc<CachedPage>) {
        let size = page.size();
        if size > self.max_bytes {
            return;
        }
        let mut map = self.pages.lock();
        if version < map.version {
            return;
        }
        if version > map.version || map.bytes + size > self.max_bytes {
            *map = PageMap {
                version,
                ..PageMap::default()
            };
        }
        map.bytes += size;
        if let Some(old) = map.pages.insert(key, page) {
            map.bytes -= old.size();
        }
    }
}
