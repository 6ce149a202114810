//! API integration tests: the real app, over HTTP, on SQLite and on PostgreSQL.

mod auth;
mod clients;
mod concurrency;
mod servers;
mod service;
