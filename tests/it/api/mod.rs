//! API integration tests: the real app, over HTTP, on SQLite and on PostgreSQL.

mod auth;
mod client_list_json;
mod client_model;
mod clients;
mod concurrency;
mod idempotency;
mod server_settings;
mod servers;
mod service;
mod upgrade;
