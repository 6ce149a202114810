//! The webhook dispatcher: every worker process POSTs the recorded operation endings
//! (`webhook_deliveries`, written with each ending) to `ALFA_WEBHOOK_URL`, signed with
//! `ALFA_WEBHOOK_SECRET`. Each try claims its row in the shared database first, so several
//! worker processes never send one row at once; a receiver that does not answer 2xx gets the
//! same body again after 1×, 2×, 4×… `ALFA_WEBHOOK_RETRY_BASE` (capped at an hour), until
//! `ALFA_WEBHOOK_MAX_TRIES`, then the row is `failed`. Receivers must therefore accept an
//! event more than once (the pair operation_id, attempt names it).

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac as _};
use secrecy::ExposeSecret as _;
use sha2::Sha256;
use tokio::sync::watch;

use super::Engine;
use crate::config::WebhookSettings;
use crate::store::webhooks::{self, Claimed, TryOutcome};

/// The time limit of one POST.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed row is ours: longer than a POST may take.
const CLAIM: Duration = Duration::from_secs(60);
/// The longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_secs(3600);
/// Rows sent at once per pass.
const BATCH: i64 = 16;

/// The signature header's value for `body`: `sha256=<hex HMAC-SHA256 under secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The pause after try number `tries` (from 1) failed.
fn backoff(base: Duration, tries: i64) -> Duration {
    let doublings = u32::try_from(tries.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    base.saturating_mul(1 << doublings).min(MAX_PAUSE)
}

/// Sends due deliveries until `stop`.
pub async fn run(engine: Engine, hook: WebhookSettings, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("alfa-cloud/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the webhook HTTP client: no webhook is sent");
            return;
        }
    };
    // Due rows are looked for at least every second, and as often as the retry base (tests).
    let every = hook.retry_base.min(Duration::from_secs(1));
    tracing::info!(webhook.host = hook.host(), "webhook dispatcher started");
    loop {
        if let Err(err) = pass(&engine, &client, &hook).await {
            tracing::warn!(error = %err, "webhook pass failed; retrying");
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Sends every delivery due now, a batch at a time.
async fn pass(
    engine: &Engine,
    client: &reqwest::Client,
    hook: &WebhookSettings,
) -> sqlx::Result<()> {
    loop {
        let due = webhooks::due(&engine.db, BATCH).await?;
        let until = Utc::now() + chrono::Duration::from_std(CLAIM).unwrap_or_default();
        let mut claimed = Vec::with_capacity(due.len());
        for &id in &due {
            if let Some(row) = webhooks::claim(&engine.db, id, until).await? {
                claimed.push(row);
            }
        }
        let tries = claimed.into_iter().map(|row| async move {
            let outcome = send(client, hook, &row).await;
            if let Err(err) = webhooks::record(&engine.db, row.id, &outcome).await {
                // The row is due again when its claim runs out: sent once more, not lost.
                tracing::warn!(webhook.id = row.id, error = %err, "could not record a webhook try");
            }
        });
        futures::future::join_all(tries).await;
        if due.len() < usize::try_from(BATCH).unwrap_or_default() {
            return Ok(());
        }
    }
}

/// One POST of a claimed delivery, and what follows from its answer.
async fn send(client: &reqwest::Client, hook: &WebhookSettings, row: &Claimed) -> TryOutcome {
    let answer = client
        .post(hook.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            "X-Alfa-Signature",
            signature(hook.secret.expose_secret(), row.body.as_bytes()),
        )
        .body(row.body.clone())
        .send()
        .await;
    let (code, error) = match answer {
        Ok(response) if response.status().is_success() => {
            tracing::debug!(
                webhook.id = row.id,
                op.id = row.operation_id,
                "webhook delivered"
            );
            return TryOutcome::Delivered {
                code: response.status().as_u16(),
            };
        }
        Ok(response) => (
            Some(response.status().as_u16()),
            format!("{} answered {}", hook.host(), response.status()),
        ),
        // Without the URL: its path or query may hold the receiver's token.
        Err(err) => (None, format!("{}: {}", hook.host(), err.without_url())),
    };
    let given_up = row.tries >= i64::from(hook.max_tries);
    let next = (!given_up).then(|| {
        Utc::now()
            + chrono::Duration::from_std(backoff(hook.retry_base, row.tries)).unwrap_or_default()
    });
    if given_up {
        tracing::warn!(
            webhook.id = row.id,
            op.id = row.operation_id,
            webhook.host = hook.host(),
            tries = row.tries,
            error = %error,
            "webhook delivery failed for good: no more tries"
        );
    } else {
        tracing::info!(
            webhook.id = row.id,
            op.id = row.operation_id,
            webhook.host = hook.host(),
            tries = row.tries,
            error = %error,
            "webhook delivery failed; it is tried again"
        );
    }
    TryOutcome::Failed { code, error, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_from_the_base_and_stops_at_an_hour() {
        let base = Duration::from_secs(1);
        let pauses: Vec<u64> = (1..=4).map(|t| backoff(base, t).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8]);
        assert_eq!(backoff(base, 40), MAX_PAUSE);
    }

    #[test]
    fn the_signature_is_the_hex_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
