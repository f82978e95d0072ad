//! What a stranger with a fresh key and no account can do to others through the service's
//! anonymous endpoints (`/v1/verify`, `/v1/spend/authorizations`): nothing fetched on its word,
//! no merchant's replay memory filled or nonces burned by it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agentid_sdk::keys::KeyPair;
use agentid_spec::credential::{CREDENTIAL_CTY, CREDENTIAL_TYP};
use agentid_spec::jose::{b64u_decode, sign_compact, JoseHeader};
use serde_json::{json, Value};

use crate::fixture::{nonce, Fixture};
use crate::support::{error_code, Backend};

/// The fixture's delegation, re-issued by `issuer` (a DID of the stranger's choosing) with
/// `key`: a credential no trusted wallet ever saw.
fn reissued(credential: &str, issuer: &str, key: &KeyPair) -> String {
    let payload = credential.split('.').nth(1).unwrap();
    let mut claims: Value = serde_json::from_slice(&b64u_decode(payload).unwrap()).unwrap();
    claims["issuer"] = json!(issuer);
    let header = JoseHeader::eddsa(
        CREDENTIAL_TYP,
        Some(CREDENTIAL_CTY),
        &format!("{issuer}#key-1"),
    );
    sign_compact(
        &header,
        serde_json::to_string(&claims).unwrap().as_bytes(),
        key.signing_key(),
    )
}

/// Every reason's message of an answer, the port replaced so two answers compare.
fn messages(body: &Value, port: u16) -> String {
    body.to_string().replace(&port.to_string(), "PORT")
}

/// Finding: a `did:web` principal named in an untrusted credential made the anonymous
/// endpoints fetch any host and port (loopback database ports, link-local addresses), and the
/// reasons told an open port from a closed one. Now nothing is fetched before the trust policy
/// allows it, and the answer is the same whatever is listening.
#[tokio::test]
async fn nothing_is_fetched_on_an_untrusted_word() {
    let f = Fixture::new(&Backend::Sqlite).await;
    // A loopback host that counts every connection made to it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let stranger = KeyPair::generate();
    let mut answers = Vec::new();
    for port in [open, closed] {
        let issuer = format!("did:web:127.0.0.1%3A{port}:principals:p");
        let credential = reissued(&f.credential, &issuer, &stranger);
        let request = f.spend_request(&credential, &f.merchant, &nonce(), 100);
        let (st, spend) = f.authorize(&request, None).await;
        assert_eq!(
            (st, error_code(st, &spend)),
            (403, "spend_refused".into()),
            "{spend}"
        );
        let n = nonce();
        let presentation = f.signed(&credential, &f.merchant, &n, 100, None);
        let decision = f.verify_http(&presentation, &f.merchant, &n).await;
        assert_eq!(decision["decision"], "rejected", "{decision}");
        assert!(decision.to_string().contains("not fetched"), "{decision}");
        answers.push((messages(&spend, port), messages(&decision["reasons"], port)));
    }
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the stranger's host was reached"
    );
    assert_eq!(
        answers[0], answers[1],
        "an open port answered apart from a closed one"
    );
}

/// A second agent under the fixture's principal: its DID, key and delegation.
async fn customer(f: &Fixture) -> (String, KeyPair, String) {
    let key_file = f.server.dir.path("customer.key");
    let (code, out) = f
        .server
        .cli(&["key", "generate", "--out", key_file.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{out}");
    let (code, reg) = f
        .server
        .cli(&["agent", "register", "--key", key_file.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{reg}");
    let did = crate::support::s(&reg["did"]);
    let delegation = f.delegate(json!({ "agent": did })).await;
    (
        did,
        crate::support::read_key(&key_file),
        crate::support::s(&delegation["credential"]),
    )
}

/// `agent`'s checkout at the fixture's merchant with `nonce`, verified by `/v1/verify`: the
/// decision.
async fn checkout(f: &Fixture, agent: &str, key: &KeyPair, credential: &str, n: &str) -> Value {
    use agentid_sdk::present::{present, CheckoutRequest};
    use agentid_spec::credential::{Amount, Category, Currency};
    use agentid_spec::id::Did;
    use agentid_spec::presentation::Nonce;
    let (agent, merchant) = (Did::parse(agent).unwrap(), Did::parse(&f.merchant).unwrap());
    let nonce = Nonce::parse(n).unwrap();
    let mut req = CheckoutRequest {
        agent: &agent,
        key_fragment: "key-1",
        credential,
        links: &[],
        merchant: &merchant,
        nonce: &nonce,
        amount: Amount::new(1).unwrap(),
        currency: Currency::parse("USD").unwrap(),
        order_hash: f.order_hash.clone(),
        category: Some(Category::parse("groceries").unwrap()),
        now: crate::fixture::now(),
        lifetime: 120,
        authorization: None,
    };
    let (st, hold) = f.authorize(&present(&req, key), None).await;
    assert_eq!(st, 201, "{hold}");
    let authorization = crate::support::s(&hold["authorization"]);
    req.authorization = Some(&authorization);
    f.verify_http(&present(&req, key), &f.merchant, n).await
}

fn codes(decision: &Value) -> Vec<String> {
    crate::support::codes(decision)
}

/// Findings: a stranger's own 1-cent checkouts filled the shared replay memory so every other
/// merchant's genuine checkout was `nonce_memory_full`, and a stranger burned a merchant's
/// predictable next nonce with a checkout of its own, so the real customer's was
/// `nonce_replayed`. The memory is now keyed by the presenting agent too, and bounded per
/// merchant and per agent at a merchant.
#[tokio::test]
async fn nobody_fills_or_burns_another_partys_nonces() {
    for backend in crate::support::backends().await {
        let f = Fixture::new_with(&backend, &["--max-nonces-per-agent", "3"]).await;
        let (customer, customer_key, customer_credential) = customer(&f).await;
        let stranger = (&f.agent, &f.agent_key, &f.credential);
        // The stranger presents the merchant's next nonce first, with its own delegation.
        let next = nonce();
        let d = checkout(&f, stranger.0, stranger.1, stranger.2, &next).await;
        assert_eq!(d["decision"], "accepted", "{d}");
        let d = checkout(&f, &customer, &customer_key, &customer_credential, &next).await;
        assert_eq!(d["decision"], "accepted", "the nonce was burned: {d}");
        // Its own replay is still a replay.
        let d = checkout(&f, stranger.0, stranger.1, stranger.2, &next).await;
        assert_eq!(codes(&d), ["nonce_replayed"], "{d}");
        // The stranger floods: its share at this merchant fills, nobody else's.
        for _ in 0..2 {
            let d = checkout(&f, stranger.0, stranger.1, stranger.2, &nonce()).await;
            assert_eq!(d["decision"], "accepted", "{d}");
        }
        let d = checkout(&f, stranger.0, stranger.1, stranger.2, &nonce()).await;
        assert_eq!(codes(&d), ["nonce_memory_full"], "{d}");
        let d = checkout(&f, &customer, &customer_key, &customer_credential, &nonce()).await;
        assert_eq!(d["decision"], "accepted", "{d}");
    }
}
