//! Identifiers (spec section 2): `did:agentid`, `did:key` (Ed25519 only) and agent names.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The method name of agentid's own DID method.
pub const AGENTID_METHOD_PREFIX: &str = "did:agentid:";
/// The prefix of a `did:key`.
pub const DID_KEY_PREFIX: &str = "did:key:";
/// Multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed as a varint).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];
/// Length of the method-specific id of a `did:agentid`: base32 of a full SHA-256 digest.
pub const AGENT_ID_LEN: usize = 52;

/// Why an identifier did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not of the form `did:<method>:<id>` with a method this crate knows.
    #[error("invalid DID: {0}")]
    InvalidDid(String),
    /// A syntactically valid DID of another method.
    #[error("DID method not supported: {0}")]
    MethodNotSupported(String),
    /// A `did:key` that is not a 32-byte Ed25519 key.
    #[error("did:key is not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// An agent name that breaks section 2.3.
    #[error("invalid agent name: {0}")]
    InvalidName(String),
}

/// A `did:agentid:<id>` (section 2.1). `<id>` is the lowercase unpadded base32 (RFC 4648) of the
/// SHA-256 digest of the agent's signed genesis operation, as transmitted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentDid(String);

impl AgentDid {
    /// The DID derived from the bytes of a signed genesis operation (its compact JWS).
    pub fn from_genesis(signed_genesis: &str) -> Self {
        Self(format!(
            "{AGENTID_METHOD_PREFIX}{}",
            hash_b32(signed_genesis.as_bytes())
        ))
    }

    /// Parses a `did:agentid`, rejecting any other method.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let Some(id) = s.strip_prefix(AGENTID_METHOD_PREFIX) else {
            return Err(if is_did_syntax(s) {
                IdError::MethodNotSupported(truncate(s))
            } else {
                IdError::InvalidDid(truncate(s))
            });
        };
        if id.len() != AGENT_ID_LEN || !id.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')) {
            return Err(IdError::InvalidDid(truncate(s)));
        }
        Ok(Self(s.to_owned()))
    }

    /// The method-specific id.
    pub fn id(&self) -> &str {
        &self.0[AGENTID_METHOD_PREFIX.len()..]
    }

    /// The DID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AgentDid {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<AgentDid> for String {
    fn from(d: AgentDid) -> String {
        d.0
    }
}

impl fmt::Display for AgentDid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase unpadded base32 of SHA-256: the form of agent ids and operation hashes.
pub fn hash_b32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD
        .encode(&Sha256::digest(bytes))
        .to_ascii_lowercase()
}

/// Whether `s` looks like `did:<method>:<something>` (DID Core 3.1, loosely).
pub fn is_did_syntax(s: &str) -> bool {
    let mut parts = s.splitn(3, ':');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("did"), Some(m), Some(rest))
            if !m.is_empty()
                && m.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && !rest.is_empty()
    )
}

/// Whether every byte of `s` is an ASCII letter or digit or one of `extra`. Branch-free per
/// byte, so the compiler turns it into vector compares: identifiers are checked on the hot path
/// of every verification.
pub(crate) fn all_alphanumeric_or(s: &str, extra: &[u8]) -> bool {
    s.bytes().fold(true, |ok, b| {
        let alnum = (b | 0x20).wrapping_sub(b'a') < 26 || b.wrapping_sub(b'0') < 10;
        let other = extra.iter().fold(false, |hit, &e| hit | (b == e));
        ok & (alnum | other)
    })
}

/// DID Core `idchar` without percent-encodings, plus the `:` between segments.
const DID_ID_EXTRA: &[u8] = b".-_:";

/// Longest DID agentid accepts anywhere, in bytes.
pub const MAX_DID_LEN: usize = 256;

/// Any DID (DID Core section 3.1): `did:` + a method of `a-z0-9` + `:` + a method-specific id of
/// `idchar`s (`A-Za-z0-9._-` and percent-encodings) in `:`-separated segments, the last one
/// non-empty; no path, query or fragment; at most [`MAX_DID_LEN`] bytes. Merchants, issuers,
/// holders and subjects are `Did`s: a value that exists has this syntax.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Did(String);

