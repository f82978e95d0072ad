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
    customer_named(f, "customer").await
}

/// Another agent under the fixture's principal, its key in `<name>.key`.
async fn customer_named(f: &Fixture, name: &str) -> (String, KeyPair, String) {
    let key_file = f.server.dir.path(&format!("{name}.key"));
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
    checkout_via(f, &f.server.http(), agent, key, credential, n).await
}

/// A 1-cent checkout held by the wallet and verified through `via`.
async fn checkout_via(
    f: &Fixture,
    via: &crate::support::Http,
    agent: &str,
    key: &KeyPair,
    credential: &str,
    n: &str,
) -> Value {
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
    let presentation = present(&req, key);
    let (status, decision) = via
        .post(
            "/v1/verify",
            None,
            &serde_json::json!({ "presentation": presentation, "merchant": f.merchant, "nonce": n }),
        )
        .await;
    assert_eq!(status, 200, "{decision}");
    decision
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

/// Finding (fifth attack): a stranger who is its own merchant, with as many agents as it cares
/// to register and nonces it issues itself (counted against no merchant's share), could fill
/// the whole replay memory, and every merchant's checkouts were `nonce_memory_full`. The nonces
/// a client's `/v1/verify` requests record now count against that client's share too (an
/// address, an IPv6 one by its /64), kept across a restart.
#[tokio::test]
async fn a_client_fills_only_its_own_share_of_the_memory() {
    for backend in crate::support::backends().await {
        let mut f = Fixture::new_with(&backend, &["--max-nonces-per-client", "2"]).await;
        let (second, second_key, second_credential) = customer_named(&f, "second").await;
        let stranger = (&f.agent, &f.agent_key, &f.credential);
        let here = f.server.http();
        // Two agents, one client: the client's share fills, whichever agent presents.
        let d = checkout_via(&f, &here, stranger.0, stranger.1, stranger.2, &nonce()).await;
        assert_eq!(d["decision"], "accepted", "{d}");
        let d = checkout_via(
            &f,
            &here,
            &second,
            &second_key,
            &second_credential,
            &nonce(),
        )
        .await;
        assert_eq!(d["decision"], "accepted", "{d}");
        let d = checkout_via(&f, &here, stranger.0, stranger.1, stranger.2, &nonce()).await;
        assert_eq!(codes(&d), ["nonce_memory_full"], "{d}");
        assert!(
            crate::support::s(&d["reasons"][0]["message"]).contains("for this client"),
            "{d}"
        );
        // Another client (another address) is not crowded out, with the same agents.
        let there = f.server.http_from("127.0.0.2".parse().unwrap());
        let d = checkout_via(&f, &there, stranger.0, stranger.1, stranger.2, &nonce()).await;
        assert_eq!(d["decision"], "accepted", "{d}");
        // A restart frees no share.
        f.server
            .restart_with(&["--max-nonces-per-client", "2"])
            .await;
        let here = f.server.http();
        let d = checkout_via(
            &f,
            &here,
            &second,
            &second_key,
            &second_credential,
            &nonce(),
        )
        .await;
        assert_eq!(codes(&d), ["nonce_memory_full"], "after a restart: {d}");
        let there = f.server.http_from("127.0.0.2".parse().unwrap());
        let d = checkout_via(
            &f,
            &there,
            &second,
            &second_key,
            &second_credential,
            &nonce(),
        )
        .await;
        assert_eq!(d["decision"], "accepted", "{d}");
    }
}

/// Finding (sixth attack): whoever held one of an agent's accepted presentations (the merchant,
/// or anyone it leaked to) replayed it to a node that had not accepted it, or to any node after
/// a restart, and each replay took a place in the agent's share: a few replays and the agent's
/// genuine checkouts were `nonce_memory_full`. A replay now gives its place back, and one
/// refused for a full share is still answered `nonce_replayed`.
#[tokio::test]
async fn replays_cost_nobody_a_share() {
    for backend in crate::support::backends().await {
        let flags = [
            "--max-nonces-per-agent",
            "3",
            "--max-nonces-per-client",
            "2",
        ];
        let mut f = Fixture::new_with(&backend, &flags).await;
        let m = f.merchant.clone();
        let ready = f.held_presentations(3).await;
        let d = f.verify_http(&ready[0].0, &m, &ready[0].1).await;
        assert_eq!(d["decision"], "accepted", "{d}");
        // This process forgets what it accepted; the database does not.
        f.server.restart_with(&flags).await;
        let stranger = f.server.http_from("127.0.0.3".parse().unwrap());
        for _ in 0..5 {
            let (st, d) = stranger
                .post(
                    "/v1/verify",
                    None,
                    &json!({ "presentation": ready[0].0, "merchant": m, "nonce": ready[0].1 }),
                )
                .await;
            assert_eq!(st, 200, "{d}");
            assert_eq!(codes(&d), ["nonce_replayed"], "{d}");
        }
        // The agent's genuine checkouts still fit its share (the one accepted holds a place),
        // even in the middle of a flood of replays (seventh attack: replays in flight together
        // each took a place until their writes lost).
        f.server.restart_with(&flags).await;
        let stranger = f.server.http_from("127.0.0.3".parse().unwrap());
        let here = f.server.http_from("127.0.0.4".parse().unwrap());
        let replay = json!({ "presentation": ready[0].0, "merchant": m, "nonce": ready[0].1 });
        let genuine = json!({ "presentation": ready[1].0, "merchant": m, "nonce": ready[1].1 });
        let flood = (0..30).map(|_| stranger.post("/v1/verify", None, &replay));
        let (replays, (_, d)) = tokio::join!(
            futures_util::future::join_all(flood),
            here.post("/v1/verify", None, &genuine)
        );
        assert_eq!(d["decision"], "accepted", "during the flood: {d}");
        for (_, r) in &replays {
            assert_eq!(codes(r), ["nonce_replayed"], "{r}");
        }
        let (_, d) = here
            .post(
                "/v1/verify",
                None,
                &json!({ "presentation": ready[2].0, "merchant": m, "nonce": ready[2].1 }),
            )
            .await;
        assert_eq!(d["decision"], "accepted", "{d}");
        // A replay refused for a full share is still a replay, for what it is.
        let (_, d) = here
            .post(
                "/v1/verify",
                None,
                &json!({ "presentation": ready[1].0, "merchant": m, "nonce": ready[1].1 }),
            )
            .await;
        assert_eq!(codes(&d), ["nonce_replayed"], "{d}");
        f.server.restart_with(&flags).await;
        let (_, d) = f
            .server
            .http_from("127.0.0.4".parse().unwrap())
            .post(
                "/v1/verify",
                None,
                &json!({ "presentation": ready[2].0, "merchant": m, "nonce": ready[2].1 }),
            )
            .await;
        assert_eq!(
            codes(&d),
            ["nonce_replayed"],
            "after a restart, with a full share: {d}"
        );
    }
}

/// Finding (second attack): a stranger with a few agents, each within its own share, filled a
/// merchant's share of the replay memory with checkouts addressed to it, and the merchant's
/// genuine checkouts were `nonce_memory_full`. An agent's share now counts its nonces at every
/// merchant, and a merchant that issues its nonces (signed with its did:key, `agentid nonce`)
/// is never refused for a full share: only it can make them. A nonce in the issued form that it
/// did not issue (another key's, another merchant's, expired, altered) is `nonce_mismatch`.
#[tokio::test]
async fn a_merchant_that_issues_its_nonces_is_never_crowded_out() {
    use agentid_sdk::present::issued_nonce;
    for backend in crate::support::backends().await {
        let f = Fixture::new_with(
            &backend,
            &[
                "--max-nonces-per-agent",
                "2",
                "--max-nonces-per-merchant",
                "3",
            ],
        )
        .await;
        let stranger = (&f.agent, &f.agent_key, &f.credential);
        let (second, second_key, second_credential) = customer_named(&f, "second").await;
        let (customer, customer_key, customer_credential) = customer_named(&f, "buyer").await;
        // The stranger's agent fills its own share (an agent's share counts its nonces at
        // every merchant: a unit test of the SDK's memory shows it across merchants).
        for _ in 0..2 {
            let d = checkout(&f, stranger.0, stranger.1, stranger.2, &nonce()).await;
            assert_eq!(d["decision"], "accepted", "{d}");
        }
        let d = checkout(&f, stranger.0, stranger.1, stranger.2, &nonce()).await;
        assert_eq!(codes(&d), ["nonce_memory_full"], "the agent's share: {d}");
        // With a second agent it fills the merchant's share of open nonces.
        let d = checkout(&f, &second, &second_key, &second_credential, &nonce()).await;
        assert_eq!(d["decision"], "accepted", "{d}");
        let d = checkout(&f, &customer, &customer_key, &customer_credential, &nonce()).await;
        assert_eq!(
            codes(&d),
            ["nonce_memory_full"],
            "the merchant's open share: {d}"
        );
        // The merchant's own nonces still pass.
        let merchant_key = KeyPair::from_seed(&[0x4d; 32]);
        let now = crate::fixture::now();
        let (issued, _) = issued_nonce(&merchant_key, now, 600);
        let d = checkout(
            &f,
            &customer,
            &customer_key,
            &customer_credential,
            issued.as_str(),
        )
        .await;
        assert_eq!(d["decision"], "accepted", "{d}");
        let d = checkout(
            &f,
            &customer,
            &customer_key,
            &customer_credential,
            issued.as_str(),
        )
        .await;
        assert_eq!(codes(&d), ["nonce_replayed"], "{d}");
        // What the merchant did not issue, in the issued form.
        let stranger_key = KeyPair::generate();
        let other_merchant = KeyPair::from_seed(&[0x4e; 32]);
        let (forged, _) = issued_nonce(&stranger_key, now, 600);
        let (elsewhere, _) = issued_nonce(&other_merchant, now, 600);
        let expired = agentid_spec::nonce::issue(merchant_key.signing_key(), now - 5, [1; 16]);
        let (genuine, _) = issued_nonce(&merchant_key, now, 600);
        let (head, last) = genuine.as_str().split_at(genuine.as_str().len() - 1);
        let altered = format!("{head}{}", if last == "A" { "B" } else { "A" });
        for bad in [
            forged.as_str(),
            elsewhere.as_str(),
            expired.as_str(),
            &altered,
        ] {
            let d = checkout(&f, &customer, &customer_key, &customer_credential, bad).await;
            assert_eq!(codes(&d), ["nonce_mismatch"], "{bad}: {d}");
        }
        // The merchant's helper: `agentid nonce --key`.
        let file = f.server.dir.path("merchant.key");
        let file = file.to_str().unwrap();
        let (code, out) = f.server.cli(&["key", "generate", "--out", file]).await;
        assert_eq!(code, 0, "{out}");
        let (code, out) = f
            .server
            .cli(&["nonce", "--key", file, "--ttl-secs", "60"])
            .await;
        assert_eq!(code, 0, "{out}");
        let (n, merchant) = (
            crate::support::s(&out["nonce"]),
            crate::support::s(&out["merchant"]),
        );
        assert_eq!(
            agentid_spec::nonce::check(&n, &merchant, now),
            agentid_spec::nonce::Issued::Valid
        );
        let (code, out) = f
            .server
            .cli(&["nonce", "--key", file, "--ttl-secs", "3601"])
            .await;
        assert_eq!(
            (code, crate::support::s(&out["error"]["code"])),
            (2, "invalid_request".into())
        );
    }
}

/// Finding (database forgery): a principal's revocation was undone by clearing its column: the
/// wallet held again, and after a restart the status list showed the delegation live. A
/// revocation is now recorded in the log first (`revoke-credential`, spec 5.3), and what the
/// log records revoked stays revoked: holds are refused, the status list keeps the bit and the
/// delegation reads revoked, on both backends, before and after a restart. A database restored
/// from before the revocation no longer extends the kept checkpoint and is refused.
#[tokio::test]
async fn a_revocation_undone_in_the_database_stands() {
    for backend in crate::support::backends().await {
        let mut f = Fixture::new(&backend).await;
        let m = f.merchant.clone();
        // A checkout held before the revocation, and a copy of the database as it was.
        let n = nonce();
        let (st, hold) = f
            .authorize(&f.spend_request(&f.credential, &m, &n, 1000), None)
            .await;
        assert_eq!(st, 201, "{hold}");
        let vp = f.signed(
            &f.credential,
            &m,
            &n,
            1000,
            Some(&crate::support::s(&hold["authorization"])),
        );
        let before = match backend {
            Backend::Sqlite => {
                f.server.stop().await;
                let copy = f.server.dir.path("before");
                std::fs::create_dir_all(&copy).unwrap();
                for file in ["agentid.db", "agentid.db-wal", "agentid.db-shm"] {
                    let from = f.server.dir.path("data").join(file);
                    if from.exists() {
                        std::fs::copy(&from, copy.join(file)).unwrap();
                    }
                }
                f.server.restart().await;
                Some(copy)
            }
            Backend::Postgres(_) => None,
        };
        f.revoke().await;
        let (st, log) = f
            .server
            .http()
            .get("/v1/log/entries?after=0&limit=1000")
            .await;
        assert_eq!(st, 200, "{log}");
        let last = log["entries"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["kind"], "revoke-credential", "{last}");
        assert_eq!(
            last["did"].as_str().unwrap(),
            agentid_spec::id::did_web_for_url(&f.server.url)
                .unwrap()
                .as_str()
        );

        let undo = "UPDATE wallet_delegations SET revoked_at = NULL, revocation_reason = NULL";
        assert!(crate::support::tamper(&f.server, undo, &[]).await >= 1);
        for restarted in [false, true] {
            if restarted {
                f.server.restart().await;
            }
            let (st, b) = f
                .authorize(&f.spend_request(&f.credential, &m, &nonce(), 1000), None)
                .await;
            // Refused by the verifier in front of the ledger (the status list keeps the bit),
            // or by the ledger itself.
            let refused = (st == 403 && b["error"]["reasons"][0]["code"] == "credential_revoked")
                || (st == 409 && crate::support::error_code(st, &b) == "delegation_revoked");
            assert!(refused, "restarted {restarted}: {st} {b}");
            let (st, d) = f
                .server
                .http()
                .get_auth(&format!("/v1/delegations/{}", f.credential_id), &f.token)
                .await;
            assert_eq!((st, &d["revoked"]), (200, &json!(true)), "{d}");
            if restarted {
                let d = f.verify_http(&vp, &m, &n).await;
                assert_eq!(codes(&d), ["credential_revoked"], "{d}");
            }
        }

        // The database as it was before the revocation: refused, the log no longer extends
        // the checkpoint kept since.
        if let Some(copy) = before {
            f.server.stop().await;
            let data = f.server.dir.path("data");
            for file in ["agentid.db", "agentid.db-wal", "agentid.db-shm"] {
                let _ = std::fs::remove_file(data.join(file));
                if copy.join(file).exists() {
                    std::fs::copy(copy.join(file), data.join(file)).unwrap();
                }
            }
            let outcome = crate::support::serve_outcome(
                &backend,
                &data,
                &["--public-url", &f.server.url],
                &[],
                None,
            )
            .await;
            let (status, out) = outcome.expect_err("a restore from before a revocation is refused");
            assert_eq!(
                (status, out["error"]["code"].as_str()),
                (2, Some("log_restored")),
                "{out}"
            );
        }
    }
}

/// Finding (attack on issued nonces): the shares were checked before a nonce's write and counted
/// after it, so checkouts sent together all passed one check: 20 of one agent's were accepted
/// with a share of 2. A nonce's place is now taken under the same lock that checks it; and a
/// restart counts the live nonces already recorded.
#[tokio::test]
async fn a_burst_of_checkouts_takes_no_more_than_its_share() {
    for backend in crate::support::backends().await {
        let mut f = Fixture::new_with(&backend, &["--max-nonces-per-agent", "3"]).await;
        let m = f.merchant.clone();
        let ready = f.held_presentations(20).await;
        let decisions = futures_util::future::join_all(
            ready[..16].iter().map(|(vp, n)| f.verify_http(vp, &m, n)),
        )
        .await;
        let accepted = decisions
            .iter()
            .filter(|d| d["decision"] == "accepted")
            .count();
        assert_eq!(accepted, 3, "{decisions:?}");
        for d in decisions.iter().filter(|d| d["decision"] != "accepted") {
            assert_eq!(codes(d), ["nonce_memory_full"], "{d}");
        }
        // A restart frees no share: the live nonces recorded are counted again.
        f.server
            .restart_with(&["--max-nonces-per-agent", "3"])
            .await;
        let (vp, n) = &ready[16];
        let d = f.verify_http(vp, &m, n).await;
        assert_eq!(codes(&d), ["nonce_memory_full"], "{d}");
    }
}

/// The whole public log.
async fn log_entries(f: &Fixture) -> Vec<Value> {
    let (st, log) = f
        .server
        .http()
        .get("/v1/log/entries?after=0&limit=1000")
        .await;
    assert_eq!(st, 200, "{log}");
    log["entries"].as_array().unwrap().clone()
}

/// A spend request of the fixture's agent under `credential` at `merchant`, sent to the wallet.
async fn spend_at(f: &Fixture, merchant: &str, credential: &str) -> (u16, Value) {
    f.authorize(&f.spend_request(credential, merchant, &nonce(), 100), None)
        .await
}

/// Findings (attack on the log's decisions), each against the real server on both backends:
/// a principal's decision named its DID in the public log and one commitment linked a
/// delegation's suspensions to its revocation; a revocation the row already showed was never
/// recorded; an owner rewritten in the database let another principal reinstate a suspension; a
/// seal stripped from a revocation dropped it at the next start; an entry written behind the
/// log's back stopped the log being read while holds went on; concurrent decisions on SQLite
/// failed with 500. Now: the actor is `principal` and commitments differ by kind; what is
/// recorded follows the log, not the row; a decision binds its principal; an unsealed
/// revocation still revokes; an entry the service did not write stops every append and every
/// hold until an operator accepts the log; decisions take the log's write lock first.
#[tokio::test]
async fn decisions_in_the_log_hold_against_the_database() {
    use crate::support::{error_code, peek, s as text, tamper};
    for backend in crate::support::backends().await {
        let mut f = Fixture::new(&backend).await;
        let m = f.merchant.clone();

        // Concurrent decisions: none fails.
        let mut ids = Vec::new();
        for _ in 0..8 {
            ids.push(text(&f.delegate(json!({})).await["id"]));
        }
        let paths: Vec<String> = ids
            .iter()
            .map(|id| format!("/v1/delegations/{id}/suspend"))
            .collect();
        let answers = futures_util::future::join_all(paths.iter().map(|p| f.as_principal(p))).await;
        for (st, b) in &answers {
            assert_eq!(*st, 200, "{b}");
        }

        // What the public log shows of a principal's decisions.
        f.revoke().await;
        let log = log_entries(&f).await;
        let decisions: Vec<&Value> = log
            .iter()
            .filter(|e| e["kind"].as_str().unwrap().ends_with("-credential"))
            .collect();
        assert_eq!(decisions.len(), 9, "{decisions:?}");
        let principal_did = text(&json!(f.principal));
        for e in &decisions {
            assert_eq!(e["actor"], "principal", "{e}");
            let shown = e.to_string();
            assert!(
                !shown.contains(&f.credential_id) && !shown.contains(&principal_did),
                "{e}"
            );
        }

        // A revocation the row already showed is recorded all the same.
        let (_, second) = (0, f.delegate(json!({})).await);
        let (second_id, second_cred) = (text(&second["id"]), text(&second["credential"]));
        let preset = "UPDATE wallet_delegations SET revoked_at = 1 WHERE id = $1";
        assert_eq!(tamper(&f.server, preset, &[&second_id]).await, 1);
        let (st, b) = f
            .as_principal(&format!("/v1/delegations/{second_id}/revoke"))
            .await;
        assert_eq!(st, 200, "{b}");
        let clear = "UPDATE wallet_delegations SET revoked_at = NULL WHERE id = $1";
        assert_eq!(tamper(&f.server, clear, &[&second_id]).await, 1);
        let (st, b) = spend_at(&f, &m, &second_cred).await;
        assert!(
            st == 403 || st == 409,
            "recorded though the row showed it: {st} {b}"
        );

        // Another principal, made the owner in the database, reinstates nothing.
        let (_, other) = f.server.cli(&["wallet", "create"]).await;
        let (other_id, other_token) = (text(&other["principalId"]), text(&other["token"]));
        let third = f.delegate(json!({})).await;
        let (third_id, third_cred) = (text(&third["id"]), text(&third["credential"]));
        let (st, _) = f
            .as_principal(&format!("/v1/delegations/{third_id}/suspend"))
            .await;
        assert_eq!(st, 200);
        let owner = peek(
            &f.server,
            "SELECT principal_id FROM wallet_delegations WHERE id = $1",
            &[&third_id],
        )
        .await
        .unwrap()
        .remove(0);
        let give =
            "UPDATE wallet_delegations SET principal_id = $1, suspended_at = NULL WHERE id = $2";
        tamper(&f.server, give, &[&other_id, &third_id]).await;
        let (st, b) = f
            .server
            .http()
            .post(
                &format!("/v1/delegations/{third_id}/reinstate"),
                Some(&other_token),
                &json!({}),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        let back =
            "UPDATE wallet_delegations SET principal_id = $1, suspended_at = NULL WHERE id = $2";
        tamper(&f.server, back, &[&owner, &third_id]).await;
        let (st, b) = spend_at(&f, &m, &third_cred).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "delegation_suspended".into()),
            "{b}"
        );

        // A seal stripped from the revocation, its row cleared, a restart: still revoked, and
        // the log, holding an entry without the seal, stops every hold.
        let fourth = f.delegate(json!({})).await;
        let fourth_cred = text(&fourth["credential"]);
        f.server.stop().await;
        let strip = "UPDATE registry_log SET seal = NULL WHERE kind = 'revoke-credential'";
        assert!(tamper(&f.server, strip, &[]).await >= 1);
        let undo = "UPDATE wallet_delegations SET revoked_at = NULL";
        tamper(&f.server, undo, &[]).await;
        f.server.restart().await;
        let (st, d) = f
            .server
            .http()
            .get_auth(&format!("/v1/delegations/{}", f.credential_id), &f.token)
            .await;
        assert_eq!((st, &d["revoked"]), (200, &json!(true)), "{d}");
        let (st, b) = spend_at(&f, &m, &fourth_cred).await;
        let untrusted = |st: u16, b: &Value| st != 201 && b.to_string().contains("did not write");
        assert!(
            untrusted(st, &b),
            "a hold while the log is untrusted: {st} {b}"
        );
        // Accepting the log as it is vouches for no entry without a seal.
        f.server.restart_with(&["--accept-restored-log"]).await;
        let (st, b) = spend_at(&f, &m, &fourth_cred).await;
        assert!(untrusted(st, &b), "sealed on nobody's word: {st} {b}");
        let stripped: Vec<String> = log_entries(&f)
            .await
            .iter()
            .filter(|e| e["kind"] == "revoke-credential")
            .map(|e| e["seq"].to_string())
            .collect();
        f.server
            .restart_with(&["--seal-log-entries", &stripped.join(",")])
            .await;
        let (st, b) = spend_at(&f, &m, &fourth_cred).await;
        assert_eq!(st, 201, "vouched for by the operator: {b}");
        let (st, b) = spend_at(&f, &m, &f.credential).await;
        assert!(st == 403 || st == 409, "the revocation stands: {st} {b}");

        // An entry written behind the service's back ends the log: a revocation still applies
        // to the wallet's rows, and every hold stops until an operator accepts the log.
        let next = log_entries(&f).await.len() + 2;
        let bogus = format!(
            "INSERT INTO registry_log (seq, did, kind, operation, actor, prev_hash, entry_hash, created_at) \
             VALUES ({next}, 'x', 'noop', '{{}}', 'x', 'x', 'bogus', 0)"
        );
        tamper(&f.server, &bogus, &[]).await;
        let fifth = f.delegate(json!({})).await;
        let (fifth_id, fifth_cred) = (text(&fifth["id"]), text(&fifth["credential"]));
        let (st, b) = f
            .as_principal(&format!("/v1/delegations/{fifth_id}/revoke"))
            .await;
        assert_eq!((st, &b["revoked"]), (200, &json!(true)), "{b}");
        tamper(
            &f.server,
            "UPDATE wallet_delegations SET revoked_at = NULL",
            &[],
        )
        .await;
        let (st, b) = spend_at(&f, &m, &fifth_cred).await;
        assert!(
            untrusted(st, &b),
            "no hold while the log is untrusted: {st} {b}"
        );
        let (st, b) = spend_at(&f, &m, &fourth_cred).await;
        assert!(untrusted(st, &b), "{st} {b}");

        // So does an operator's revocation: applied to its row, its token refused at once.
        let h = f.server.http();
        let root = f.server.admin_token.clone();
        let (st, b) = h
            .post(
                "/v1/admin/operators",
                Some(&root),
                &json!({ "name": "dave" }),
            )
            .await;
        assert_eq!(st, 201, "{b}");
        let dave = text(&b["token"]);
        let (st, b) = h
            .post("/v1/admin/operators/dave/revoke", Some(&root), &json!({}))
            .await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = h.get_auth("/v1/admin/log", &dave).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (401, "unauthorized".into()),
            "{b}"
        );
    }
}

