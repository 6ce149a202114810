//! The job scripts of `jobs/`, compiled into the binary so a worker needs no files beside it
//! and a server needs nothing installed: each is sent as `jobs/lib.sh` + `jobs/lib_web.sh` + the
//! script on stdin (a warm shell loads the two libraries once, then takes only scripts).
//!
//! A new job script is a file in `jobs/` and one line in the list below.

/// `jobs/lib.sh` and `jobs/lib_web.sh` (its nginx and certbot helpers), which every job script
/// runs after.
pub(super) const LIB: &str = concat!(
    include_str!("../../jobs/lib.sh"),
    include_str!("../../jobs/lib_web.sh")
);

/// A script a job runs on a server: its file name (for messages) and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Script {
    name: &'static str,
    body: &'static str,
}

impl Script {
    /// A script outside the production list (tests and benchmarks bring their own).
    pub const fn new(name: &'static str, body: &'static str) -> Self {
        Self { name, body }
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// The script's own text, without the library.
    pub fn body(self) -> &'static str {
        self.body
    }

    /// The library, then the script: what a fresh `bash -s` on a server runs (the benchmarks'
    /// baselines; the product's jobs run in warm shells, see `remote::shell`).
    pub fn text(self) -> String {
        format!("{LIB}\n{}\n", self.body)
    }
}

/// Declares each production script as a constant, and [`ALL`] listing them.
macro_rules! scripts {
    ($($(#[$doc:meta])* $konst:ident = $file:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $konst: Script = Script::new($file, include_str!(concat!("../../jobs/", $file)));
        )*
        /// Every production job script.
        pub const ALL: &[Script] = &[$($konst),*];
    };
}

scripts! {
    /// Is the server set up for deploying? (`::check` lines)
    CHECK_HOST = "check_host.sh";
    /// The LIMS images on the server (`::image` lines).
    IMAGES = "images.sh";
    /// The daily certificate check of a server: renews what expires soon (`::cert_check` lines).
    CERT_CHECK = "cert_check.sh";
    /// Reboots the server, detached so the command returns first.
    REBOOT_SERVER = "reboot_server.sh";
    /// Restarts a client's compose project.
    CLIENT_REBOOT = "client_reboot.sh";
    /// A client's creation preflight: subdomain free, image present.
    CLIENT_PREFLIGHT = "client_preflight.sh";
    /// Creates a client's folders (public, php, maintenance) and the server's ACME webroot.
    CLIENT_DIRS = "client_dirs.sh";
    /// Installs an uploaded vhost (`SUB.conf.new`): nginx -t, reload, put back on failure.
    VHOST_INSTALL = "vhost_install.sh";
    /// Removes a client's vhost: nginx -t, reload.
    VHOST_REMOVE = "vhost_remove.sh";
    /// Starts a client's compose project, waits for `/up`, runs `artisan migrate`.
    CONTAINER_UP = "container_up.sh";
    /// Gets the client's certificate with certbot's webroot plugin (`::cert` line).
    CERTIFICATE = "certificate.sh";
    /// Checks a client over https: `/up` answers 200 with certbot's certificate (`::probe` line).
    PROBE = "probe.sh";
    /// Removes a client from its server: vhost, container, certificate, folder.
    CLIENT_REMOVE = "client_remove.sh";
    /// Dumps a client's database to a gzip under `backups/` (`::dump` line).
    DB_DUMP = "db_dump.sh";
    /// Puts a client's database back to a dump of `backups/` (`::restore` line).
    DB_RESTORE = "db_restore.sh";
    /// Runs `php artisan` (migrate, db:seed) in a client's running app service.
    CLIENT_ARTISAN = "client_artisan.sh";
    /// Switches a client's maintenance page on or off and checks it through nginx.
    CLIENT_MAINTENANCE = "client_maintenance.sh";
    /// Recreates a client's container with its rewritten files, waits for `/up`.
    CLIENT_RECREATE = "client_recreate.sh";
    /// A file's or a folder's digest, to compare both ends of a move (`::digest` line).
    TRANSFER_DIGEST = "transfer_digest.sh";
    /// The folder a move receives a client's files in, made empty or removed.
    TRANSFER_STAGE = "transfer_stage.sh";
    /// Renames a move's received files into the client's folder.
    TRANSFER_PLACE = "transfer_place.sh";
    /// The probe loop's pass on one server: `/up` of each client, maintenance, running image
    /// (`::client` lines).
    PROBE_CLIENTS = "probe_clients.sh";
    /// Installs the vhosts a deploy staged (`SUB.conf.new`), with one nginx -t and one reload;
    /// every previous vhost put back when nginx refuses one.
    DEPLOY_VHOSTS = "deploy_vhosts.sh";
    /// Fetches (dry run) or fast-forwards (pull) the server's checkout `git/` to origin's
    /// master (`::git` line).
    GIT_UPDATE = "git_update.sh";
    /// Removes the LIMS images nothing uses (the newest unused kept), the dangling images and
    /// the build cache (`::image`, `::removed`, `::reclaimed` lines).
    PRUNE = "prune.sh";
    /// Builds a LIMS image from branch dev or master of `{base_dir}/git` (`::built` line).
    BUILD = "build.sh";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_has_a_distinct_name_and_the_library_first() {
        let mut names: Vec<&str> = ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for script in ALL {
            assert!(script.text().starts_with(LIB), "{}", script.name());
        }
    }
}
