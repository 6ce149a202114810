//! The integration tests, one binary: the real app over HTTP on SQLite and on PostgreSQL, the
//! operations engine with real workers and real SSH to the test hosts (scripts/testbed), on the
//! embedded queue and on Redis, and the SSH transport itself.

mod support;

mod api;
mod ops;
mod remote;
