//! # agentid-sdk
//!
//! What agents and merchants embed. Agents hold a [`keys::KeyPair`], sign registry operations
//! ([`operation`]) and checkout presentations ([`present`]). Merchants run one call,
//! [`verify::Verifier::verify`], and get a [`verify::Decision`]: accepted, or rejected with
//! every reason as a stable code from `agentid-spec`.
//!
//! The SDK has no server framework and no database. It resolves DIDs and fetches status lists
//! through an `agentid_resolver::Source` (HTTP by default) and caches both within bounds the
//! merchant sets in [`verify::Limits`].
//!
//! A verifier decides from a [`verify::TrustPolicy`]: the registries that vouch for agents and
//! the wallets that vouch for principals and their budgets. An accepted presentation carries
//! its wallet's spend authorization, a hold against the delegation's budget.
//!
//! An agent may pass a narrower delegation to a sub-agent: the verifier checks the whole
//! chain, each link no wider than the one before it. With the `client` feature, [`client`] is
//! a typed client of the service's HTTP API (register, update, delegate, sub-delegate, hold,
//! settle, verify, zones, moderation and operators, the log and its proofs), with
//! `agentid_spec::api`'s types in and out: the `agentid` command line is built on it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use agentid_sdk::{clock::SystemClock, verify::{CheckoutContext, Limits, TrustPolicy, Verifier}};
//! use agentid_resolver::http::HttpSource;
//!
//! # async fn run(token: &str) {
//! let source = HttpSource::new("http://127.0.0.1:8080", std::time::Duration::from_secs(2)).unwrap();
//! let policy = TrustPolicy::new()
//!     .trust_registry("http://127.0.0.1:8080")
//!     .trust_wallet("did:web:127.0.0.1%3A8080".parse().unwrap());
//! let verifier = Verifier::new(source, policy, Arc::new(SystemClock), Limits::default());
//! let merchant = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp".parse().unwrap();
//! let ctx = CheckoutContext::new(merchant, agentid_spec::presentation::Nonce::parse("n-123").unwrap());
//! let decision = verifier.verify(token, &ctx).await;
//! println!("{}", serde_json::to_string(&decision).unwrap());
//! if let Some(authorization) = decision.authorization() {
//!     println!("{} may spend for {}", authorization.agent(), authorization.principal());
//! }
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod client;
pub mod issue;
pub mod keys;
pub mod operation;
pub mod present;
pub mod verify;

pub use agentid_resolver as resolver;
pub use agentid_spec as spec;
pub use agentid_spec::clock;

#[cfg(test)]
mod vectors;
#[cfg(test)]
mod vectors_support {
    /// The decoded payload of a compact JWS.
    pub(crate) fn payload(jws: &str) -> Vec<u8> {
        agentid_spec::jose::b64u_decode(jws.split('.').nth(1).unwrap()).unwrap()
    }
}