/// Finding (third attack on the log's decisions): with the log's last entry deleted, the next
/// decision took its number and this node never read it; restoring the deleted row then hid
/// the revocation for good. A decision must land after everything this node has read, and
/// be the very entry the node then holds at its place; otherwise the log is untrusted and
/// nothing that depends on it is granted.
#[tokio::test]
async fn a_decision_after_a_deleted_entry_is_not_lost() {
    for backend in crate::support::backends().await {
        let f = Fixture::new(&backend).await;
        let m = f.merchant.clone();
        // The last entry: another agent's registration.
        let _junk = customer_named(&f, "junk").await;
        let last = log_entries(&f).await.len().to_string();
        let gone = "DELETE FROM registry_log WHERE seq = CAST($1 AS BIGINT)";
        assert_eq!(crate::support::tamper(&f.server, gone, &[&last]).await, 1);
        f.revoke().await;
        crate::support::tamper(
            &f.server,
            "UPDATE wallet_delegations SET revoked_at = NULL",
            &[],
        )
        .await;
        let (st, b) = spend_at(&f, &m, &f.credential).await;
        assert!(
            st != 201 && b.to_string().contains("did not write"),
            "a hold on a revocation the log could not take: {st} {b}"
        );
    }
}

/// A spend request of the fixture's agent and delegation, signed by `key`.
fn spend_request_signed_by(f: &Fixture, key: &KeyPair, n: &str) -> String {
    use agentid_sdk::present::{present, CheckoutRequest};
    use agentid_spec::credential::{Amount, Category, Currency};
    use agentid_spec::id::Did;
    use agentid_spec::presentation::Nonce;
    present(
        &CheckoutRequest {
            agent: &Did::parse(&f.agent).unwrap(),
            key_fragment: "key-1",
            credential: &f.credential,
            links: &[],
            merchant: &Did::parse(&f.merchant).unwrap(),
            nonce: &Nonce::parse(n).unwrap(),
            amount: Amount::new(100).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            order_hash: f.order_hash.clone(),
            category: Some(Category::parse("groceries").unwrap()),
            now: crate::fixture::now(),
            lifetime: 120,
            authorization: None,
        },
        key,
    )
}

