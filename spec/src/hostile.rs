//! Property tests: every parser of untrusted input returns an error rather than panicking, on
//! arbitrary input and on mutations of valid input, and what parses round-trips.

use proptest::prelude::*;

use crate::credential::{Currency, DelegationCredential};
use crate::id::{AgentDid, AgentName, Did, DidKey};
use crate::jose::{b64u, sign_compact, CompactJws, JoseHeader};
use crate::presentation::CheckoutPresentation;
use crate::presentation::{Nonce, OrderHash};
use crate::status_list::Bitstring;
use crate::time::Timestamp;

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
        if let Ok(d) = Did::parse(&s) {
            prop_assert_eq!(d.as_str(), s.as_str());
            prop_assert!(crate::id::is_did_syntax(d.as_str()));
        }
        if let Ok(n) = Nonce::parse(&s) {
            prop_assert_eq!(n.as_str(), s.as_str());
        }
        if let Ok(h) = OrderHash::parse(&s) {
            prop_assert_eq!(h.as_str(), s.as_str());
        }
        if let Some(t) = Timestamp::parse(&s) {
            // What parses formats canonically and parses back to the same instant.
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
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
    fn timestamps_survive_any_instant(secs in any::<i64>()) {
        match Timestamp::from_unix(secs) {
            Some(t) => prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t)),
            None => prop_assert!(!(0..=crate::time::MAX_UNIX).contains(&secs)),
        }
    }

    #[test]
    fn did_parser_survives_didlike(s in "did:[a-z0-9]{0,6}:[A-Za-z0-9._:%-]{0,40}") {
        if let Ok(d) = Did::parse(&s) {
            prop_assert_eq!(d.as_str(), s.as_str());
        }
    }

    #[test]
    fn payload_parsers_survive_anything(s in ".{0,400}") {
        let _ = serde_json::from_str::<CheckoutPresentation>(&s);
        if let Ok(c) = serde_json::from_str::<DelegationCredential>(&s) {
            let _ = c.validate();
        }
    }
}
