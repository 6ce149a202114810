//! `GET /operations/{id}/events`: an operation's log and status as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::input::Id;
use super::operations::{load, read_log, status_text};
use crate::error::ApiResult;
use crate::state::AppState;

/// How often the event stream looks for new lines.
const EVENTS_POLL: Duration = Duration::from_millis(100);

/// Server-Sent Events: `line` events (id = sequence number) and `status` events as they
/// happen, then `end`. Reconnecting with `Last-Event-ID` resumes after that line.
#[utoipa::path(get, path = "/operations/{id}/events", tag = "operations", params(("id" = i64, Path)),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream")))]
pub async fn events(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    load(&state, id).await?;
    let mut cursor = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let stream = async_stream(move |tx| async move {
        let mut last_status = String::new();
        loop {
            let Ok((row, lines, complete)) = read_log(&state, id, cursor).await else {
                return;
            };
            for line in &lines {
                cursor = line.seq;
                let event = Event::default()
                    .event("line")
                    .id(line.seq.to_string())
                    .json_data(line);
                if tx
                    .send(event.expect("a log line serialises"))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let text = status_text(&row);
            if text != last_status {
                let data = serde_json::json!({ "status": row.status, "status_text": text });
                if tx
                    .send(Event::default().event("status").data(data.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
                last_status = text;
            }
            if complete {
                let _ = tx
                    .send(Event::default().event("end").data(row.status))
                    .await;
                return;
            }
            if lines.is_empty() {
                tokio::time::sleep(EVENTS_POLL).await;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A stream fed by a task through a small channel (backpressure: a slow reader slows the
/// polling, never grows a buffer).
fn async_stream<F, Fut>(producer: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(producer(tx));
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}
