//! What every request handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::api::auth::CredentialCache;
use crate::api::metrics::Metrics;
use crate::config::Settings;
use crate::crypto::Cipher;
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
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}