async fn unproven_count(f: &Fixture) -> u64 {
    let (_, text) = f.server.http().get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("agentid_unproven_agents_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the metric is served")
}

/// Finding: with the server stopped, an agent's stored document had its key replaced (and,
/// separately, `deplatformed` set back to `active`) in the database; after a restart the
/// service's own wallet held budget for a request signed by the injected key, its verifier
/// accepted it and resolution served the forged document. The service now serves what the
/// agent's log proves, and refuses (500, logged, counted) a row that disagrees.
#[tokio::test]
async fn a_row_rewritten_behind_the_registrys_back_is_refused() {
    for backend in crate::support::backends().await {
        let mut f = Fixture::new(&backend).await;
        let injected = KeyPair::generate();
        let genuine = f.agent_key.did_key().multibase().to_owned();
        let rewrite = |from: &str, to: &str| {
            (
                "UPDATE registry_agents SET document = REPLACE(document, $1, $2) WHERE did = $3",
                [from.to_owned(), to.to_owned(), f.agent.clone()],
            )
        };
        f.server.stop().await;
        let (sql, binds) = rewrite(&genuine, injected.did_key().multibase());
        let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
        assert_eq!(crate::support::tamper(&f.server, sql, &binds).await, 1);
        f.server.restart().await;
        let http = f.server.http();
        let (st, b) = http.get(&format!("/1.0/identifiers/{}", f.agent)).await;
        assert_eq!(st, 500, "the forged document was served: {b}");
        assert!(unproven_count(&f).await >= 1);
        // The wallet holds nothing for the injected key, and the verifier accepts nothing.
        let forged = spend_request_signed_by(&f, &injected, &nonce());
        let (st, b) = f.authorize(&forged, None).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "spend_refused".into()),
            "{b}"
        );
        let n = nonce();
        let d = f
            .verify_http(&spend_request_signed_by(&f, &injected, &n), &f.merchant, &n)
            .await;
        assert_eq!(d["decision"], "rejected", "{d}");
        let (code, out) = f.server.cli(&["resolve", &f.agent]).await;
        assert_ne!(code, 0, "{out}");
        // An auditor replaying the public log finds the agent's served state unproven.
        let (code, out) = f.server.cli(&["log", "verify", "--audit"]).await;
        assert_eq!(
            (code, out["error"]["code"].as_str()),
            (1, Some("state_mismatch")),
            "{out}"
        );

        // Put back, the agent resolves again: the refusal was the rewrite's.
        let (sql, binds) = rewrite(injected.did_key().multibase(), &genuine);
        let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
        crate::support::tamper(&f.server, sql, &binds).await;
        f.server.restart().await;
        let (st, b) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{}", f.agent))
            .await;
        assert_eq!(st, 200, "{b}");
        let (code, out) = f.server.cli(&["log", "verify", "--audit"]).await;
        assert_eq!(code, 0, "{out}");
        assert!(out["agentsAudited"].as_u64().unwrap() >= 1, "{out}");

        // A deplatforming undone in the database is not undone.
        let (st, b) = f
            .server
            .http()
            .post(
                &format!("/v1/admin/agents/{}/deplatform", f.agent),
                Some(&f.server.admin_token),
                &json!({ "reason": "fraud" }),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        f.server.stop().await;
        crate::support::tamper(
            &f.server,
            "UPDATE registry_agents SET status = 'active', status_reason = NULL WHERE did = $1",
            &[&f.agent],
        )
        .await;
        f.server.restart().await;
        let (st, b) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{}", f.agent))
            .await;
        assert_eq!(st, 500, "a deplatformed agent was served as active: {b}");
        let (st, b) = f
            .authorize(
                &f.spend_request(&f.credential, &f.merchant, &nonce(), 100),
                None,
            )
            .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "spend_refused".into()),
            "{b}"
        );
    }
}

