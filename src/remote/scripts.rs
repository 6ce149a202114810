//! The job scripts of `jobs/`, compiled into the binary so a worker needs no files beside it
//! and a server needs nothing installed: each is sent as `jobs/lib.sh` + the script on stdin.

const LIB: &str = include_str!("../../jobs/lib.sh");

/// A script a job runs on a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    CheckHost,
    Images,
    RebootServer,
    ClientReboot,
    ClientPreflight,
    /// Diagnostics used by tests: prints each argument as `::arg N value`.
    EchoArgs,
    /// Diagnostics used by tests: prints N lines, DELAY seconds apart.
    StreamTest,
}

impl Script {
    pub fn name(self) -> &'static str {
        match self {
            Self::CheckHost => "check_host.sh",
            Self::Images => "images.sh",
            Self::RebootServer => "reboot_server.sh",
            Self::ClientReboot => "client_reboot.sh",
            Self::ClientPreflight => "client_preflight.sh",
            Self::EchoArgs => "echo_args.sh",
            Self::StreamTest => "stream_test.sh",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Self::CheckHost => include_str!("../../jobs/check_host.sh"),
            Self::Images => include_str!("../../jobs/images.sh"),
            Self::RebootServer => include_str!("../../jobs/reboot_server.sh"),
            Self::ClientReboot => include_str!("../../jobs/client_reboot.sh"),
            Self::ClientPreflight => include_str!("../../jobs/client_preflight.sh"),
            Self::EchoArgs => include_str!("../../jobs/echo_args.sh"),
            Self::StreamTest => include_str!("../../jobs/stream_test.sh"),
        }
    }

    /// What goes on the remote bash's stdin: the library, then the script.
    pub fn text(self) -> String {
        format!("{LIB}\n{}\n", self.body())
    }
}
