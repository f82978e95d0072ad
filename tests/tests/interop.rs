//! Interop: agentid's tokens checked by independent implementations (the `jose` npm package,
//! `jwcrypto` from PyPI) and its payloads by the JSON schemas in `spec/schemas` (Python
//! `jsonschema`); and a token signed by `jose` verified by agentid. `.ci/run` installs them
//! (`tests/interop`: `npm ci`, and a virtualenv from `requirements.txt`).

use std::path::PathBuf;
use std::process::Command;

use agentid_sdk::keys::KeyPair;
use agentid_spec::id::DidKey;
use agentid_spec::jose::{public_jwk, CompactJws};
use serde_json::{json, Value};

use crate::fixture::{nonce, Fixture};
use crate::support::{backends, codes, s, Backend};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

fn schema(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/schemas")
        .join(format!("{name}.schema.json"))
        .display()
        .to_string()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(interop_dir())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e}; install the interop tools (see tests/interop)")
        });
    assert!(
        out.status.success(),
        "{program} {:?} failed: {}{}",
        &args[..2.min(args.len())],
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn node(args: &[&str]) -> String {
    assert!(
        interop_dir().join("node_modules/jose").exists(),
        "tests/interop/node_modules/jose is missing: run `npm ci` in tests/interop"
    );
    let mut a = vec!["jose.mjs"];
    a.extend_from_slice(args);
    run("node", &a)
}

fn python(args: &[&str]) -> String {
    let venv = interop_dir().join(".venv/bin/python3");
    let py = std::env::var("AGENTID_INTEROP_PYTHON").unwrap_or_else(|_| {
        if venv.exists() {
            venv.display().to_string()
        } else {
            "python3".into()
        }
    });
    let mut a = vec!["jwcrypto_check.py"];
    a.extend_from_slice(args);
    run(&py, &a)
}

fn jwk_of_did_key(did: &str) -> String {
    public_jwk(&DidKey::parse(did).unwrap().verifying_key().unwrap()).to_string()
}

#[tokio::test]
async fn independent_jose_implementations_agree() {
    for backend in backends().await {
        interop(&backend).await;
    }
}

async fn interop(backend: &Backend) {
    let f = Fixture::new(backend).await;

    // The delegation credential (signed by the wallet through josekit/OpenSSL).
    let principal_jwk = jwk_of_did_key(&f.principal);
    let from_node: Value =
        serde_json::from_str(&node(&["verify", &principal_jwk, "vc+jwt", &f.credential])).unwrap();
    assert_eq!(from_node["credentialSubject"]["id"], f.agent.as_str());
    let from_py: Value = serde_json::from_str(&python(&[
        "jws",
        &principal_jwk,
        "vc+jwt",
        &schema("delegation-credential"),
        &f.credential,
    ]))
    .unwrap();
    assert_eq!(from_py, from_node);

    // A wrong key is refused by both.
    let wrong = public_jwk(&KeyPair::from_seed(&[1; 32]).public()).to_string();
    let out = Command::new("node")
        .args(["jose.mjs", "verify", &wrong, "vc+jwt", &f.credential])
        .current_dir(interop_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());

    // The checkout presentation (signed by the SDK with dalek).
    let n = nonce();
    let vp = f.present(&f.credential, &f.merchant, &n, 4200).await;
    let agent_jwk = public_jwk(&f.agent_key.public()).to_string();
    let p: Value = serde_json::from_str(&node(&["verify", &agent_jwk, "vp+jwt", &vp])).unwrap();
    assert_eq!(p["nonce"], n.as_str());
    python(&[
        "jws",
        &agent_jwk,
        "vp+jwt",
        &schema("checkout-presentation"),
        &vp,
    ]);

    // The wallet's spend authorization, checked by both against the key its did:web document
    // publishes.
    let (status, doc) = f.server.http().get("/.well-known/did.json").await;
    assert_eq!(status, 200, "{doc}");
    let wallet_did = agentid_spec::id::did_web_for_url(&f.server.url).unwrap();
    assert_eq!(doc["id"], wallet_did.as_str());
    let presented: Value =
        serde_json::from_str(&node(&["verify", &agent_jwk, "vp+jwt", &vp])).unwrap();
    let auth = s(&presented["verifiableCredential"][1]["id"])
        .strip_prefix("data:application/vc+jwt,")
        .unwrap()
        .to_owned();
    // The key the authorization names (the wallet may list several).
    let header: Value = serde_json::from_slice(
        &agentid_spec::jose::b64u_decode(auth.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    let method = doc["verificationMethod"]
        .as_array()
        .unwrap()
        .iter()
        .find(|vm| vm["id"] == header["kid"])
        .expect("the authorization's kid is in the wallet's document");
    let mb = s(&method["publicKeyMultibase"]);
    let wallet_key = ed25519_dalek::VerifyingKey::from_bytes(
        &agentid_spec::id::parse_multibase_ed25519(&mb).unwrap(),
    )
    .unwrap();
    let wallet_jwk = public_jwk(&wallet_key).to_string();
    let auth_payload: Value =
        serde_json::from_str(&node(&["verify", &wallet_jwk, "vc+jwt", &auth])).unwrap();
    assert_eq!(auth_payload["credentialSubject"]["nonce"], n.as_str());
    python(&[
        "jws",
        &wallet_jwk,
        "vc+jwt",
        &schema("spend-authorization"),
        &auth,
    ]);

    // The status list credential served by the wallet.
    let vc: Value = serde_json::from_str(&from_node.to_string()).unwrap();
    let url = s(&vc["credentialStatus"]["statusListCredential"]);
    let list = reqwest::get(&url).await.unwrap().text().await.unwrap();
    node(&["verify", &principal_jwk, "vc+jwt", &list]);
    python(&[
        "jws",
        &principal_jwk,
        "vc+jwt",
        &schema("status-list-credential"),
        &list,
    ]);

    // Resolution results, a decision and an error body match their schemas.
    let h = f.server.http();
    let (_, resolved) = h.get(&format!("/1.0/identifiers/{}", f.agent)).await;
    python(&[
        "schema",
        &schema("resolution-result"),
        &resolved.to_string(),
    ]);
    let (_, missing) = h.get("/1.0/identifiers/no.such.agent").await;
    python(&["schema", &schema("resolution-result"), &missing.to_string()]);
    let accepted = f.verify_http(&vp, &f.merchant, &n).await;
    python(&["schema", &schema("decision"), &accepted.to_string()]);
    let rejected = f.verify_http(&vp, &f.merchant, &n).await;
    assert_eq!(codes(&rejected), ["nonce_replayed"]);
    python(&["schema", &schema("decision"), &rejected.to_string()]);
    let (_, err) = h.post("/v1/delegations", None, &json!({})).await;
    python(&["schema", &schema("error"), &err.to_string()]);
    let (_, log) = h.get(&format!("/v1/agents/{}/log", f.agent)).await;
    let genesis = s(&log["entries"][0]["operation"]);
    let rotation_jwk = public_jwk(&f.agent_key.public()).to_string();
    python(&[
        "jws",
        &rotation_jwk,
        "agentid-op+jws",
        &schema("operation"),
        &genesis,
    ]);

    // The other direction: a vc+jwt signed by `jose` verifies in agentid.
    let issuer = KeyPair::from_seed(&[0x21; 32]);
    let private_jwk = issuer.to_private_jwk();
    let payload = serde_json::to_string(&from_node).unwrap();
    let kid = issuer.did_key().key_id();
    let token = node(&["sign", &private_jwk, "vc+jwt", &kid, &payload]);
    let parsed = CompactJws::parse(&token, 16 * 1024, "vc+jwt").unwrap();
    assert!(parsed.verify(&issuer.public()));
    assert_eq!(parsed.header.kid.as_deref(), Some(kid.as_str()));
    assert_eq!(
        serde_json::from_slice::<Value>(&parsed.payload).unwrap(),
        from_node
    );
}
