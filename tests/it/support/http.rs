//! Requests in the encodings the API accepts, and their answers.

use reqwest::StatusCode;
use serde_json::Value;

/// A response, already read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text))
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// The problems a 422 names for `field`.
    #[track_caller]
    pub fn field_problems(&self, field: &str) -> Vec<String> {
        let body = self.json();
        assert_eq!(
            body["error"], "validation_failed",
            "not a validation error: {}",
            self.text
        );
        body["fields"][field]
            .as_array()
            .unwrap_or_else(|| panic!("no problem named for {field:?}: {}", self.text))
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    }
}

/// A request body in one of the encodings the API accepts.
pub enum Body {
    None,
    Form(Vec<(String, String)>),
    Multipart(Vec<(String, String)>),
    Json(Value),
}

pub fn form(pairs: &[(&str, &str)]) -> Body {
    Body::Form(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

pub fn multipart(pairs: &[(&str, &str)]) -> Body {
    Body::Multipart(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}