impl Did {
    /// Parses a DID.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::InvalidDid(truncate(s));
        if s.len() > MAX_DID_LEN {
            return Err(bad());
        }
        let rest = s.strip_prefix("did:").ok_or_else(bad)?;
        let (method, id) = rest.split_once(':').ok_or_else(bad)?;
        if method.is_empty()
            || !method
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(bad());
        }
        if id.is_empty() || id.ends_with(':') {
            return Err(bad());
        }
        // Percent-encodings are rare: check them only when there is a '%'.
        if !all_alphanumeric_or(id, DID_ID_EXTRA) {
            let bytes = id.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'%' => {
                        let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err(bad());
                        }
                        i += 3;
                    }
                    b if b.is_ascii_alphanumeric() || DID_ID_EXTRA.contains(&b) => i += 1,
                    _ => return Err(bad()),
                }
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// The DID as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The method name, e.g. `key` or `agentid`.
    pub fn method(&self) -> &str {
        self.0["did:".len()..].split(':').next().unwrap_or_default()
    }
}

impl std::str::FromStr for Did {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Did {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<Did> for String {
    fn from(d: Did) -> String {
        d.0
    }
}

impl From<AgentDid> for Did {
    fn from(d: AgentDid) -> Did {
        Did(d.0)
    }
}

impl From<DidKey> for Did {
    fn from(d: DidKey) -> Did {
        Did(d.did)
    }
}

impl PartialEq<str> for Did {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

/// An Ed25519 `did:key` (section 2.2; W3C CCG did:key v0.7): `did:key:z` + base58btc of the
/// multicodec `0xed01` followed by the 32 key bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DidKey {
    did: String,
    key: [u8; 32],
}

impl DidKey {
    /// The `did:key` of an Ed25519 public key.
    pub fn from_public_key(key: &VerifyingKey) -> Self {
        Self {
            did: format!("{DID_KEY_PREFIX}{}", multibase_ed25519(key.as_bytes())),
            key: key.to_bytes(),
        }
    }

    /// Parses an Ed25519 `did:key`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let Some(mb) = s.strip_prefix(DID_KEY_PREFIX) else {
            return Err(if is_did_syntax(s) {
                IdError::MethodNotSupported(truncate(s))
            } else {
                IdError::InvalidDid(truncate(s))
            });
        };
        let key = parse_multibase_ed25519(mb)?;
        Ok(Self {
            did: s.to_owned(),
            key,
        })
    }

    /// The DID string.
    pub fn as_str(&self) -> &str {
        &self.did
    }

    /// The multibase value (also the fragment of its only verification method).
    pub fn multibase(&self) -> &str {
        &self.did[DID_KEY_PREFIX.len()..]
    }

    /// The DID URL of its only verification method, `did:key:z..#z..`.
    pub fn key_id(&self) -> String {
        format!("{}#{}", self.did, self.multibase())
    }

    /// The raw public key bytes.
    pub fn public_key_bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// The public key, checked to be a valid curve point not of small order.
    pub fn verifying_key(&self) -> Result<VerifyingKey, IdError> {
        VerifyingKey::from_bytes(&self.key)
            .ok()
            .filter(|k| !k.is_weak())
            .ok_or(IdError::InvalidPublicKey)
    }
}

impl TryFrom<String> for DidKey {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<DidKey> for String {
    fn from(d: DidKey) -> String {
        d.did
    }
}

impl fmt::Display for DidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.did)
    }
}

/// `z` + base58btc(0xed01 || key): the Multikey `publicKeyMultibase` of an Ed25519 key.
pub fn multibase_ed25519(key: &[u8; 32]) -> String {
    let mut buf = Vec::with_capacity(34);
    buf.extend_from_slice(&ED25519_MULTICODEC);
    buf.extend_from_slice(key);
    format!("z{}", bs58::encode(buf).into_string())
}

