//! Resolution and status list fetching over HTTP.

use std::time::Duration;

use agentid_spec::document::{DidDocument, DocumentMetadata, ResolutionResult};
use agentid_spec::id::{did_web_document_url, DID_WEB_PREFIX};

use crate::{ResolveError, Source};

/// Largest resolution result accepted, in bytes.
pub const MAX_RESOLUTION_BYTES: usize = 64 * 1024;
/// Largest status list credential accepted, in bytes (a 2 MiB list compresses far below this
/// unless it is noise; noise past this size is refused rather than read).
pub const MAX_STATUS_LIST_BYTES: usize = 4 * 1024 * 1024;

/// Talks to one agentid registry's `/1.0/identifiers/` endpoint and to status list URLs.
///
/// Status lists are fetched only from allowed origins (by default the registry's own), so that a
/// credential cannot make a verifier send requests to arbitrary hosts.
#[derive(Clone, Debug)]
pub struct HttpSource {
    client: reqwest::Client,
    base_url: String,
    registry_origin: String,
    status_origins: Vec<String>,
}

impl HttpSource {
    /// A source resolving against `registry` (e.g. `http://127.0.0.1:8080`), with `timeout` on
    /// every request.
    pub fn new(registry: &str, timeout: Duration) -> Result<Self, ResolveError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ResolveError::Unreachable(e.to_string()))?;
        let registry = registry.trim_end_matches('/').to_owned();
        Ok(Self {
            client,
            status_origins: vec![origin(&registry)],
            registry_origin: origin(&registry),
            base_url: registry,
        })
    }

    /// Also fetches status lists from `url`'s origin (scheme, host and port).
    pub fn allow_status_origin(mut self, url: &str) -> Self {
        self.status_origins.push(origin(url));
        self
    }

    /// The registry base URL.
    pub fn registry_url(&self) -> &str {
        &self.base_url
    }

    async fn get(
        &self,
        url: &str,
        accept: &str,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), ResolveError> {
        let mut resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| ResolveError::Unreachable(without_url(e)))?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(ResolveError::InvalidResponse(format!(
                "body over {limit} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ResolveError::Unreachable(without_url(e)))?
        {
            if body.len() + chunk.len() > limit {
                return Err(ResolveError::InvalidResponse(format!(
                    "body over {limit} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

/// `scheme://host[:port]` of a URL, lowercased.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// Percent-encodes everything but unreserved characters and `:` (RFC 3986 section 2.3).
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl HttpSource {
    /// Fetches the document of a `did:web` from its host (HTTPS, or HTTP on loopback) and
    /// checks that it is the document of that DID.
    pub async fn resolve_web(&self, did: &str) -> Result<ResolutionResult, ResolveError> {
        let url = did_web_document_url(did)
            .ok_or_else(|| ResolveError::InvalidDid(did.chars().take(120).collect()))?;
        let (status, body) = self
            .get(&url, "application/did+json", MAX_RESOLUTION_BYTES)
            .await?;
        match status {
            200 => {}
            404 => return Err(ResolveError::NotFound),
            other => {
                return Err(ResolveError::Unreachable(format!(
                    "did:web host answered HTTP {other}"
                )))
            }
        }
        let document: DidDocument = serde_json::from_slice(&body)
            .map_err(|e| ResolveError::InvalidResponse(format!("did:web document: {e}")))?;
        if document.id != did {
            return Err(ResolveError::InvalidResponse(
                "did:web document is for another DID".into(),
            ));
        }
        Ok(ResolutionResult::found(
            document,
            DocumentMetadata::unregistered(),
        ))
    }
}

impl Source for HttpSource {
    fn registry(&self) -> &str {
        &self.registry_origin
    }

    async fn resolve(&self, id: &str) -> Result<ResolutionResult, ResolveError> {
        if id.starts_with(DID_WEB_PREFIX) {
            return self.resolve_web(id).await;
        }
        let url = format!(
            "{}/1.0/identifiers/{}",
            self.base_url,
            encode_path_segment(id)
        );
        let (status, body) = self
            .get(
                &url,
                "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
                MAX_RESOLUTION_BYTES,
            )
            .await?;
        match status {
            // 410: deactivated or deplatformed, with the full result so the verifier sees why.
            200 | 410 => serde_json::from_slice(&body)
                .map_err(|e| ResolveError::InvalidResponse(format!("resolution result: {e}"))),
            404 => Err(ResolveError::NotFound),
            400 => Err(ResolveError::InvalidDid(id.chars().take(120).collect())),
            501 => Err(ResolveError::MethodNotSupported(
                id.chars().take(40).collect(),
            )),
            other => Err(ResolveError::Unreachable(format!(
                "registry answered HTTP {other}"
            ))),
        }
    }

    async fn fetch_status_list(&self, url: &str) -> Result<String, ResolveError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ResolveError::InvalidResponse(
                "status list URL is not http(s)".into(),
            ));
        }
        let o = origin(url);
        if !self.status_origins.contains(&o) {
            return Err(ResolveError::InvalidResponse(format!(
                "status list origin {} is not allowed",
                o.chars().take(120).collect::<String>()
            )));
        }
        let (status, body) = self
            .get(url, "application/vc+jwt", MAX_STATUS_LIST_BYTES)
            .await?;
        if status != 200 {
            return Err(ResolveError::Unreachable(format!(
                "status list server answered HTTP {status}"
            )));
        }
        String::from_utf8(body)
            .map(|s| s.trim().to_owned())
            .map_err(|_| ResolveError::InvalidResponse("status list is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:8080/v1/status/x"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin("HTTPS://Wallet.Example?x#y"),
            "https://wallet.example"
        );
        assert_eq!(
            origin("http://a.example@evil.example/"),
            "http://a.example@evil.example"
        );
    }

    #[tokio::test]
    async fn status_lists_only_from_allowed_origins() {
        let s = HttpSource::new("http://127.0.0.1:9", Duration::from_millis(200)).unwrap();
        let e = s
            .fetch_status_list("http://169.254.169.254/latest/meta-data")
            .await
            .unwrap_err();
        assert!(matches!(e, ResolveError::InvalidResponse(m) if m.contains("not allowed")));
        // The registry's own origin is allowed (and here unreachable).
        let e = s
            .fetch_status_list("http://127.0.0.1:9/v1/status/a")
            .await
            .unwrap_err();
        assert!(matches!(e, ResolveError::Unreachable(_)), "{e:?}");
        let s = s.allow_status_origin("https://wallet.example/anything");
        assert!(s
            .status_origins
            .contains(&"https://wallet.example".to_owned()));
    }
}
