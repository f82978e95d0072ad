//! DID methods agentid does not implement itself, resolved through ssi (feature `ssi`):
//! `did:jwk` (with an Ed25519 key: agentid verifies EdDSA only), reduced to the agentid profile
//! (one Multikey under the method's own fragment, listed under `authentication` and
//! `assertionMethod`). `did:key` is answered by agentid's own decoder.

use agentid_spec::document::DidDocument;
use agentid_spec::id::DidKey;
use ssi::dids::{resolution, DIDResolver, DID, DIDJWK};

use crate::{ResolveError, ResolvedDid};

/// Resolves `did` (`did:key`, or `did:jwk` through ssi).
pub async fn resolve(did: &str) -> Result<ResolvedDid, ResolveError> {
    if did.starts_with("did:key:") {
        return crate::did_key::resolve_now(did);
    }
    let invalid = || ResolveError::InvalidDid(did.chars().take(120).collect());
    let parsed = DID::new(did.as_bytes()).map_err(|_| invalid())?;
    if parsed.method_name() != "jwk" {
        return Err(ResolveError::MethodNotSupported(
            parsed.method_name().to_owned(),
        ));
    }
    let output = DIDJWK.resolve(parsed).await.map_err(|e| match e {
        resolution::Error::MethodNotSupported(m) => ResolveError::MethodNotSupported(m),
        resolution::Error::NotFound => ResolveError::NotFound,
        _ => invalid(),
    })?;
    let doc = serde_json::to_value(output.document.into_document())
        .map_err(|e| ResolveError::InvalidResponse(e.to_string()))?;
    let vm = &doc["verificationMethod"][0];
    // ssi states the key as a Multikey; agentid verifies Ed25519 only.
    let x = vm["publicKeyMultibase"]
        .as_str()
        .and_then(|mb| agentid_spec::id::parse_multibase_ed25519(mb).ok())
        .ok_or_else(|| {
            ResolveError::MethodNotSupported("jwk with a key other than Ed25519".into())
        })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
        .map_err(|_| ResolveError::InvalidPublicKeyLength)?;
    let fragment = vm["id"]
        .as_str()
        .and_then(|id| id.strip_prefix(did))
        .and_then(|f| f.strip_prefix('#'))
        .ok_or_else(|| ResolveError::InvalidResponse("did:jwk method id".into()))?;
    let multibase = DidKey::from_public_key(&key);
    ResolvedDid::from_document(
        DidDocument::new(did, Vec::new(), [(fragment, multibase.multibase())]),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// The web5-spec did:jwk vectors (`spec/vectors/external/web5-spec/did_jwk`).
    #[test]
    fn web5_did_jwk_vectors() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../spec/vectors/external/web5-spec/did_jwk/resolve.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut ed25519 = 0;
        for case in v["vectors"].as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            let got = block_on(resolve(input));
            let expected = &case["output"]["didDocument"];
            if case["errors"] == true {
                assert_eq!(got.unwrap_err().code().as_str(), "invalidDid", "{input}");
                continue;
            }
            let vm = &expected["verificationMethod"][0];
            if vm["publicKeyJwk"]["crv"] != "Ed25519" {
                assert_eq!(
                    got.unwrap_err().code().as_str(),
                    "methodNotSupported",
                    "{input}"
                );
                continue;
            }
            let resolved = got.unwrap();
            let kid = vm["id"].as_str().unwrap();
            let x =
                agentid_spec::jose::b64u_decode(vm["publicKeyJwk"]["x"].as_str().unwrap()).unwrap();
            let key = resolved.assertion_key(kid).expect("the vector's method id");
            assert_eq!(key.as_bytes().to_vec(), x);
            assert!(resolved.authentication_key(kid).is_some());
            ed25519 += 1;
        }
        assert_eq!(ed25519, 1);
        // A did:key goes to agentid's own decoder; other methods are not guessed at.
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        assert_eq!(block_on(resolve(did)).unwrap().document.id, did);
        assert_eq!(
            block_on(resolve("did:example:123"))
                .unwrap_err()
                .code()
                .as_str(),
            "methodNotSupported"
        );
    }
}
