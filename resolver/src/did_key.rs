//! `did:key` (W3C CCG did:key v0.7), Ed25519 only, resolved through `ssi`.

use agentid_spec::document::DidDocument;
use agentid_spec::id::{DidKey, IdError};
use ssi::dids::{resolution, DIDKey, DIDResolver, DID};

use crate::{ResolveError, ResolvedDid};

/// Resolves an Ed25519 `did:key` with ssi's did:key method and reduces the document to the
/// agentid profile (one Multikey, listed under `authentication` and `assertionMethod`).
pub async fn resolve(did: &str) -> Result<ResolvedDid, ResolveError> {
    let parsed = DID::new(did.as_bytes()).map_err(|_| ResolveError::InvalidDid(short(did)))?;
    if parsed.method_name() != "key" {
        return Err(ResolveError::MethodNotSupported(
            parsed.method_name().to_owned(),
        ));
    }
    let output = DIDKey.resolve(parsed).await.map_err(|e| match e {
        resolution::Error::MethodNotSupported(m) => ResolveError::MethodNotSupported(m),
        resolution::Error::NotFound => ResolveError::NotFound,
        _ => ResolveError::InvalidDid(short(did)),
    })?;
    let doc = serde_json::to_value(output.document.into_document())
        .map_err(|e| ResolveError::InvalidResponse(e.to_string()))?;
    let vm = &doc["verificationMethod"][0];
    let multibase = vm["publicKeyMultibase"]
        .as_str()
        .ok_or_else(|| ResolveError::InvalidResponse("no Multikey in did:key document".into()))?;
    let key = DidKey::parse(did).map_err(|e| match e {
        IdError::InvalidPublicKey => ResolveError::InvalidPublicKeyLength,
        _ => ResolveError::InvalidDid(short(did)),
    })?;
    // ssi and our own decoder must agree on the key: a cheap guard against either drifting.
    if multibase != key.multibase() || vm["id"].as_str() != Some(key.key_id().as_str()) {
        return Err(ResolveError::InvalidResponse(
            "did:key decoders disagree".into(),
        ));
    }
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
