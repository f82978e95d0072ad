//! How the files of `spec/vectors` are written and kept current. Each crate that makes vectors
//! (the SDK for verification, operations, zones, the log and status lists; the wallet for
//! ledger decisions) generates them with the code the services run, deterministically, and
//! calls [`keep`] from a test: with `AGENTID_REGEN_VECTORS` set it writes them, otherwise it
//! fails if regenerating would change a byte, or if a file in one of its areas is not one it
//! writes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// `v` as a vector file holds it: members sorted at every level (so the bytes do not depend on
/// whether serde_json's `preserve_order` is enabled in a build), pretty-printed, one final
/// newline.
pub fn file_text(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // A Value always serialises.
    let mut s = serde_json::to_string_pretty(&sorted(v)).expect("a JSON value serialises");
    s.push('\n');
    s
}

/// Writes `files` (path under `dir` -> text) when `AGENTID_REGEN_VECTORS` is set; otherwise
/// panics, naming the file, if one on disk differs or is missing, or if a directory of `areas`
/// holds a file not in `files`. For tests.
pub fn keep(dir: &Path, files: &BTreeMap<String, String>, areas: &[&str]) {
    let regen = std::env::var_os("AGENTID_REGEN_VECTORS").is_some();
    for (name, text) in files {
        let path = dir.join(name);
        if regen {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
            }
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{}: {e}; run with AGENTID_REGEN_VECTORS=1", path.display())
            });
            assert!(
                on_disk == *text,
                "{name} differs from what the generator writes; run with \
                 AGENTID_REGEN_VECTORS=1 and review the diff"
            );
        }
    }
    for area in areas {
        let entries = std::fs::read_dir(dir.join(area))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(area).display()));
        for entry in entries {
            let name = format!("{area}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(
                files.contains_key(&name),
                "{name} is not written by the generator"
            );
        }
    }
}

/// The vector files of `area` under `dir` (`*.json`), parsed, sorted by file name. For tests.
pub fn read(dir: &Path, area: &str) -> Vec<(String, Value)> {
    let entries = std::fs::read_dir(dir.join(area)).unwrap_or_else(|e| panic!("{area}: {e}"));
    let mut out: Vec<(String, Value)> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                value,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
