//! API integration tests: the real app, over HTTP, on SQLite and on PostgreSQL.

mod auth;
mod clients;
mod concurrency;
mod idempotency;
mod servers;
mod service;
