//! Property tests: every parser of untrusted input returns an error rather than panicking, on
//! arbitrary input and on mutations of valid input, and what parses round-trips.

use proptest::prelude::*;

use crate::credential::{Currency, DelegationCredential};
use crate::id::{AgentDid, AgentName, DidKey};
use crate::jose::{b64u, sign_compact, CompactJws, JoseHeader};
use crate::presentation::CheckoutPresentation;
use crate::status_list::Bitstring;

fn token() -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    sign_compact(
        &JoseHeader::eddsa("vp+jwt", Some("vp"), "did:key:z#z"),
        br#"{"a":1}"#,
        &key,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn jws_parser_survives_anything(s in ".{0,400}") {
        let _ = CompactJws::parse(&s, 4096, "vp+jwt");
    }

    #[test]
    fn jws_mutations_never_verify(pos in 0usize..200, byte in any::<u8>()) {
        let t = token();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let mut bytes = t.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != byte);
        bytes[pos] = byte;
        if let Ok(s) = String::from_utf8(bytes) {
            if let Ok(p) = CompactJws::parse(&s, 4096, "vp+jwt") {
                prop_assert!(!p.verify(&key), "a mutated token verified: {s}");
            }
        }
    }

    #[test]
    fn identifier_parsers_survive_anything(s in ".{0,300}") {
        if let Ok(n) = AgentName::parse(&s) {
            prop_assert_eq!(AgentName::parse(n.as_str()).unwrap(), n.clone());
        }
        if let Ok(d) = AgentDid::parse(&s) {
            prop_assert_eq!(d.as_str(), s.as_str());
        }
        if let Ok(k) = DidKey::parse(&s) {
            prop_assert_eq!(k.as_str(), s.as_str());
        }
        let _ = Currency::parse(&s);
        let _ = crate::id::split_did_url(&s);
        let _ = crate::time::parse_rfc3339(&s);
    }

    #[test]
    fn did_key_parser_survives_base58ish(s in "z[1-9A-HJ-NP-Za-km-z]{0,60}") {
        let _ = DidKey::parse(&format!("did:key:{s}"));
    }

    #[test]
    fn status_list_decoder_survives_anything(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Bitstring::decode(&format!("u{}", b64u(&bytes)));
        // A gzip header followed by noise.
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        gz.extend_from_slice(&bytes);
        let _ = Bitstring::decode(&format!("u{}", b64u(&gz)));
    }

    #[test]
    fn payload_parsers_survive_anything(s in ".{0,400}") {
        let _ = serde_json::from_str::<CheckoutPresentation>(&s);
        if let Ok(c) = serde_json::from_str::<DelegationCredential>(&s) {
            let _ = c.validate();
        }
    }
}
