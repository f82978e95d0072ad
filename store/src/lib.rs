//! # agentid-store
//!
//! What the registry and the wallet share below them for storage. Today: [`seal`], the service's
//! own mark on what it writes, so that a fact read back from the database is believed only if
//! this service (a process holding its master key) wrote it; and [`tokens`], bearer tokens'
//! stored form, a keyed hash that nobody without the master key can make.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod seal;
pub mod tokens;

pub use seal::Sealer;
pub use tokens::TokenKey;