/// Finding (outside attack): with the server stopped, someone who could write the database
/// appended an operator's `reinstate` to the log (hash-chained like any entry: the format is
/// public) after the agent's deplatforming, and set its row back to active; the log still
/// extended the kept checkpoint, so the service started and served the agent as reinstated.
/// Every entry now carries the service's seal (under the master key, never in the database):
/// an entry without it proves nothing, and the agent is refused and reported.
#[tokio::test]
async fn a_decision_appended_behind_the_registrys_back_proves_nothing() {
    use agentid_spec::log::{LogEntry, LogRecord};
    for backend in crate::support::backends().await {
        let mut f = Fixture::new(&backend).await;
        let (st, b) = f
            .server
            .http()
            .post(
                &format!("/v1/admin/agents/{}/deplatform", f.agent),
                Some(&f.server.admin_token),
                &json!({ "reason": "fraud" }),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        f.server.stop().await;
        let last = crate::support::peek(
            &f.server,
            "SELECT CAST(seq AS TEXT), entry_hash, operation, actor FROM registry_log \
             ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .expect("the log has entries");
        let seq: i64 = last[0].parse().unwrap();
        let forged = LogEntry::chain(
            Some((seq, &last[1])),
            LogRecord {
                did: f.agent.clone(),
                kind: "reinstate".into(),
                operation: last[2].clone(),
                actor: last[3].clone(),
                reason: Some("appeal upheld".into()),
                created_at: crate::fixture::now(),
            },
        );
        let (seq, at) = (forged.seq.to_string(), forged.created_at.to_string());
        assert_eq!(
            crate::support::tamper(
                &f.server,
                "INSERT INTO registry_log (seq, did, kind, operation, actor, reason, prev_hash, \
                 entry_hash, created_at) VALUES (CAST($1 AS BIGINT), $2, $3, $4, $5, $6, $7, $8, \
                 CAST($9 AS BIGINT))",
                &[
                    &seq,
                    &forged.did,
                    &forged.kind,
                    &forged.operation,
                    &forged.actor,
                    forged.reason.as_deref().unwrap(),
                    &forged.prev_hash,
                    &forged.entry_hash,
                    &at,
                ],
            )
            .await,
            1
        );
        crate::support::tamper(
            &f.server,
            "UPDATE registry_agents SET status = 'active', status_reason = NULL, \
             log_seq = CAST($1 AS BIGINT) WHERE did = $2",
            &[&seq, &f.agent],
        )
        .await;
        // The log extends the kept checkpoint: the service starts, and refuses the agent.
        f.server.restart().await;
        let before = unproven_count(&f).await;
        let (st, b) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{}", f.agent))
            .await;
        assert_eq!(st, 500, "a forged reinstatement was believed: {b}");
        assert!(unproven_count(&f).await > before);
        let (st, b) = f
            .authorize(
                &f.spend_request(&f.credential, &f.merchant, &nonce(), 100),
                None,
            )
            .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "spend_refused".into()),
            "{b}"
        );
        let n = nonce();
        let d = f
            .verify_http(
                &f.spend_request(&f.credential, &f.merchant, &n, 100),
                &f.merchant,
                &n,
            )
            .await;
        assert_eq!(d["decision"], "rejected", "{d}");
        // A seal copied from the genuine entry before it does not fit the forged one.
        crate::support::tamper(
            &f.server,
            "UPDATE registry_log SET seal = (SELECT seal FROM registry_log WHERE seq = \
             CAST($1 AS BIGINT) - 1) WHERE seq = CAST($1 AS BIGINT)",
            &[&seq],
        )
        .await;
        let (st, b) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{}", f.agent))
            .await;
        assert_eq!(st, 500, "a borrowed seal was believed: {b}");
        // Nor is it sealed later (outside attack): the checkpoint the service keeps never grows
        // over an entry without its seal, so the forged entry, given a bad seal for a start
        // and then none, is never taken for one written before seals existed.
        f.server.stop().await;
        f.server.restart().await;
        f.server.stop().await;
        crate::support::tamper(
            &f.server,
            "UPDATE registry_log SET seal = NULL WHERE seq = CAST($1 AS BIGINT)",
            &[&seq],
        )
        .await;
        f.server.restart().await;
        let (st, b) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{}", f.agent))
            .await;
        assert_eq!(st, 500, "a forged entry was sealed at a start: {b}");
    }
}

/// Finding (outside attack): a reason with a NUL byte was a 500 on PostgreSQL (its text type
/// refuses NUL). A reason is refused with its code wherever one is given, on both backends.
#[tokio::test]
async fn a_reason_with_a_nul_byte_is_refused_with_its_code() {
    for backend in crate::support::backends().await {
        let f = Fixture::new(&backend).await;
        let http = f.server.http();
        let (st, b) = http
            .post(
                &format!("/v1/admin/agents/{}/deplatform", f.agent),
                Some(&f.server.admin_token),
                &json!({ "reason": "fraud\u{0}" }),
            )
            .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (400, "invalid_reason".into()),
            "{b}"
        );
        let (st, b) = http
            .post(
                &format!("/v1/delegations/{}/revoke", f.credential_id),
                Some(&f.token),
                &json!({ "reason": "lost\u{0}" }),
            )
            .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (400, "invalid_reason".into()),
            "{b}"
        );
        assert!(
            b["error"]["message"].to_string().contains("without NUL"),
            "says what is wrong with a short reason: {b}"
        );
    }
}
