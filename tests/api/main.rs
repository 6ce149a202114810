//! API integration tests: the real app, over HTTP, on SQLite and on PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod clients;
mod servers;
mod service;
