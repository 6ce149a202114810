//! The kinds of operation, one file each. Adding a kind: a file here with a type implementing
//! [`Kind`](super::Kind), its `pub mod` line, and its line in [`registry`].

pub mod build;
pub mod build_all;
pub mod build_version;
pub mod cert_check;
pub mod client_admin_password;
pub mod client_copy;
pub mod client_create;
pub mod client_delete;
pub mod client_demo;
pub mod client_deploy;
pub mod client_expire_date;
pub mod client_mail;
pub mod client_maintain;
pub mod client_migrate;
pub mod client_move;
pub mod client_reboot;
pub mod client_switch;
pub mod client_update;
pub mod deploy;
pub mod images;
pub mod prune;
pub mod reboot_server;
pub mod reconfigurate;
pub mod server_all;

use super::Registry;

/// Every kind of operation the product runs.
pub fn registry() -> Registry {
    Registry::default()
        .with(images::Images)
        .with(reboot_server::RebootServer)
        .with(client_reboot::ClientReboot)
        .with(client_create::ClientCreate)
        .with(client_delete::ClientDelete)
        .with(client_migrate::ClientMigrate)
        .with(client_demo::ClientDemo)
        .with(client_maintain::ClientMaintain)
        .with(client_admin_password::ClientAdminPassword)
        .with(client_update::ClientUpdate)
        .with(client_expire_date::ClientExpireDate)
        .with(client_copy::ClientCopy)
        .with(client_move::ClientMove)
        .with(client_switch::ClientSwitch)
        .with(cert_check::CertCheck)
        .with(server_all::MigrateAll)
        .with(server_all::SwitchAll)
        .with(client_mail::ClientMail)
        .with(deploy::Deploy)
        .with(client_deploy::ClientDeploy)
        .with(reconfigurate::Reconfigurate)
        .with(reconfigurate::ServerReconfigurate)
        .with(prune::Prune)
        .with(build::BuildDev)
        .with(build::BuildMaster)
        .with(build_all::BuildMasterForAll)
}
