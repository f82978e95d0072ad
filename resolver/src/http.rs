//! Resolution and status list fetching over HTTP.

use std::time::Duration;

use agentid_spec::document::{DidDocument, DocumentMetadata, ResolutionResult};
use agentid_spec::history::{History, MAX_HISTORY};
use agentid_spec::id::{
    did_web_document_url, is_service_url, AgentDid, AGENTID_METHOD_PREFIX, DID_WEB_PREFIX,
};
use agentid_spec::operation::MAX_OPERATION_LEN;
use agentid_spec::time::parse_rfc3339;

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
    /// For event streams: a connect timeout, no total one.
    stream_client: reqwest::Client,
    base_url: String,
    registry_origin: String,
    status_origins: Vec<String>,
    /// Moved by [`HttpSource::follow`] on every pushed change; shared by clones.
    changes: crate::events::Changes,
}

impl HttpSource {
    /// A source resolving against `registry` (`https://...`, or `http://` on loopback such as
    /// `http://127.0.0.1:8080`), with `timeout` on every request. Every `did:agentid` answer is
    /// checked by replaying the agent's signed operations from its genesis (section 5.3).
    pub fn new(registry: &str, timeout: Duration) -> Result<Self, ResolveError> {
        if !is_service_url(registry) {
            return Err(ResolveError::InsecureRegistry(
                registry.chars().take(120).collect(),
            ));
        }
        let registry = registry.trim_end_matches('/').to_owned();
        Ok(Self {
            client: client(timeout)?,
            stream_client: stream_client(timeout)?,
            status_origins: vec![origin(&registry)],
            registry_origin: origin(&registry),
            base_url: registry,
            changes: Default::default(),
        })
    }

    /// A source with no registry: `did:web` documents and status lists from the origins it is
    /// allowed ([`HttpSource::allow_status_origin`]) only.
    pub fn without_registry(timeout: Duration) -> Result<Self, ResolveError> {
        Ok(Self {
            client: client(timeout)?,
            stream_client: stream_client(timeout)?,
            status_origins: Vec::new(),
            registry_origin: String::new(),
            base_url: String::new(),
            changes: Default::default(),
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

    /// Tells the registry of `operation`, one of `did`'s (`POST /v1/agents/{did}/operations`):
    /// its HTTP status. The registry judges it by its own rules and clock; nothing it answers
    /// is taken for more than that status.
    pub async fn submit_operation(
        &self,
        did: &AgentDid,
        operation: &str,
    ) -> Result<u16, ResolveError> {
        if self.base_url.is_empty() {
            return Err(ResolveError::Unreachable("no registry configured".into()));
        }
        let url = format!(
            "{}/v1/agents/{}/operations",
            self.base_url,
            encode_path_segment(did.as_str())
        );
        let body = agentid_spec::api::SubmitOperation {
            operation: operation.to_owned(),
        };
        let resp = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| ResolveError::Unreachable(without_url(e)))?;
        Ok(resp.status().as_u16())
    }

    pub(crate) fn changes(&self) -> &std::sync::atomic::AtomicU64 {
        &self.changes
    }

    pub(crate) fn stream_client(&self) -> &reqwest::Client {
        &self.stream_client
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

fn client(timeout: Duration) -> Result<reqwest::Client, ResolveError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ResolveError::Unreachable(e.to_string()))
}

fn stream_client(timeout: Duration) -> Result<reqwest::Client, ResolveError> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ResolveError::Unreachable(e.to_string()))
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

impl HttpSource {
    /// Replays the signed operations of the agent `result` describes from its genesis and
    /// checks that the registry's document is the one they make: the DID is the genesis' hash,
    /// every operation is signed by a key entitled to it, the head is the result's `versionId`,
    /// and the keys, services and deactivation agree. A registry can withhold an agent (answer
    /// 404), or its latest operations only together with a document that matches them; it
    /// cannot put a key of its own choosing into the document.
    /// Answers the agent's [`Chain`] (empty for a result without an agent's document).
    async fn replay(&self, result: &ResolutionResult) -> Result<Chain, ResolveError> {
        let Some(document) = &result.did_document else {
            return Ok(Chain::default());
        };
        if !document.id.starts_with(AGENTID_METHOD_PREFIX) {
            return Ok(Chain::default());
        }
        let forged = |m: &str| ResolveError::NotReplayed(m.to_owned());
        let did = AgentDid::parse(&document.id)
            .map_err(|_| ResolveError::InvalidResponse("didDocument.id is not a DID".into()))?;
        let url = format!(
            "{}/v1/agents/{}/operations",
            self.base_url,
            encode_path_segment(did.as_str())
        );
        let (status, body) = self
            .get(&url, "application/json", MAX_OPERATIONS_BYTES)
            .await?;
        if status != 200 {
            return Err(ResolveError::NotReplayed(format!(
                "the registry answered HTTP {status} for the agent's operations"
            )));
        }
        let served: agentid_spec::api::AgentOperations = serde_json::from_slice(&body)
            .map_err(|e| ResolveError::InvalidResponse(format!("operations: {e}")))?;
        if served.did != did.as_str() {
            return Err(forged("the operations are another agent's"));
        }
        if served.operations.len() > MAX_HISTORY {
            return Err(forged("more operations than an agent may have"));
        }
        let mut ops = Vec::with_capacity(served.operations.len());
        for op in &served.operations {
            let at = parse_rfc3339(&op.received_at).ok_or_else(|| {
                ResolveError::InvalidResponse("receivedAt is not RFC 3339".into())
            })?;
            ops.push((op.operation.as_str(), at));
        }
        let history = History::replay(ops)
            .map_err(|(i, e)| ResolveError::NotReplayed(format!("operation {i}: {e}")))?;
        if history.did() != &did {
            return Err(forged("the genesis is not the one the DID is the hash of"));
        }
        let metadata = result.did_document_metadata.as_ref();
        if metadata.and_then(|m| m.version_id.as_deref()) != Some(history.head()) {
            return Err(forged(
                "versionId is not the head of the agent's operations",
            ));
        }
        let state = history.state();
        let replayed = state.document(&did, None);
        if document.verification_method != replayed.verification_method
            || document.authentication != replayed.authentication
            || document.assertion_method != replayed.assertion_method
            || document.service != replayed.service
        {
            return Err(forged(
                "the document's keys or services are not the ones signed",
            ));
        }
        // Names are the registry's bindings (claimed at registration, or bound by a zone's
        // owner, section 5.6), not the agent's keys: at most one, well formed.
        let names = &document.also_known_as;
        let well_formed = |a: &String| {
            a.strip_prefix(agentid_spec::id::NAME_URI_PREFIX)
                .is_some_and(|n| agentid_spec::id::AgentName::parse(n).is_ok())
        };
        if names.len() > 1 || !names.iter().all(well_formed) {
            return Err(forged("the document's alsoKnownAs is not one agent name"));
        }
        if metadata.is_some_and(|m| m.deactivated) != state.deactivated {
            return Err(forged("deactivation differs from the agent's operations"));
        }
        Ok(Chain::of(&history))
    }

