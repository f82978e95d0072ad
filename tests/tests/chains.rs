//! Delegation chains (spec section 6.4) against the real server, on SQLite and PostgreSQL: an
//! agent passes a narrower authority to a sub-agent through the CLI; the wallet refuses every
//! widening; a sub-agent's spends count against every budget above it; revoking a link stops
//! everything below it.

use std::path::PathBuf;

use agentid_sdk::keys::KeyPair;
use agentid_sdk::present::{present, CheckoutRequest};
use agentid_spec::authorization::credential_hash;
use agentid_spec::credential::{Amount, Category, Currency};
use agentid_spec::id::{did_web_for_url, Did};
use agentid_spec::jose::{sign_compact, JoseHeader};
use agentid_spec::presentation::Nonce;
use agentid_spec::subdelegation::SUBDELEGATION_REQUEST_TYP;
use serde_json::{json, Value};

use crate::fixture::{nonce, now, Fixture};
use crate::support::{backends, codes, error_code, s, Backend};

/// An agent registered through the CLI, with its key.
struct Agent {
    did: String,
    key_file: PathBuf,
    key: KeyPair,
}

async fn register(f: &Fixture, file: &str) -> Agent {
    let key_file = f.server.dir.path(file);
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
    Agent {
        did: s(&reg["did"]),
        key: crate::support::read_key(&key_file),
        key_file,
    }
}

