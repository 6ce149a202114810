//! The job scripts of `jobs/`, compiled into the binary so a worker needs no files beside it
//! and a server needs nothing installed: each is sent as `jobs/lib.sh` + the script on stdin.
//!
//! A new job script is a file in `jobs/` and one line in the list below.

const LIB: &str = include_str!("../../jobs/lib.sh");

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

    /// What goes on the remote bash's stdin: the library, then the script.
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
    /// Reboots the server, detached so the command returns first.
    REBOOT_SERVER = "reboot_server.sh";
    /// Restarts a client's compose project.
    CLIENT_REBOOT = "client_reboot.sh";
    /// A client's creation preflight: subdomain free, image present.
    CLIENT_PREFLIGHT = "client_preflight.sh";
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