    /// [`Source::resolve`] for an agent, with its [`Chain`] as the registry holds it, replayed:
    /// what a service that trusts several registries compares, since any of them may hold a
    /// copy of the agent.
    pub async fn resolve_history(
        &self,
        id: &str,
    ) -> Result<(ResolutionResult, Chain), ResolveError> {
        let result = self.registry_result(id).await?;
        let hashes = self.replay(&result).await?;
        Ok((result, hashes))
    }

    /// The registry's resolution result for `id`, not yet replayed.
    async fn registry_result(&self, id: &str) -> Result<ResolutionResult, ResolveError> {
        if self.base_url.is_empty() {
            return Err(ResolveError::Unreachable("no registry configured".into()));
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
}

/// An agent's operations in force as one registry holds them, by hash, genesis first (each
/// the `prev` of the next, the head last; what that registry's own recoveries left).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    /// The operations in force by hash, genesis first.
    pub in_force: Vec<String>,
    /// The same operations, as signed (compact JWS).
    pub operations: Vec<String>,
}

impl Chain {
    /// The chain of `history`.
    pub fn of(history: &agentid_spec::history::History) -> Self {
        let in_force = history.entries().iter().filter(|e| !e.nullified);
        Self {
            in_force: in_force.clone().map(|e| e.hash.clone()).collect(),
            operations: in_force.map(|e| e.jws.clone()).collect(),
        }
    }

    /// The operations of this chain after the beginning it shares with `other`, in order:
    /// what `other`'s registry has not been told (and judges by its own rules and clock when
    /// told, [`HttpSource::submit_operation`]).
    pub fn beyond(&self, other: &Chain) -> &[String] {
        let shared = self
            .in_force
            .iter()
            .zip(&other.in_force)
            .take_while(|(a, b)| a == b)
            .count();
        self.operations.get(shared..).unwrap_or_default()
    }
}

/// Which of `chains` (one agent as several registries hold it) answers, if they agree: each is
/// the longest or its beginning (a registry not yet told of the latest), and the longest
/// answers. `None` when they part ways (or there are none). Each registry's chain is its own:
/// what one registry's recovery undid is never taken out of another's, since whether a
/// recovery came in time is each registry's clock's word (a copy's recovery, in a window its
/// own later receipt times opened, or a lagging clock's, would otherwise take operations out of
/// the true history and hand the agent over).
pub fn agreed(chains: &[&Chain]) -> Option<usize> {
    let longest = (0..chains.len()).max_by_key(|i| chains[*i].in_force.len())?;
    chains
        .iter()
        .all(|c| chains[longest].in_force.starts_with(&c.in_force))
        .then_some(longest)
}

/// Largest list of operations read, in bytes: [`MAX_HISTORY`] of the largest size, and room.
pub const MAX_OPERATIONS_BYTES: usize = MAX_HISTORY * (MAX_OPERATION_LEN + 256);

impl Source for HttpSource {
    fn registry(&self) -> &str {
        &self.registry_origin
    }

