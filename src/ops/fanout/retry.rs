//! What `POST /operations/{id}/retry_failed` runs: the same fan-out again, leaving out the
//! targets whose child ended `ok` in the failed run (and in the runs it retried).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::store::operations::OperationRow;

/// What `POST /operations/{id}/retry_failed` adds to the params of the fan-out it runs again:
/// the targets (server, client) that already ended `ok`, left out this time.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Retry {
    pub retry_of: Option<i64>,
    #[serde(default)]
    pub skip: Vec<(i64, Option<i64>)>,
}

impl Retry {
    /// The params of a run of `failed` (a fan-out that did not end `ok`) for the targets its
    /// children did not bring to `ok`.
    pub fn params_after(failed: &OperationRow, children: &[OperationRow]) -> Value {
        let mut params: Value = serde_json::from_str(&failed.params).unwrap_or_else(|_| json!({}));
        let mut skip = serde_json::from_value::<Retry>(params.clone())
            .map(|r| r.skip)
            .unwrap_or_default();
        skip.extend(
            children
                .iter()
                .filter(|c| c.status == "ok")
                .map(|c| (c.server_id.unwrap_or_default(), c.client_id)),
        );
        skip.sort_unstable();
        skip.dedup();
        params["retry_of"] = json!(failed.id);
        params["skip"] = json!(skip);
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::fanout::FanOut;

    fn row(id: i64, server: i64, client: Option<i64>, status: &str, params: &str) -> OperationRow {
        let now = chrono::Utc::now();
        OperationRow {
            id,
            kind: "migrate_all".into(),
            server_id: Some(server),
            client_id: client,
            parent_id: None,
            lock_scope: "server".into(),
            status: status.into(),
            status_detail: String::new(),
            requested_by: "admin".into(),
            params: params.into(),
            attempt: 1,
            max_attempts: 3,
            result: None,
            error: None,
            cancel_requested: false,
            worker_id: None,
            lease_until: None,
            enqueued_at: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        }
    }

    #[test]
    fn a_retry_leaves_out_what_ended_ok_in_every_earlier_run_and_keeps_the_settings() {
        // The run being retried was itself a retry that left out client 1.
        let failed = row(
            9,
            5,
            None,
            "error",
            r#"{"parallel":2,"canary":true,"stop_on_error":false,"version":"1.4-master","retry_of":3,"skip":[[5,1]]}"#,
        );
        let children = [
            row(10, 5, Some(2), "ok", "{}"),
            row(11, 5, Some(3), "error", "{}"),
            row(12, 5, Some(4), "cancelled", "{}"),
        ];
        let params = Retry::params_after(&failed, &children);
        assert_eq!(params["retry_of"], 9);
        assert_eq!(params["skip"], json!([[5, 1], [5, 2]]));
        assert_eq!(params["version"], "1.4-master");
        assert_eq!(params["parallel"], 2);
        let how: FanOut = serde_json::from_value(params).unwrap();
        assert!(how.canary);
    }
}