/// Parses a Multikey `publicKeyMultibase` holding an Ed25519 key.
pub fn parse_multibase_ed25519(mb: &str) -> Result<[u8; 32], IdError> {
    let Some(b58) = mb.strip_prefix('z') else {
        return Err(IdError::InvalidDid(truncate(mb)));
    };
    // 34 bytes of base58 never exceed 48 characters; refuse long input before decoding it.
    if b58.len() > 48 {
        return Err(IdError::InvalidPublicKey);
    }
    let bytes = bs58::decode(b58)
        .into_vec()
        .map_err(|_| IdError::InvalidDid(truncate(mb)))?;
    if bytes.len() != 34 || bytes[..2] != ED25519_MULTICODEC {
        return Err(IdError::InvalidPublicKey);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes[2..]);
    Ok(key)
}

/// Splits a DID URL `did:...#fragment` into the DID and the fragment.
pub fn split_did_url(url: &str) -> Option<(&str, &str)> {
    let (did, fragment) = url.split_once('#')?;
    if !is_did_syntax(did) || fragment.is_empty() || did.contains(['?', '/']) {
        return None;
    }
    Some((did, fragment))
}

/// A human-readable agent name (section 2.3), e.g. `shopper.alice`: 1 to 8 dot-separated labels
/// of 1 to 63 characters from `a-z`, `0-9` and `-` (not at either end of a label), at most 253
/// characters in all. The rightmost label is the namespace and starts with a letter. Names are compared in lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgentName(String);

/// The URI scheme under which names appear in `alsoKnownAs`.
pub const NAME_URI_PREFIX: &str = "agentid://";

impl AgentName {
    /// Maximum number of labels.
    pub const MAX_LABELS: usize = 8;
    /// Maximum total length.
    pub const MAX_LEN: usize = 253;

    /// Parses and normalises (lowercases) a name.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::InvalidName(truncate(s));
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(bad());
        }
        let lower = s.to_ascii_lowercase();
        let labels: Vec<&str> = lower.split('.').collect();
        if labels.len() > Self::MAX_LABELS {
            return Err(bad());
        }
        for label in labels {
            let ok = (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad());
            }
        }
        // The namespace starts with a letter, so no name reads as an IP address.
        if !lower
            .rsplit('.')
            .next()
            .is_some_and(|ns| ns.as_bytes()[0].is_ascii_lowercase())
        {
            return Err(bad());
        }
        Ok(Self(lower))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace: the rightmost label.
    pub fn namespace(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or(&self.0)
    }

    /// The `alsoKnownAs` URI of this name.
    pub fn to_uri(&self) -> String {
        format!("{NAME_URI_PREFIX}{}", self.0)
    }
}

