//! Prometheus metrics: requests by route and status, and a latency histogram.
//!
//! The recorder belongs to the app (not installed globally), so several apps in one process,
//! as in the tests, keep separate figures.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// This process's figures, shared by every request.
pub struct Metrics {
    recorder: PrometheusRecorder,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("buckets are not empty")
            .build_recorder();
        Self { recorder }
    }
}

impl Metrics {
    pub fn observe(&self, route: String, method: String, status: u16, seconds: f64) {
        metrics::with_local_recorder(&self.recorder, || {
            metrics::counter!(
                "alfa_http_requests_total",
                "route" => route.clone(),
                "method" => method.clone(),
                "status" => status.to_string()
            )
            .increment(1);
            metrics::histogram!(
                "alfa_http_request_duration_seconds",
                "route" => route,
                "method" => method
            )
            .record(seconds);
        });
    }

    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }
}
