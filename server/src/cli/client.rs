//! A small JSON-over-HTTP client for the service's API.

use std::time::Duration;

use serde_json::Value;

use super::Failure;

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub(crate) fn new(base: &str) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::new("client_error", e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends a request and returns the JSON body of a 2xx answer; a non-2xx answer becomes a
    /// failure carrying the service's error code.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let (status, json) = self.call_any(method, path, bearer, body).await?;
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let code = json["error"]["code"]
            .as_str()
            .or_else(|| json["didResolutionMetadata"]["error"].as_str())
            .unwrap_or("http_error");
        let message = json["error"]["message"]
            .as_str()
            .or_else(|| json["didResolutionMetadata"]["errorMessage"].as_str())
            .map_or_else(
                || format!("HTTP {status}"),
                |m| format!("HTTP {status}: {m}"),
            );
        Err(Failure::new(code, message))
    }

    /// Sends a request and returns the status and JSON body, whatever the status.
    pub(crate) async fn call_any(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Self::send(&self.base, req).await
    }

    async fn send(base: &str, req: reqwest::RequestBuilder) -> Result<(u16, Value), Failure> {
        let resp = req.send().await.map_err(|e| {
            Failure::new(
                "unreachable",
                format!("cannot reach {base}: {}", e.without_url()),
            )
        })?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Failure::new("unreachable", e.without_url().to_string()))?;
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::json!({ "error": { "code": "http_error", "message": String::from_utf8_lossy(&bytes) } })
        });
        Ok((status, json))
    }
}
