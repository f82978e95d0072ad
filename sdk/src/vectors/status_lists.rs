//! The status list vectors (section 6.3, W3C Bitstring Status List v1.0): lists as the wallet
//! encodes them (`u` + base64url(GZIP(bits)), bit 0 the most significant bit of byte 0) with the
//! indexes they revoke, and each `encodedList` a verifier must refuse.

use std::collections::BTreeMap;
use std::io::Write;

use agentid_spec::jose::b64u;
use agentid_spec::status_list::{Bitstring, StatusListError, MAX_BYTES, MIN_BITS};
use serde_json::{json, Value};

use super::{pretty, read};

fn code(e: &StatusListError) -> &'static str {
    match e {
        StatusListError::Encoding => "encoding",
        StatusListError::Gzip => "gzip",
        StatusListError::TooLarge => "too_large",
        _ => "other",
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub(super) fn vectors(files: &mut BTreeMap<String, String>) {
    let lists: [(&str, &str, usize, &[usize]); 3] = [
        ("list_none_revoked", "The smallest list the specification allows (131,072 entries), nothing revoked.", MIN_BITS, &[]),
        ("list_revoked", "Entries 0, 7, 8, 42 and the last revoked: bit 0 is the most significant bit of byte 0, so byte 0 is 0x81 and byte 1 0x80.", MIN_BITS, &[0, 7, 8, 42, MIN_BITS - 1]),
        ("list_largest", "The largest list accepted (2 MiB, 16,777,216 entries), its last entry revoked.", MAX_BYTES * 8, &[MAX_BYTES * 8 - 1]),
    ];
    for (name, description, bits, revoked) in lists {
        let mut list = Bitstring::new(bits);
        for &i in revoked {
            list.set(i, true);
        }
        files.insert(
            format!("status-lists/{name}.json"),
            pretty(&json!({
                "description": description,
                "section": "6.3",
                "input": { "encodedList": format!("u{}", b64u(&gzip(list.as_bytes()))) },
                "output": { "entries": list.len(), "revoked": revoked },
            })),
        );
    }
    let refusals: [(&str, &str, String, &str); 4] = [
        ("not_multibase", "An encodedList without the multibase base64url prefix `u` MUST be refused.", format!("z{}", b64u(&gzip(&[0; 16]))), "encoding"),
        ("not_base64url", "An encodedList that is not base64url MUST be refused.", "u!!not base64!!".to_owned(), "encoding"),
        ("not_gzip", "An encodedList that is not GZIP MUST be refused.", format!("u{}", b64u(b"a status list, not compressed")), "gzip"),
        ("gzip_bomb", "A list that decompresses past 2 MiB (here from about 2 KiB) MUST be refused without being decompressed further.", format!("u{}", b64u(&gzip(&vec![0; MAX_BYTES + 1]))), "too_large"),
    ];
    for (name, description, encoded, error) in refusals {
        files.insert(
            format!("status-lists/{name}.json"),
            pretty(&json!({ "description": description, "section": "6.3", "input": { "encodedList": encoded }, "error": error })),
        );
    }
}

/// Runs every status list vector from the files on disk through the decoder verifiers use.
#[test]
fn status_list_vectors() {
    let all = read("status-lists");
    for (name, v) in &all {
        let got = Bitstring::decode(v["input"]["encodedList"].as_str().unwrap());
        match v["error"].as_str() {
            Some(e) => assert_eq!(got.err().as_ref().map(code), Some(e), "{name}"),
            None => {
                let list = got.unwrap();
                let out = &v["output"];
                assert_eq!(
                    list.len() as u64,
                    out["entries"].as_u64().unwrap(),
                    "{name}"
                );
                let revoked: Vec<Value> = list.ones().map(|i| json!(i)).collect();
                assert_eq!(&revoked, out["revoked"].as_array().unwrap(), "{name}");
            }
        }
    }
    assert_eq!(all.len(), 7);
}
