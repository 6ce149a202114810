//! The kinds of operation, one file each. Adding a kind: a file here with a type implementing
//! [`Kind`](super::Kind), and one line in [`registry`].

mod client_create;
mod client_reboot;
mod images;
mod reboot_server;

pub use client_create::ClientCreate;
pub use client_reboot::ClientReboot;
pub use images::Images;
pub use reboot_server::RebootServer;

use super::Registry;

/// Every kind of operation the product runs.
pub fn registry() -> Registry {
    Registry::default()
        .with(Images)
        .with(RebootServer)
        .with(ClientReboot)
        .with(ClientCreate)
}
