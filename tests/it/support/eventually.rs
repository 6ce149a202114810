//! Waiting for something that happens in another task or process, without guessing a sleep:
//! ask again every 25 ms until it holds, up to a limit.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is asked again.
const EVERY: Duration = Duration::from_millis(25);

/// Asks `probe` until it answers `Ok`, and returns that answer; after `limit`, the last `Err`
/// (what the probe saw instead).
pub async fn within<T, F, Fut>(limit: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if started.elapsed() >= limit => return Err(last),
            Err(_) => tokio::time::sleep(EVERY).await,
        }
    }
}

/// [`within`], failing the test with `what` it waited for and the last thing the probe saw.
#[track_caller]
pub fn eventually<T, F, Fut>(
    limit: Duration,
    what: impl std::fmt::Display,
    probe: F,
) -> impl Future<Output = T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let caller = std::panic::Location::caller();
    async move {
        match within(limit, probe).await {
            Ok(value) => value,
            Err(last) => {
                panic!("{caller}: still waiting after {limit:?} for {what}; last seen: {last}")
            }
        }
    }
}
