//! # agentid-store
//!
//! What the registry and the wallet share below them for storage: [`db`], the database itself
//! (the pool and its backend, known once; SQLite's pragmas; the process's writer turn, taken by
//! every writer of the file; migrations; the change feed); [`statement`], statements of many
//! parameters bound for the database at hand; [`seal`], the service's own mark on what it
//! writes, so that a fact read back from the database is believed only if this service (a
//! process holding its master key) wrote it; and [`tokens`], bearer tokens' stored form, a
//! keyed hash that nobody without the master key can make.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod db;
pub mod seal;
pub mod statement;
pub mod tokens;

pub use db::{Backend, Db};
pub use seal::Sealer;
pub use tokens::TokenKey;
