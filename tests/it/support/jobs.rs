//! Job scripts that exist for tests only (in tests/it/jobs/), kept out of the product's list.

use alfa_cloud::remote::Script;

/// Prints each argument exactly as `::arg N VALUE`: proves quoting end to end.
pub const ECHO_ARGS: Script = Script::new("echo_args.sh", include_str!("../jobs/echo_args.sh"));

/// `stream_test.sh N DELAY`: N lines, DELAY seconds apart, and one stderr line.
pub const STREAM_TEST: Script =
    Script::new("stream_test.sh", include_str!("../jobs/stream_test.sh"));