impl TryFrom<String> for AgentName {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<AgentName> for String {
    fn from(n: AgentName) -> String {
        n.0
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Prefix of `did:web` DIDs.
pub const DID_WEB_PREFIX: &str = "did:web:";

/// Hosts whose `did:web` documents are fetched over plain HTTP (tests and local services);
/// every other host is reached over HTTPS.
fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Whether `url` may be a service endpoint or a registry's address: `https://host...`, or
/// `http://` to a loopback host; no userinfo, no white space or control characters.
pub fn is_service_url(url: &str) -> bool {
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", rest)) => ("https", rest),
        Some(("http", rest)) => ("http", rest),
        _ => return false,
    };
    if url.bytes().any(|b| b <= b' ' || b == 0x7f || b >= 0x80) {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return false;
    }
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return false,
        None => authority,
    };
    if host.is_empty() {
        return false;
    }
    scheme == "https" || is_loopback_host(host)
}

/// The `did:web` of the service at `url` (`https://host[:port][/path]`): the host, its port
/// after a percent-encoded colon, then each path segment after a `:` (did:web section 3.2).
/// `None` for URLs that are not http(s), carry a query, userinfo or empty segments.
pub fn did_web_for_url(url: &str) -> Option<Did> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let rest = rest.trim_end_matches('/');
    if rest.contains(['?', '#', '@', '%']) {
        return None;
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        Some(_) => return None,
        None => (authority, None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
    {
        return None;
    }
    let mut did = format!("{DID_WEB_PREFIX}{}", host.to_ascii_lowercase());
    if let Some(p) = port {
        did.push_str("%3A");
        did.push_str(p);
    }
    for segment in path.split('/').filter(|_| !path.is_empty()) {
        if segment.is_empty() || segment.contains(':') {
            return None;
        }
        did.push(':');
        did.push_str(segment);
    }
    Did::parse(&did).ok()
}

/// Where the document of a `did:web` lives (did:web section 3.2, Read): `https://` (`http://`
/// for a loopback host), the host and port, the path segments, and `/.well-known/did.json` when
/// there is no path, `/did.json` otherwise. `None` if `did` is not a well-formed `did:web`.
pub fn did_web_document_url(did: &str) -> Option<String> {
    let id = did.strip_prefix(DID_WEB_PREFIX)?;
    Did::parse(did).ok()?;
    let mut parts = id.split(':');
    let authority = parts.next()?;
    let (host, port) = match authority
        .split_once("%3A")
        .or_else(|| authority.split_once("%3a"))
    {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        Some(_) => return None,
        None => (authority, None),
    };
    if host.is_empty()
        || host.contains('%')
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
    {
        return None;
    }
    let scheme = if is_loopback_host(host) {
        "http"
    } else {
        "https"
    };
    let mut url = format!("{scheme}://{host}");
    if let Some(p) = port {
        url.push(':');
        url.push_str(p);
    }
    let mut had_path = false;
    for segment in parts {
        if segment.is_empty() || segment == "." || segment == ".." {
            return None;
        }
        url.push('/');
        url.push_str(segment);
        had_path = true;
    }
    url.push_str(if had_path {
        "/did.json"
    } else {
        "/.well-known/did.json"
    });
    Some(url)
}

#[cfg(test)]
mod did_web_tests {
    use super::*;

    #[test]
    fn maps_urls_and_dids_both_ways() {
        for (url, did, doc) in [
            (
                "https://wallet.example",
                "did:web:wallet.example",
                "https://wallet.example/.well-known/did.json",
            ),
            (
                "http://127.0.0.1:8080/",
                "did:web:127.0.0.1%3A8080",
                "http://127.0.0.1:8080/.well-known/did.json",
            ),
            (
                "https://Example.com:3000/user/alice",
                "did:web:example.com%3A3000:user:alice",
                "https://example.com:3000/user/alice/did.json",
            ),
        ] {
            assert_eq!(did_web_for_url(url).unwrap().as_str(), did, "{url}");
            assert_eq!(did_web_document_url(did).unwrap(), doc, "{did}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://a@b",
            "https://a:b",
            "https://a//b",
            "https://a?x",
        ] {
            assert!(did_web_for_url(bad).is_none(), "{bad}");
        }
        for bad in [
            "did:key:z6Mk",
            "did:web:",
            "did:web:a%2Fb",
            "did:web:a%3A",
            "did:web:a::b",
            "did:web:a:..",
            "did:web:a%3Ax",
        ] {
            assert!(did_web_document_url(bad).is_none(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_did_roundtrip_and_rejects() {
        let did = AgentDid::from_genesis("a.b.c");
        assert_eq!(did.id().len(), AGENT_ID_LEN);
        assert_eq!(AgentDid::parse(did.as_str()).unwrap(), did);
        assert!(matches!(
            AgentDid::parse("did:web:example.com"),
            Err(IdError::MethodNotSupported(_))
        ));
        assert!(matches!(
            AgentDid::parse("nope"),
            Err(IdError::InvalidDid(_))
        ));
        assert!(AgentDid::parse("did:agentid:short").is_err());
        let upper = did
            .as_str()
            .to_ascii_uppercase()
            .replace("DID:AGENTID:", "did:agentid:");
        assert!(AgentDid::parse(&upper).is_err());
    }

    #[test]
    fn names_follow_section_2_3() {
        assert_eq!(
            AgentName::parse("Shopper.Alice").unwrap().as_str(),
            "shopper.alice"
        );
        assert_eq!(
            AgentName::parse("shopper.alice").unwrap().namespace(),
            "alice"
        );
        for bad in ["", ".", "a..b", "-a.b", "a-.b", "a_b", "a b", "é.b", "a.b."] {
            assert!(AgentName::parse(bad).is_err(), "{bad}");
        }
        let label63 = "a".repeat(63);
        assert!(AgentName::parse(&label63).is_ok());
        assert!(AgentName::parse(&"a".repeat(64)).is_err());
        let nine = ["a"; 9].join(".");
        assert!(AgentName::parse(&nine).is_err());
        assert!(AgentName::parse(&["a"; 8].join(".")).is_ok());
    }

    /// The atproto interop suite's handle lists. Their syntax is DNS hostname syntax, which ours
    /// narrows (at most 8 labels; a one-label name is allowed, as a namespace). Every valid handle
    /// within 8 labels parses; every invalid one with a dot is rejected.
    #[test]
    fn atproto_handle_vectors() {
        let read = |f: &str| crate::external_vector(&format!("atproto-interop-tests/syntax/{f}"));
        let lines = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let mut checked = 0;
        for valid in lines(&read("handle_syntax_valid.txt")) {
            if valid.split('.').count() <= AgentName::MAX_LABELS {
                assert!(
                    AgentName::parse(&valid).is_ok(),
                    "valid handle rejected: {valid}"
                );
                checked += 1;
            }
        }
        for invalid in lines(&read("handle_syntax_invalid.txt")) {
            // A one-label name is a namespace to us; atproto requires a dot.
            if invalid.contains('.') {
                assert!(
                    AgentName::parse(&invalid).is_err(),
                    "invalid handle accepted: {invalid}"
                );
                checked += 1;
            }
        }
        assert!(checked > 40, "too few vectors checked: {checked}");
    }
}

#[cfg(test)]
mod vector_tests {
    use super::*;

    /// `spec/vectors/identifiers/genesis.json`: the DID is the hash of the signed genesis.
    #[test]
    fn genesis_vector_did() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/vectors/identifiers/genesis.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let did = AgentDid::from_genesis(v["input"]["operation"].as_str().unwrap());
        assert_eq!(did.as_str(), v["output"]["did"]);
        let payload: crate::operation::Operation =
            serde_json::from_value(v["output"]["payload"].clone()).unwrap();
        payload.validate().unwrap();
    }
}

#[cfg(test)]
mod did_tests {
    use super::*;

    #[test]
    fn did_syntax() {
        for ok in [
            "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
            "did:web:example.com%3A8443:shop",
            "did:example:a:b",
            "did:agentid:aaaa",
        ] {
            let d = Did::parse(ok).unwrap();
            assert_eq!(d.as_str(), ok);
        }
        assert_eq!(Did::parse("did:web:x").unwrap().method(), "web");
        for bad in [
            "",
            "m",
            "did:",
            "did::x",
            "did:Key:x",
            "did:key:",
            "did:key:a:",
            "did:key:a#frag",
            "did:key:a?q",
            "did:key:a/b",
            "did:key:%zz",
            "did:key:%4",
            "did:key:a b",
        ] {
            assert!(Did::parse(bad).is_err(), "{bad}");
        }
        let long = format!("did:x:{}", "a".repeat(MAX_DID_LEN - 6));
        assert!(Did::parse(&long).is_ok());
        assert!(Did::parse(&format!("{long}a")).is_err());
        assert!(serde_json::from_str::<Did>("\"nope\"").is_err());
    }
}

#[cfg(test)]
mod weak_key_tests {
    use super::*;

    /// The identity point (small order) is a valid encoding but never a usable key.
    #[test]
    fn small_order_keys_are_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let did = format!("{DID_KEY_PREFIX}{}", multibase_ed25519(&identity));
        let parsed = DidKey::parse(&did).unwrap();
        assert_eq!(parsed.verifying_key(), Err(IdError::InvalidPublicKey));
    }
}
