//! # agentid-spec
//!
//! The normative core of agentid v0.1: identifiers (`did:agentid`, Ed25519 `did:key`, agent
//! names), registry operations, the DID document profile, the delegation credential, the
//! checkout presentation, Bitstring Status Lists and the verification error codes. The prose is in
//! `spec/*.md`; each wire type cites its section.
//!
//! This crate does no I/O and holds no state (but for [`clock`], the time source every layer
//! reads): it parses untrusted bytes into typed values and
//! signs and checks compact JWS with Ed25519. Resolution, caching and policy live in
//! `agentid-resolver` and `agentid-sdk`.
//!
//! Non-goals: JSON-LD processing (credentials are secured with JOSE, not Data Integrity), any
//! algorithm besides EdDSA/Ed25519.
//!
//! ```
//! use agentid_spec::id::AgentName;
//! let name = AgentName::parse("Shopper.Alice").unwrap();
//! assert_eq!(name.to_uri(), "agentid://shopper.alice");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod authorization;
pub mod clock;
pub mod code;
pub mod credential;
pub mod document;
pub mod history;
pub mod id;
pub mod jose;
pub mod log;
pub mod merkle;
pub mod nonce;
pub mod operation;
pub mod presentation;
pub mod standing;
pub mod status_list;
pub mod subdelegation;
pub mod time;
pub mod vectors;
pub mod zone;

pub use code::{Code, ErrorCode, Reason};

/// The PostgreSQL `NOTIFY` channel of the change feed (section 9.4): every committed change a
/// verifier may have cached (a revocation, a deplatforming, a deactivation) notifies it in its
/// own transaction, and every node listening drops what it cached.
pub const CHANGE_FEED_CHANNEL: &str = "agentid_changes";

/// An external conformance vector copied into `spec/vectors/external` (tests only).
#[cfg(test)]
pub(crate) fn external_vector(relative: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/external")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(test)]
mod hostile;