    /// Moves when [`HttpSource::follow`] hears of a change (never, if not followed).
    fn generation(&self) -> Option<u64> {
        Some(self.changes.load(std::sync::atomic::Ordering::Acquire))
    }

    async fn resolve(&self, id: &str) -> Result<ResolutionResult, ResolveError> {
        if id.starts_with(DID_WEB_PREFIX) {
            return self.resolve_web(id).await;
        }
        let result = self.registry_result(id).await?;
        self.replay(&result).await?;
        Ok(result)
    }

    async fn fetch_status_list(&self, url: &str) -> Result<String, ResolveError> {
        if !is_service_url(url) {
            return Err(ResolveError::InvalidResponse(
                "status list URL is not https (or http on loopback)".into(),
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
mod chain_tests {
    use super::*;

    fn chain(in_force: &[&str]) -> Chain {
        Chain {
            in_force: in_force.iter().map(|s| s.to_string()).collect(),
            operations: in_force.iter().map(|s| format!("jws-{s}")).collect(),
        }
    }

    /// What a chain holds past the beginning it shares with another.
    #[test]
    fn beyond_the_shared_beginning() {
        let home = chain(&["g", "u", "r"]);
        let copy = chain(&["g", "u", "x", "y"]);
        assert_eq!(home.beyond(&copy), ["jws-r"]);
        assert_eq!(copy.beyond(&home), ["jws-x", "jws-y"]);
        assert!(chain(&["g"]).beyond(&home).is_empty());
        assert_eq!(home.beyond(&chain(&["g"])), ["jws-u", "jws-r"]);
    }

    /// A registry not yet told of the latest agrees; the longest answers.
    #[test]
    fn a_beginning_agrees() {
        let home = chain(&["g", "u"]);
        let copy = chain(&["g"]);
        assert_eq!(agreed(&[&copy, &home]), Some(1));
        assert_eq!(agreed(&[]), None);
    }

    /// A copy continued from an earlier operation (an old key, in a window the copy's own
    /// receipt times or a lagging clock opened again) parts ways: never the longest that
    /// answers, whatever it undid there.
    #[test]
    fn a_fork_parts_ways() {
        let home = chain(&["g", "u0", "u1"]);
        let fork = chain(&["g", "u0", "evil"]);
        assert_eq!(agreed(&[&home, &fork]), None);
        assert_eq!(agreed(&[&fork, &home]), None);
    }

    /// A copy made without what a recovery undid is the same agent; one that still holds it
    /// parts ways (a denial anyone repairs by posting the public recovery there in time).
    #[test]
    fn what_a_recovery_undid_is_each_registrys_own() {
        let home = chain(&["g", "u", "r"]);
        assert!(agreed(&[&chain(&["g", "u", "r"]), &home]).is_some());
        assert_eq!(agreed(&[&chain(&["g", "u", "a"]), &home]), None);
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

    /// Registries over HTTPS, or HTTP on loopback only.
    #[test]
    fn registries_over_https_except_on_loopback() {
        let t = Duration::from_secs(1);
        for ok in [
            "https://registry.example",
            "https://registry.example:8443/",
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(HttpSource::new(ok, t).is_ok(), "{ok}");
        }
        for bad in [
            "http://registry.example",
            "http://10.0.0.1:8080",
            "http://127.0.0.1.evil.example",
            "http://user@127.0.0.1",
            "ftp://registry.example",
            "registry.example",
            "https://",
        ] {
            assert!(
                matches!(
                    HttpSource::new(bad, t),
                    Err(ResolveError::InsecureRegistry(_))
                ),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn status_lists_only_from_allowed_origins() {
        let s = HttpSource::new("http://127.0.0.1:9", Duration::from_millis(200)).unwrap();
        let e = s
            .fetch_status_list("https://169.254.169.254/latest/meta-data")
            .await
            .unwrap_err();
        assert!(matches!(e, ResolveError::InvalidResponse(m) if m.contains("not allowed")));
        // Plain HTTP only on loopback.
        let e = s
            .fetch_status_list("http://169.254.169.254/latest/meta-data")
            .await
            .unwrap_err();
        assert!(matches!(e, ResolveError::InvalidResponse(m) if m.contains("not https")));
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
