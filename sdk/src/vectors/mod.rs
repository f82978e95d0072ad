//! The deterministic generator of `spec/vectors` (fixed keys, fixed clock), one module per
//! area, and the tests that run them. `AGENTID_REGEN_VECTORS=1 cargo test -p agentid-sdk
//! vectors` rewrites the files; without it, a test fails if regenerating would change a byte.
//! Every vector is made by the code the services run: the verifier, the operation and zone
//! rules, the log's hashing and proofs, the status list codec.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

mod log;
mod operations;
mod status_lists;
mod verification;
mod zones;

/// 2026-01-01T00:00:00Z: the vectors' clock.
const NOW: i64 = 1_767_225_600;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

/// The directories the generator owns: each file in them is one it writes.
const AREAS: [&str; 6] = [
    "verification",
    "identifiers",
    "zones",
    "operations",
    "log",
    "status-lists",
];

/// Everything the generator writes: file name -> JSON text.
fn generate() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    verification::vectors(&mut files);
    zones::vectors(&mut files);
    operations::vectors(&mut files);
    log::vectors(&mut files);
    status_lists::vectors(&mut files);
    files
}

/// The vector files of `area`, parsed, by name.
fn read(area: &str) -> Vec<(String, Value)> {
    agentid_spec::vectors::read(&dir(), area)
}

fn pretty(v: &Value) -> String {
    agentid_spec::vectors::file_text(v)
}

#[test]
fn vectors_are_current() {
    agentid_spec::vectors::keep(&dir(), &generate(), &AREAS);
}
