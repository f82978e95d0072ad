//! `did:key` (W3C CCG did:key v0.7), Ed25519 only, decoded by agentid itself (no I/O). With
//! the feature `ssi`, the tests also check it against ssi's did:key method, as an oracle.

use agentid_spec::document::DidDocument;
use agentid_spec::id::{DidKey, IdError};

use crate::{ResolveError, ResolvedDid};

/// Resolves an Ed25519 `did:key` to its agentid-profile document (one Multikey, listed under
/// `authentication` and `assertionMethod`).
pub async fn resolve(did: &str) -> Result<ResolvedDid, ResolveError> {
    resolve_now(did)
}

/// [`resolve`], without waiting: a did:key is its own document.
pub fn resolve_now(did: &str) -> Result<ResolvedDid, ResolveError> {
    let method = did
        .strip_prefix("did:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(method, id)| {
            !method.is_empty()
                && !id.is_empty()
                && method
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    match method {
        None => return Err(ResolveError::InvalidDid(short(did))),
        Some((m, _)) if m != "key" => return Err(ResolveError::MethodNotSupported(m.to_owned())),
        Some(_) => {}
    }
    let key = DidKey::parse(did).map_err(|e| match e {
        IdError::InvalidPublicKey => ResolveError::InvalidPublicKeyLength,
        _ => ResolveError::InvalidDid(short(did)),
    })?;
    key.verifying_key()
        .map_err(|_| ResolveError::InvalidPublicKeyLength)?;
    ResolvedDid::from_document(document_for(&key), None)
}

/// The agentid-profile document of an Ed25519 `did:key`.
pub fn document_for(key: &DidKey) -> DidDocument {
    DidDocument::did_key(key)
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn vectors(file: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../spec/vectors/external/w3c-ccg-did-method-key")
            .join(file);
        serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// W3C did:key vectors: seed -> key -> DID, and resolution yields the vector's key bytes
    /// under the vector's verification method id.
    #[test]
    fn w3c_ed25519_vectors() {
        let v = vectors("test-vectors/ed25519-x25519.json");
        let cases = v.as_object().unwrap();
        assert_eq!(cases.len(), 5);
        for (did, case) in cases {
            let seed: [u8; 32] = hex(case["seed"].as_str().unwrap()).try_into().unwrap();
            let public = SigningKey::from_bytes(&seed).verifying_key();
            let ours = DidKey::from_public_key(&public);
            assert_eq!(ours.as_str(), did);

            let resolved = block_on(resolve(did)).unwrap();
            let kid = ours.key_id();
            let key = resolved
                .assertion_key(&kid)
                .unwrap_or_else(|| panic!("{did}: no key {kid}"));
            assert_eq!(key, &public);
            // The vector's own verification method carries the same key bytes.
            let vm = &case["didDocument"]["verificationMethod"][0];
            let vector_key = match vm["publicKeyBase58"].as_str() {
                Some(b58) => bs58_decode(b58),
                None => b64u(vm["publicKeyJwk"]["x"].as_str().unwrap()),
            };
            assert_eq!(vector_key, public.as_bytes().to_vec(), "{did}");
            assert!(
                vm["id"].as_str().unwrap().ends_with(ours.multibase()),
                "{did}"
            );
        }
    }

    /// The did-key-test-suite negative inputs this resolver handles (resolution, not
    /// dereferencing or publicKeyFormat options) fail with the expected error code.
    #[test]
    fn w3c_did_key_negative_cases() {
        let v = vectors("did-key-test-suite-cases.json");
        let valid = v["valid"][0]["did"].as_str().unwrap();
        assert!(block_on(resolve(valid)).is_ok());
        let mut checked = 0;
        for case in v["negative"].as_array().unwrap() {
            if case.get("kind").is_some() || case.get("options").is_some() {
                continue;
            }
            let input = case["input"].as_str().unwrap();
            let want = case["expected_error"].as_str().unwrap();
            let got = block_on(resolve(input)).unwrap_err();
            assert_eq!(got.code().as_str(), want, "{input}: {got}");
            checked += 1;
        }
        assert!(checked >= 6, "checked {checked}");
    }

    /// ssi's did:key method, as an independent oracle, gives the same key under the same
    /// verification method id for every W3C vector.
    #[cfg(feature = "ssi")]
    #[test]
    fn ssi_agrees_on_every_w3c_vector() {
        use ssi::dids::{DIDKey, DIDResolver, DID};
        let v = vectors("test-vectors/ed25519-x25519.json");
        for did in v.as_object().unwrap().keys() {
            let parsed = DID::new(did.as_bytes()).unwrap();
            let output = block_on(DIDKey.resolve(parsed)).unwrap();
            let doc = serde_json::to_value(output.document.into_document()).unwrap();
            let vm = &doc["verificationMethod"][0];
            let ours = resolve_now(did).unwrap();
            let ours = &ours.document.verification_method[0];
            assert_eq!(
                vm["publicKeyMultibase"].as_str(),
                Some(ours.public_key_multibase.as_str())
            );
            assert_eq!(vm["id"].as_str(), Some(ours.id.as_str()));
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn bs58_decode(s: &str) -> Vec<u8> {
        bs58::decode(s).into_vec().unwrap()
    }

    fn b64u(s: &str) -> Vec<u8> {
        agentid_spec::jose::b64u_decode(s).unwrap()
    }
}