/// `agentid subdelegate` as `from`, whose own delegation is the file `parent`, to `to`: the
/// exit code and the output; the credential is written to `out`.
async fn subdelegate(
    f: &Fixture,
    from: &Agent,
    parent: &str,
    to: &str,
    extra: &[&str],
    out: &str,
) -> (i32, Value) {
    let out = f.server.dir.path(out);
    let mut args = vec![
        "subdelegate",
        "--key",
        from.key_file.to_str().unwrap(),
        "--as",
        &from.did,
        "--credential",
        parent,
        "--to",
        to,
        "--currency",
        "USD",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    for (flag, default) in [("--per-transaction", "3000"), ("--total", "10000")] {
        if !extra.contains(&flag) {
            owned.push(flag.into());
            owned.push(default.into());
        }
    }
    f.server.cli_owned(&owned).await
}

/// The presentation by `who` under `chain` (the principal's delegation first) at the fixture's
/// merchant, carrying `authorization` when given (otherwise the spend request).
fn chain_presentation(
    f: &Fixture,
    who: &Agent,
    chain: &[String],
    nonce: &str,
    amount: u64,
    authorization: Option<&str>,
) -> String {
    present(
        &CheckoutRequest {
            agent: &Did::parse(&who.did).unwrap(),
            key_fragment: "key-1",
            credential: &chain[0],
            links: &chain[1..],
            merchant: &Did::parse(&f.merchant).unwrap(),
            nonce: &Nonce::parse(nonce).unwrap(),
            amount: Amount::new(amount).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            order_hash: f.order_hash.clone(),
            category: Some(Category::parse("groceries").unwrap()),
            now: now(),
            lifetime: 120,
            authorization,
        },
        &who.key,
    )
}

/// A spend by `who` under `chain`: the wallet's answer (status, body) and, when it held the
/// amount, the presentation with the authorization and its nonce.
async fn spend(
    f: &Fixture,
    who: &Agent,
    chain: &[String],
    amount: u64,
) -> (u16, Value, Option<(String, String)>) {
    let n = nonce();
    let request = chain_presentation(f, who, chain, &n, amount, None);
    let (status, hold) = f.authorize(&request, None).await;
    let presented = (status == 201).then(|| {
        let auth = s(&hold["authorization"]);
        (
            chain_presentation(f, who, chain, &n, amount, Some(&auth)),
            n,
        )
    });
    (status, hold, presented)
}

/// The principal gives Alice $200 (maxDepth 2); Alice passes Bob $100 at $30 a purchase, Bob
/// passes Carol $40: each link narrower, each refused widening with its code, every spend
/// counted up the chain, and a revoked link stopping everything below it.
#[tokio::test]
async fn sub_agents_spend_within_their_parents_budget() {
    for backend in backends().await {
        chains(&backend).await;
    }
}

async fn chains(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let alice = Agent {
        did: f.agent.clone(),
        key_file: f.agent_key_file.clone(),
        key: crate::support::read_key(&f.agent_key_file),
    };
    let bob = register(&f, "bob.key").await;
    let carol = register(&f, "carol.key").await;
    let issued = f.delegate(json!({ "maxDepth": 2 })).await;
    let root = s(&issued["credential"]);
    let root_id = s(&issued["id"]);
    let root_file = f.server.dir.path("root.jwt");
    std::fs::write(&root_file, &root).unwrap();
    let root_file = root_file.to_str().unwrap().to_owned();

    // Every widening is refused, with its code, and leaves nothing behind.
    let m3 = KeyPair::from_seed(&[0x4f; 32]).did_key().to_string();
    for (extra, what) in [
        (vec!["--total", "30000"], "total"),
        (
            vec!["--per-transaction", "6000", "--total", "6000"],
            "perTransaction",
        ),
        (vec!["--merchant", m3.as_str()], "merchant"),
        (vec!["--category", "electronics"], "category"),
        (vec!["--valid-for", "30d"], "validity"),
        (vec!["--max-depth", "2"], "depth"),
    ] {
        let (code, out) = subdelegate(&f, &alice, &root_file, &bob.did, &extra, "x.jwt").await;
        assert_eq!(
            (code, s(&out["error"]["code"])),
            (2, "delegation_widened".into()),
            "{what}: {out}"
        );
    }
    let (_, list) = f.server.http().get_auth("/v1/delegations", &f.token).await;
    // The fixture's delegation and the one above: no sub-delegation was left behind.
    assert_eq!(list["delegations"].as_array().unwrap().len(), 2, "{list}");

    // Only the parent's subject may sub-delegate it: Bob cannot pass on Alice's authority.
    let (code, out) = subdelegate(&f, &bob, &root_file, &carol.did, &[], "x.jwt").await;
    assert_eq!(
        (code, s(&out["error"]["code"])),
        (2, "forbidden".into()),
        "{out}"
    );

    // Nothing is prepared for an agent nobody registered.
    let nobody =
        agentid_sdk::operation::create(&KeyPair::generate(), &KeyPair::generate(), None, 0).did;
    let (code, out) = subdelegate(&f, &alice, &root_file, nobody.as_str(), &[], "x.jwt").await;
    assert_eq!(
        (code, s(&out["error"]["code"])),
        (2, "invalid_agent".into()),
        "{out}"
    );

    // Alice to Bob: $30 a purchase, $100 in all, one more level allowed.
    let (code, link) = subdelegate(
        &f,
        &alice,
        &root_file,
        &bob.did,
        &["--max-depth", "1", "--merchant", f.merchant.as_str()],
        "bob.jwt",
    )
    .await;
    assert_eq!(code, 0, "{link}");
    let bob_cred = std::fs::read_to_string(f.server.dir.path("bob.jwt")).unwrap();
    let bob_id = s(&link["id"]);
    assert_eq!(link["issuer"], alice.did.as_str());
    let (_, record) = f
        .server
        .http()
        .get_auth(&format!("/v1/delegations/{bob_id}"), &f.token)
        .await;
    assert_eq!(
        (&record["parent"], &record["depth"], &record["signed"]),
        (&json!(root_id), &json!(1), &json!(true)),
        "{record}"
    );

    // Bob spends $30: accepted by the merchant, the decision naming Alice in between; it
    // counts against Bob's budget and Alice's.
    let bob_chain = vec![root.clone(), bob_cred.clone()];
    let (status, hold, presented) = spend(&f, &bob, &bob_chain, 3000).await;
    assert_eq!(status, 201, "{hold}");
    let (vp, n) = presented.unwrap();
    let d = f.verify_http(&vp, &f.merchant, &n).await;
    assert_eq!(d["decision"], "accepted", "{d}");
    assert_eq!(d["authorization"]["via"], json!([alice.did]), "{d}");
    assert_eq!(f.budget(&bob_id).await["held"], 3000);
    assert_eq!(f.budget(&root_id).await["held"], 3000);
    // Above Bob's own per-transaction limit (but within Alice's): refused by the wallet.
    let (status, body, _) = spend(&f, &bob, &bob_chain, 4000).await;
    assert_eq!(
        (status, error_code(status, &body)),
        (403, "spend_refused".into())
    );

    // Alice spends $50 three times: $180 of her $200 is used, so Bob, with $70 of his own
    // left, is held to what remains above him.
    for _ in 0..3 {
        let (status, hold, _) = spend(&f, &alice, std::slice::from_ref(&root), 5000).await;
        assert_eq!(status, 201, "{hold}");
    }
    assert_eq!(f.budget(&root_id).await["remaining"], 2000);
    let (status, body, _) = spend(&f, &bob, &bob_chain, 2500).await;
    assert_eq!(
        (status, error_code(status, &body)),
        (403, "budget_exceeded".into()),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("2000"),
        "{body}"
    );

    // Bob to Carol, the last level: $20 a purchase, $40 in all; she may go no deeper.
    let bob_file = f.server.dir.path("bob.jwt");
    let (code, out) = subdelegate(
        &f,
        &bob,
        bob_file.to_str().unwrap(),
        &carol.did,
        &["--per-transaction", "2000", "--total", "4000"],
        "carol.jwt",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let carol_cred = std::fs::read_to_string(f.server.dir.path("carol.jwt")).unwrap();
    let carol_id = s(&out["id"]);
    let carol_chain = vec![root.clone(), bob_cred.clone(), carol_cred.clone()];
    let (status, hold, presented) = spend(&f, &carol, &carol_chain, 1500).await;
    assert_eq!(status, 201, "{hold}");
    let (carol_vp, carol_nonce) = presented.unwrap();
    assert_eq!(f.budget(&root_id).await["remaining"], 500);
    assert_eq!(f.budget(&bob_id).await["held"], 4500);
    let carol_file = f.server.dir.path("carol.jwt");
    let (code, out) = subdelegate(
        &f,
        &carol,
        carol_file.to_str().unwrap(),
        &alice.did,
        &["--per-transaction", "100", "--total", "100"],
        "x.jwt",
    )
    .await;
    assert_eq!(
        (code, s(&out["error"]["code"])),
        (2, "delegation_widened".into()),
        "{out}"
    );
    // Suspending Bob's link freezes everything below it (Carol), not above (Alice); reinstated,
    // Carol spends again.
    let (status, body) = f
        .as_principal(&format!("/v1/delegations/{bob_id}/suspend"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = spend(&f, &carol, &carol_chain, 100).await;
    assert_eq!(
        (status, error_code(status, &body)),
        (403, "delegation_suspended".into()),
        "{body}"
    );
    let (status, hold, _) = spend(&f, &alice, std::slice::from_ref(&root), 100).await;
    assert_eq!(status, 201, "above the suspended link: {hold}");
    let (status, body) = f
        .as_principal(&format!("/v1/delegations/{bob_id}/reinstate"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, hold, _) = spend(&f, &carol, &carol_chain, 100).await;
    assert_eq!(status, 201, "{hold}");
    assert_eq!(f.budget(&root_id).await["remaining"], 300);

    // A chain presented out of order, or with a link swapped for another's, is broken.
    let mixed = vec![root.clone(), carol_cred.clone(), bob_cred.clone()];
    let d = f
        .verify_http(
            &chain_presentation(&f, &carol, &mixed, &nonce(), 100, None),
            &f.merchant,
            "n-x",
        )
        .await;
    assert_eq!(codes(&d)[0], "chain_broken", "{d}");

    // The principal sees the sub-agents' spending on their own delegation.
    let (_, holds) = f
        .server
        .http()
        .get_auth(&format!("/v1/delegations/{root_id}/holds"), &f.token)
        .await;
    assert_eq!(holds["holds"].as_array().unwrap().len(), 7, "{holds}");

    // The principal revokes Alice's link to Bob: Bob and Carol below it stop, at the wallet
    // and at the merchant (Carol's presentation, authorized before, is now rejected); Alice
    // goes on.
    let (status, body) = f
        .server
        .http()
        .post(
            &format!("/v1/delegations/{bob_id}/revoke"),
            Some(&f.token),
            &json!({ "reason": "sub-agent misbehaved" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let d = f.verify_http(&carol_vp, &f.merchant, &carol_nonce).await;
    assert_eq!(
        codes(&d),
        ["credential_revoked", "credential_revoked"],
        "{d}"
    );
    let (status, body, _) = spend(&f, &carol, &carol_chain, 100).await;
    assert_eq!(
        (status, error_code(status, &body)),
        (403, "spend_refused".into()),
        "{body}"
    );
    let (_, record) = f
        .server
        .http()
        .get_auth(&format!("/v1/delegations/{carol_id}"), &f.token)
        .await;
    assert_eq!(record["revoked"], true, "{record}");
    assert_eq!(
        record["revocationReason"],
        format!("revoked with {bob_id}"),
        "{record}"
    );
    let (status, hold, _) = spend(&f, &alice, std::slice::from_ref(&root), 300).await;
    assert_eq!(status, 201, "{hold}");
    // And no new link under a revoked one.
    let (code, out) = subdelegate(
        &f,
        &bob,
        bob_file.to_str().unwrap(),
        &carol.did,
        &["--per-transaction", "100", "--total", "100"],
        "x.jwt",
    )
    .await;
    assert_eq!(
        (code, s(&out["error"]["code"])),
        (2, "delegation_revoked".into()),
        "{out}"
    );
}

/// What an agent holding a key, but not the right one, can try against sub-delegation: a
/// request for a parent digest it does not hold, a request replayed after it expired, a
/// credential registered with bytes other than those prepared, or signed by someone else.
#[tokio::test]
async fn sub_delegation_refuses_what_it_did_not_prepare() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let bob = register(&f, "bob.key").await;
        let issued = f.delegate(json!({ "maxDepth": 1 })).await;
        let root = s(&issued["credential"]);
        let http = f.server.http();
        let wallet = did_web_for_url(&f.server.url).unwrap();
        let request = |digest: &str, iat: i64, key: &KeyPair, iss: &str| {
            let body = json!({
                "iss": iss, "aud": wallet.as_str(), "iat": iat, "exp": iat + 60,
                "parent": s(&issued["id"]), "parentDigest": digest, "agent": bob.did,
                "scope": { "merchants": [f.merchant], "categories": ["groceries"] },
                "spendingLimit": { "currency": "USD", "perTransaction": 100, "total": 100 },
                "validUntil": agentid_spec::time::format_rfc3339(now() + 3600),
            });
            let header =
                JoseHeader::eddsa(SUBDELEGATION_REQUEST_TYP, None, &format!("{iss}#key-1"));
            json!({ "request": sign_compact(&header, body.to_string().as_bytes(), key.signing_key()) })
        };
        let digest = credential_hash(&root);
        // Another digest: the agent does not hold these bytes.
        let (status, body) = http
            .post(
                "/v1/subdelegations",
                None,
                &request(&credential_hash("x"), now(), &f.agent_key, &f.agent),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "forbidden".into()),
            "{body}"
        );
        // Expired, or signed by a key that is not the agent's.
        let (status, body) = http
            .post(
                "/v1/subdelegations",
                None,
                &request(&digest, now() - 600, &f.agent_key, &f.agent),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "forbidden".into()),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("presentation_expired"),
            "{body}"
        );
        let (status, body) = http
            .post(
                "/v1/subdelegations",
                None,
                &request(&digest, now(), &bob.key, &f.agent),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "forbidden".into()),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("bad_signature"),
            "{body}"
        );

        // Prepared properly; then registered with other bytes, or signed by Bob.
        let (status, prepared) = http
            .post(
                "/v1/subdelegations",
                None,
                &request(&digest, now(), &f.agent_key, &f.agent),
            )
            .await;
        assert_eq!(status, 201, "{prepared}");
        let payload =
            agentid_spec::jose::b64u_decode(prepared["payload"].as_str().unwrap()).unwrap();
        let kid = format!("{}#key-1", f.agent);
        let mut altered: Value = serde_json::from_slice(&payload).unwrap();
        altered["credentialSubject"]["spendingLimit"]["perTransaction"] = json!(90);
        let altered =
            agentid_sdk::issue::sign_link(altered.to_string().as_bytes(), &kid, &f.agent_key);
        let (status, body) = http
            .post(
                "/v1/subdelegations/signed",
                None,
                &json!({ "credential": altered }),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "forbidden".into()),
            "{body}"
        );
        let by_bob =
            agentid_sdk::issue::sign_link(&payload, &format!("{}#key-1", bob.did), &bob.key);
        let (status, body) = http
            .post(
                "/v1/subdelegations/signed",
                None,
                &json!({ "credential": by_bob }),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "forbidden".into()),
            "{body}"
        );
        // Signed as prepared but not registered yet: the wallet holds nothing under it.
        let signed = agentid_sdk::issue::sign_link(&payload, &kid, &f.agent_key);
        let (status, body, _) = spend(&f, &bob, &[root.clone(), signed.clone()], 100).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "forbidden".into()),
            "{body}"
        );
        // Registered: twice the same answer.
        for _ in 0..2 {
            let (status, body) = http
                .post(
                    "/v1/subdelegations/signed",
                    None,
                    &json!({ "credential": signed }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, hold, _) = spend(&f, &bob, &[root.clone(), signed], 100).await;
        assert_eq!(status, 201, "{hold}");
    }
}

/// Step-up in a chain: the principal's threshold applies to a sub-agent's purchase (the link
/// must keep a threshold no higher), the principal decides it, and a link above suspended
/// meanwhile stops the approval.
#[tokio::test]
async fn a_sub_agents_purchase_waits_for_the_principal() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let alice = Agent {
            did: f.agent.clone(),
            key_file: f.agent_key_file.clone(),
            key: crate::support::read_key(&f.agent_key_file),
        };
        let bob = register(&f, "bob.key").await;
        let issued = f
            .delegate(json!({
                "maxDepth": 1,
                "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 20000,
                                   "approvalAbove": 1000 },
            }))
            .await;
        let (root, root_id) = (s(&issued["credential"]), s(&issued["id"]));
        let root_file = f.server.dir.path("root.jwt");
        std::fs::write(&root_file, &root).unwrap();
        let root_file = root_file.to_str().unwrap();
        // Without a threshold of its own the link would let $30 through unasked: widened.
        let (code, out) = subdelegate(&f, &alice, root_file, &bob.did, &[], "x.jwt").await;
        assert_eq!(
            (code, s(&out["error"]["code"])),
            (2, "delegation_widened".into()),
            "{out}"
        );
        let (code, out) = subdelegate(
            &f,
            &alice,
            root_file,
            &bob.did,
            &["--approval-above", "900"],
            "bob.jwt",
        )
        .await;
        assert_eq!(code, 0, "{out}");
        let bob_id = s(&out["id"]);
        let chain = vec![
            root.clone(),
            std::fs::read_to_string(f.server.dir.path("bob.jwt")).unwrap(),
        ];
        let http = f.server.http();

        // $20 by Bob waits for the principal, who approves it.
        let (status, pending, _) = spend(&f, &bob, &chain, 2000).await;
        assert_eq!(
            (status, &pending["state"]),
            (202, &json!("pending")),
            "{pending}"
        );
        let hold = s(&pending["hold"]);
        let (_, list) = http.get_auth("/v1/approvals", &f.token).await;
        assert_eq!(list["approvals"][0]["hold"], hold.as_str(), "{list}");
        let (status, approved) = f
            .as_principal(&format!("/v1/approvals/{hold}/approve"))
            .await;
        assert_eq!(
            (status, &approved["state"]),
            (200, &json!("held")),
            "{approved}"
        );
        assert_eq!(f.budget(&root_id).await["held"], 2000);

        // Another waits; the principal suspends Bob's link: approving it is refused.
        let (status, pending, _) = spend(&f, &bob, &chain, 1500).await;
        assert_eq!(status, 202, "{pending}");
        let hold = s(&pending["hold"]);
        let (status, _) = f
            .as_principal(&format!("/v1/delegations/{bob_id}/suspend"))
            .await;
        assert_eq!(status, 200);
        let (status, body) = f
            .as_principal(&format!("/v1/approvals/{hold}/approve"))
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "delegation_suspended".into()),
            "{body}"
        );
        // And the principal's own delegation suspended stops a pending purchase below it too.
        let (status, _) = f
            .as_principal(&format!("/v1/delegations/{bob_id}/reinstate"))
            .await;
        assert_eq!(status, 200);
        let (status, _) = f
            .as_principal(&format!("/v1/delegations/{root_id}/suspend"))
            .await;
        assert_eq!(status, 200);
        let (status, body) = f
            .as_principal(&format!("/v1/approvals/{hold}/approve"))
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "delegation_suspended".into()),
            "{body}"
        );
    }
}
