//! Alfa Cloud: the backend the Mol admin panel drives to run one LIMS cloud per lab across a
//! fleet of servers. `main.rs` only wires this library together.

pub mod accounts;
pub mod api;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod mail;
pub mod metrics;
pub mod ops;
pub mod queue;
pub mod remote;
pub mod render;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
