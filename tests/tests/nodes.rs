//! Revocation that holds: across two `agentid serve` processes on one PostgreSQL database (the
//! change feed), and on one node under a storm of status-list reads and verifications.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentid_sdk::keys::KeyPair;
use agentid_spec::jose::b64u_decode;
use agentid_spec::status_list::Bitstring;
use serde_json::{json, Value};

use crate::fixture::{nonce, Fixture};
use crate::support::{answered, backends, codes, s, Backend, Server};

async fn verify_at(server: &Server, vp: &str, merchant: &str, n: &str) -> Value {
    let (status, d) = server
        .http()
        .post(
            "/v1/verify",
            None,
            &json!({ "presentation": vp, "merchant": merchant, "nonce": n }),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    d
}

/// Polls `check` every 20 ms until it holds or `limit` passes; the time it took.
async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t0 = Instant::now();
    while t0.elapsed() <= limit {
        if check().await {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Finding (sixth attack): after the wallet's key was rotated through one node, the other
/// kept signing checkpoints and authorizations with the old key until it was retired. A
/// rotation is announced on the change feed: the other node signs with the new key within a
/// second.
#[tokio::test]
async fn a_wallet_key_rotated_through_one_node_signs_on_another() {
    for backend in backends().await {
        if !matches!(backend, Backend::Postgres(_)) {
            continue;
        }
        let f = Fixture::new(&backend).await;
        let b = f.second_node(&backend).await;
        let (status, rotated) = f
            .server
            .http()
            .post(
                "/v1/admin/wallet/keys",
                Some(&f.server.admin_token),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{rotated}");
        let new_key = s(&rotated["key"]);
        let fragment = new_key.rsplit_once('#').unwrap().1.to_owned();
        let start = std::time::Instant::now();
        loop {
            let (_, checkpoint) = b.http().get("/v1/log/checkpoint").await;
            let jws = s(&checkpoint["checkpoint"]);
            let header = jws.split('.').next().unwrap_or_default();
            let header: Value = serde_json::from_slice(&b64u_decode(header).unwrap_or_default())
                .unwrap_or_default();
            if s(&header["kid"]).ends_with(&format!("#{fragment}")) {
                break;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(2),
                "node B still signs with {}",
                header["kid"]
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Two nodes on one PostgreSQL database: a revocation through one is seen through the other
/// within a second, and so is a deplatforming the other way; the other node's served status
/// list shows it too. Changes travel through the database (LISTEN/NOTIFY), not timers: the
/// caches' own refresh is 60 s.
#[tokio::test]
async fn revocation_through_one_node_is_seen_through_another() {
    for backend in backends().await {
        if !matches!(backend, Backend::Postgres(_)) {
            continue;
        }
        let f = Fixture::new(&backend).await;
        let b = f.second_node(&backend).await;
        let m = f.merchant.clone();

        // Node B verifies (and caches the agent, the wallet's document and the status list).
        let n1 = nonce();
        let vp1 = f.present(&f.credential, &m, &n1, 1000).await;
        assert_eq!(verify_at(&b, &vp1, &m, &n1).await["decision"], "accepted");
        let (status, list) = b.http().get_text(&status_path(&f)).await;
        assert_eq!(status, 200);
        assert!(!revoked_bit(&list, &f).await);

        // Presentations made before the revocation, with their holds.
        let n2 = nonce();
        let vp2 = f.present(&f.credential, &m, &n2, 1000).await;

        // Revoke through node A.
        f.revoke().await;
        let took = within(Duration::from_secs(1), || async {
            codes(&verify_at(&b, &vp2, &m, &n2).await) == ["credential_revoked"]
        })
        .await
        .expect("node B still accepts a credential revoked through node A after 1 s");
        eprintln!("revocation through A seen through B after {took:?}");
        let (_, list) = b.http().get_text(&status_path(&f)).await;
        assert!(
            revoked_bit(&list, &f).await,
            "node B serves the revoked bit"
        );

        // Deplatform through node B; node A rejects the agent within a second.
        let second = f.delegate(json!({})).await;
        let n3 = nonce();
        let vp3 = f.present(&s(&second["credential"]), &m, &n3, 1000).await;
        // Node A caches the agent.
        assert_eq!(
            verify_at(&f.server, &vp3, &m, &n3).await["decision"],
            "accepted"
        );
        let n4 = nonce();
        let vp4 = f.present(&s(&second["credential"]), &m, &n4, 1000).await;
        let (status, out) = b
            .http()
            .post(
                &format!("/v1/admin/agents/{}/deplatform", f.agent),
                Some(&b.admin_token),
                &json!({ "reason": "card testing fraud" }),
            )
            .await;
        assert_eq!(status, 200, "{out}");
        let took = within(Duration::from_secs(1), || async {
            codes(&verify_at(&f.server, &vp4, &m, &n4).await)
                .contains(&"agent_deplatformed".to_owned())
        })
        .await
        .expect("node A still accepts an agent deplatformed through node B after 1 s");
        eprintln!("deplatforming through B seen through A after {took:?}");
    }
}

/// Finding (attack on the log's decisions): with the database dropping a revocation (a
/// trigger keeping `revoked_at` clear), node B read node A's `revoke-credential` only at its
/// next checkpoint, and the status list it signed meanwhile kept the bit clear for up to an
/// hour. Node B now reads the log on A's change notice, before it serves anything cached again:
/// its status list has the bit within a second.
#[tokio::test]
async fn a_revocation_the_database_drops_reaches_the_other_node_through_the_log() {
    for backend in backends().await {
        if !matches!(backend, Backend::Postgres(_)) {
            continue;
        }
        let f = Fixture::new(&backend).await;
        let b = f.second_node(&backend).await;
        let (status, list) = b.http().get_text(&status_path(&f)).await;
        assert_eq!(status, 200);
        assert!(!revoked_bit(&list, &f).await);
        let keep = "CREATE OR REPLACE FUNCTION agentid_test_keep_live() RETURNS trigger AS $$ \
                    BEGIN NEW.revoked_at := NULL; RETURN NEW; END $$ LANGUAGE plpgsql";
        crate::support::tamper(&f.server, keep, &[]).await;
        crate::support::tamper(
            &f.server,
            "CREATE TRIGGER agentid_test_keep_live BEFORE UPDATE ON wallet_delegations \
             FOR EACH ROW EXECUTE FUNCTION agentid_test_keep_live()",
            &[],
        )
        .await;
        f.revoke().await;
        let path = status_path(&f);
        let took = within(Duration::from_secs(1), || async {
            let (_, list) = b.http().get_text(&path).await;
            revoked_bit(&list, &f).await
        })
        .await;
        crate::support::tamper(
            &f.server,
            "DROP TRIGGER agentid_test_keep_live ON wallet_delegations",
            &[],
        )
        .await;
        crate::support::tamper(&f.server, "DROP FUNCTION agentid_test_keep_live()", &[]).await;
        let took = took.expect("node B's status list shows the revocation the log records");
        eprintln!("a revocation the database dropped reached node B's list after {took:?}");
    }
}

fn status_path(f: &Fixture) -> String {
    let vc: Value =
        serde_json::from_slice(&b64u_decode(f.credential.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    let url = s(&vc["credentialStatus"]["statusListCredential"]);
    url.strip_prefix(&f.server.url).unwrap().to_owned()
}

/// Whether the fixture credential's bit is set in the signed list `jws`.
async fn revoked_bit(jws: &str, f: &Fixture) -> bool {
    let vc: Value =
        serde_json::from_slice(&b64u_decode(f.credential.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    let index: usize = s(&vc["credentialStatus"]["statusListIndex"])
        .parse()
        .unwrap();
    let list: Value =
        serde_json::from_slice(&b64u_decode(jws.trim().split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    let bits = Bitstring::decode(&s(&list["credentialSubject"]["encodedList"])).unwrap();
    bits.get(index).unwrap()
}

/// Status-list reads and verifications hammer one node while the delegation is revoked: no
/// verification or list read that starts after the revocation returned sees it unrevoked.
#[tokio::test]
async fn no_acceptance_after_a_revocation_returns() {
    for backend in backends().await {
        let f = Arc::new(Fixture::new(&backend).await);
        let m = f.merchant.clone();
        let mut presentations = Vec::new();
        for _ in 0..24 {
            let n = nonce();
            presentations.push((f.present(&f.credential, &m, &n, 100).await, n));
        }
        let revoked_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
        let mut tasks = Vec::new();
        // Readers of the status list.
        for _ in 0..3 {
            let (f, revoked_at) = (f.clone(), revoked_at.clone());
            tasks.push(tokio::spawn(async move {
                let mut late = 0;
                for _ in 0..60 {
                    let start = Instant::now();
                    let (_, list) = f.server.http().get_text(&status_path(&f)).await;
                    let after = revoked_at.lock().unwrap().is_some_and(|t| start > t);
                    if after {
                        assert!(
                            revoked_bit(&list, &f).await,
                            "a list read after the revocation returned shows it unrevoked"
                        );
                        late += 1;
                    }
                }
                late
            }));
        }
        // Verifications, one presentation each.
        let chunks: Vec<Vec<(String, String)>> =
            presentations.chunks(8).map(<[_]>::to_vec).collect();
        for chunk in chunks {
            let (f, m, revoked_at) = (f.clone(), m.clone(), revoked_at.clone());
            tasks.push(tokio::spawn(async move {
                let mut late = 0;
                for (vp, n) in chunk {
                    tokio::time::sleep(Duration::from_millis(15)).await;
                    let start = Instant::now();
                    let d = f.verify_http(&vp, &m, &n).await;
                    let after = revoked_at.lock().unwrap().is_some_and(|t| start > t);
                    if after {
                        assert_eq!(
                            codes(&d),
                            ["credential_revoked"],
                            "accepted after the revocation returned: {d}"
                        );
                        late += 1;
                    }
                }
                late
            }));
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        f.revoke().await;
        *revoked_at.lock().unwrap() = Some(Instant::now());
        let mut late = 0;
        for t in tasks {
            late += t.await.unwrap();
        }
        assert!(
            late > 0,
            "{}: nothing ran after the revocation",
            backend.name()
        );
    }
}

/// Finding: the replay memory was per process, lost on restart and not shared between nodes.
/// Now it is in the database: a nonce accepted before a `kill -9` is a replay after the restart,
/// and (on PostgreSQL) a nonce accepted through one node is a replay through another.
#[tokio::test]
async fn replay_memory_survives_restarts_and_is_shared() {
    for backend in backends().await {
        let mut f = Fixture::new(&backend).await;
        let m = f.merchant.clone();
        let n = nonce();
        let vp = f.present(&f.credential, &m, &n, 1000).await;
        assert_eq!(f.verify_http(&vp, &m, &n).await["decision"], "accepted");
        f.server.restart().await;
        let d = f.verify_http(&vp, &m, &n).await;
        assert_eq!(codes(&d), ["nonce_replayed"], "{}: {d}", backend.name());

        if matches!(backend, Backend::Postgres(_)) {
            let b = f.second_node(&backend).await;
            let n = nonce();
            let vp = f.present(&f.credential, &m, &n, 1000).await;
            assert_eq!(verify_at(&b, &vp, &m, &n).await["decision"], "accepted");
            let d = f.verify_http(&vp, &m, &n).await;
            assert_eq!(
                codes(&d),
                ["nonce_replayed"],
                "accepted through B, replayed at A"
            );
        }
    }
}

/// One presentation sent 16 times at once (on PostgreSQL through two nodes, alternately) is
/// accepted exactly once: the replay memory writes nonces in batches, and a nonce twice in one
/// batch, or in two nodes' batches at once, still has one winner.
#[tokio::test]
async fn one_presentation_sent_many_times_at_once_is_accepted_once() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let second = match backend {
            Backend::Postgres(_) => Some(f.second_node(&backend).await),
            _ => None,
        };
        let m = f.merchant.clone();
        for _round in 0..3 {
            let n = nonce();
            let vp = f.present(&f.credential, &m, &n, 1000).await;
            let sent = (0..16).map(|i| {
                let (vp, m, n, f, second) = (&vp, &m, &n, &f, &second);
                async move {
                    match second {
                        Some(b) if i % 2 == 1 => verify_at(b, vp, m, n).await,
                        _ => f.verify_http(vp, m, n).await,
                    }
                }
            });
            let decisions = futures_util::future::join_all(sent).await;
            let accepted = decisions
                .iter()
                .filter(|d| d["decision"] == "accepted")
                .count();
            assert_eq!(accepted, 1, "{}: {decisions:?}", backend.name());
            for d in decisions.iter().filter(|d| d["decision"] != "accepted") {
                assert_eq!(codes(d), ["nonce_replayed"], "{}: {d}", backend.name());
            }
        }
    }
}

/// A full replay memory refuses with its own code: never `nonce_replayed` for a fresh nonce,
/// never an acceptance it cannot remember.
#[tokio::test]
async fn a_full_replay_memory_has_its_own_code() {
    for backend in backends().await {
        if matches!(backend, Backend::Postgres(_)) {
            // The table is shared by every test on the database; the bound is per deployment.
            continue;
        }
        let f = Fixture::new_with(&backend, &["--max-nonces", "1"]).await;
        let m = f.merchant.clone();
        let n = nonce();
        let vp = f.present(&f.credential, &m, &n, 1000).await;
        assert_eq!(f.verify_http(&vp, &m, &n).await["decision"], "accepted");
        let n2 = nonce();
        let vp2 = f.present(&f.credential, &m, &n2, 1000).await;
        let d = f.verify_http(&vp2, &m, &n2).await;
        assert_eq!(codes(&d), ["nonce_memory_full"], "{d}");
    }
}

/// The README's two-node walkthrough, run as written by bash against two real nodes on one
/// PostgreSQL database.
#[tokio::test]
async fn readme_walkthrough_on_two_nodes() {
    for backend in backends().await {
        if !matches!(backend, Backend::Postgres(_)) {
            continue;
        }
        let f = Fixture::new(&backend).await;
        let b = f.second_node(&backend).await;
        let stdout = crate::support::run_readme_block(
            "walkthrough-nodes",
            &[
                ("NODE_A", f.server.url.as_str()),
                ("NODE_B", b.url.as_str()),
            ],
        )
        .await;
        for expected in [
            "accepted\n",
            "true\n",
            "rejected through node B within",
            "[\"credential_revoked\"]",
        ] {
            assert!(
                stdout.contains(expected),
                "output lacks {expected}:\n{stdout}"
            );
        }
    }
}

/// Two nodes on one PostgreSQL database: an agent suspended by a moderator through one node is
/// refused with `agent_suspended` through the other within a second; reinstated through the
/// second, it is accepted through the first again within a second.
#[tokio::test]
async fn a_suspension_through_one_node_holds_on_another() {
    for backend in backends().await {
        if !matches!(backend, Backend::Postgres(_)) {
            continue;
        }
        let f = Fixture::new(&backend).await;
        let b = f.second_node(&backend).await;
        let m = f.merchant.clone();
        let n1 = nonce();
        let vp1 = f.present(&f.credential, &m, &n1, 1000).await;
        assert_eq!(
            verify_at(&f.server, &vp1, &m, &n1).await["decision"],
            "accepted"
        );
        let n2 = nonce();
        let vp2 = f.present(&f.credential, &m, &n2, 1000).await;

        let (status, out) = b
            .http()
            .post(
                &format!("/v1/admin/agents/{}/suspend", f.agent),
                Some(&b.admin_token),
                &json!({ "reasonCode": "fraud", "reason": "card testing", "durationSecs": 3600 }),
            )
            .await;
        assert_eq!(status, 200, "{out}");
        let took = within(Duration::from_secs(1), || async {
            codes(&verify_at(&f.server, &vp2, &m, &n2).await)
                .contains(&"agent_suspended".to_owned())
        })
        .await
        .expect("node A still accepts an agent suspended through node B after 1 s");
        eprintln!("suspension through B seen through A after {took:?}");
        let (_, resolved) = f
            .server
            .http()
            .get(&format!("/1.0/identifiers/{}", f.agent))
            .await;
        assert_eq!(resolved["didDocumentMetadata"]["agentStatus"], "suspended");

        let (status, out) = f
            .server
            .http()
            .post(
                &format!("/v1/admin/agents/{}/reinstate", f.agent),
                Some(&f.server.admin_token),
                &json!({ "reason": "chargebacks explained" }),
            )
            .await;
        assert_eq!(status, 200, "{out}");
        let n3 = nonce();
        let vp3 = f.present(&f.credential, &m, &n3, 1000).await;
        let took = within(Duration::from_secs(1), || async {
            verify_at(&b, &vp3, &m, &n3).await["decision"] == "accepted"
        })
        .await
        .expect("node B still refuses an agent reinstated through node A after 1 s");
        eprintln!("reinstatement through A seen through B after {took:?}");
    }
}

/// A server trusting the registry at `registry` and the wallet `wallet`.
async fn trusting(registry: &str, wallet: &str) -> Server {
    Server::start_with(
        &Backend::Sqlite,
        &["--trust-registry", registry, "--trust-wallet", wallet],
    )
    .await
}

/// Finding: `--trust-registry` did nothing for `/v1/verify`: with a second registry and its
/// wallet trusted, that registry's valid presentation was `resolution_failed`. Now a service
/// resolves agents of the foreign registries it trusts (their answers replayed from the signed
/// operations), for `/v1/verify` and for its wallet's view of them, and names the registry
/// that vouched; an untrusted one still vouches for nothing.
#[tokio::test]
async fn a_trusted_foreign_registrys_agents_are_verified() {
    // Registry B: the agent, its principal, its wallet and the merchant's presentation.
    let f = Fixture::new(&Backend::Sqlite).await;
    let wallet_b = agentid_spec::id::did_web_for_url(&f.server.url)
        .unwrap()
        .to_string();
    let a = trusting(&f.server.url, &wallet_b).await;
    let untrusting = Server::start_with(&Backend::Sqlite, &["--trust-wallet", &wallet_b]).await;
    let n = nonce();
    let vp = f.present(&f.credential, &f.merchant, &n, 1200).await;
    let d = verify_at(&untrusting, &vp, &f.merchant, &n).await;
    assert_eq!(d["decision"], "rejected", "{d}");
    let d = verify_at(&a, &vp, &f.merchant, &n).await;
    assert_eq!(d["decision"], "accepted", "{d}");
    assert_eq!(
        s(&d["authorization"]["anchors"]["registry"]),
        agentid_resolver::http::origin(&f.server.url),
        "{d}"
    );
    // A's wallet, too, holds budget for B's agent: a principal of A delegates to it, and the
    // agent's spend request, resolved through B, is authorized.
    let http_a = a.http();
    let (st, principal) = http_a.post("/v1/principals", None, &json!({})).await;
    assert_eq!(st, 201, "{principal}");
    let (st, issued) = http_a
        .post(
            "/v1/delegations",
            Some(&s(&principal["token"])),
            &json!({
                "agent": f.agent,
                "scope": { "merchants": [f.merchant], "categories": ["groceries"] },
                "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 20000 },
                "validUntil": agentid_spec::time::format_rfc3339(crate::fixture::now() + 86_400),
            }),
        )
        .await;
    assert_eq!(st, 201, "{issued}");
    let request = f.spend_request(&s(&issued["credential"]), &f.merchant, &nonce(), 700);
    let (st, hold) = f.authorize_at(&a, &request, None).await;
    assert_eq!(st, 201, "{hold}");

    // Its standing is B's: once B deplatforms the agent, A refuses it (after its cache).
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
    let a2 = trusting(&f.server.url, &wallet_b).await;
    let n = nonce();
    let vp = f.signed(&f.credential, &f.merchant, &n, 1200, None);
    let d = verify_at(&a2, &vp, &f.merchant, &n).await;
    assert!(codes(&d).contains(&"agent_deplatformed".to_owned()), "{d}");

    // Finding (seventh attack): anyone copied the deplatformed agent's genesis (public at B)
    // into A's open registry: the same DID, active, and A answered from its own copy. A
    // refusal at a trusted registry now stands whichever registry also holds the agent, and a
    // copy that lacks the foreign registry's later operations is not the agent's answer.
    let (_, ops) = f
        .server
        .http()
        .get(&format!("/v1/agents/{}/operations", f.agent))
        .await;
    let genesis = s(&ops["operations"][0]["operation"]);
    for node in [&a, &a2] {
        let (st, b) = node
            .http()
            .post("/v1/agents", None, &json!({ "operation": genesis }))
            .await;
        assert_eq!(
            st, 201,
            "the copy is registered (a DID is its genesis' hash): {b}"
        );
    }
    let a3 = trusting(&f.server.url, &wallet_b).await;
    let (st, b) = a3
        .http()
        .post("/v1/agents", None, &json!({ "operation": genesis }))
        .await;
    assert_eq!(st, 201, "{b}");
    for node in [&a2, &a3] {
        let n = nonce();
        let vp = f.signed(&f.credential, &f.merchant, &n, 1200, None);
        let d = verify_at(node, &vp, &f.merchant, &n).await;
        assert!(
            codes(&d).contains(&"agent_deplatformed".to_owned()),
            "the copy answered: {d}"
        );
    }
    let request = f.spend_request(&s(&issued["credential"]), &f.merchant, &nonce(), 700);
    let (st, hold) = f.authorize_at(&a3, &request, None).await;
    assert!(
        st >= 400,
        "a hold for a deplatformed agent through its copy: {hold}"
    );
}

/// Finding (seventh attack): an agent that rotated its key at a trusted registry was copied
/// (its genesis alone) into this one, and the old key signed presentations accepted here. The
/// foreign registry's later history is the agent's answer.
#[tokio::test]
async fn a_copy_of_an_agent_does_not_bring_back_its_old_keys() {
    let b = Server::start(&Backend::Sqlite).await;
    let (old, new) = (KeyPair::generate(), KeyPair::generate());
    let genesis = agentid_sdk::operation::create(&old, &old, None, crate::fixture::now());
    let did = genesis.did.as_str();
    assert_eq!(submit_op(&b, None, &genesis.operation).await.0, 201);
    let first = head_at(&b, did).await;
    let keys = agentid_sdk::operation::Keys::new(&new, &[&old]);
    let update =
        agentid_sdk::operation::update(&genesis.did, &first, &keys, &old, crate::fixture::now());
    assert_eq!(submit_op(&b, Some(did), &update).await.0, 200);
    let a = Server::start_with(&Backend::Sqlite, &["--trust-registry", &b.url]).await;
    assert_eq!(submit_op(&a, None, &genesis.operation).await.0, 201);
    // A's registry serves its own copy (its genesis only); what A's wallet and verifier act on
    // is B's later history: the new key.
    assert_eq!(head_at(&a, did).await, first);
    let source = agentid_resolver::http::HttpSource::new(&b.url, Duration::from_secs(5)).unwrap();
    let theirs = agentid_resolver::Source::resolve(&source, did)
        .await
        .unwrap();
    let their_key = theirs.did_document.unwrap().verification_method[0]
        .public_key_multibase
        .clone();
    assert_eq!(their_key, new.did_key().multibase());
    let credential = delegated_at(&a, did).await;
    let (st, refused) = hold_at(&a, spend_by(did, &credential, &old)).await;
    assert!(
        st >= 400,
        "the old key held budget through the copy: {refused}"
    );
    let (st, held) = hold_at(&a, spend_by(did, &credential, &new)).await;
    assert_eq!(st, 201, "the new key, as B's history has it: {held}");

    // Eighth attack: with two trusted registries and no copy here, the first that held the
    // agent answered, a bare copy of its genesis included. Every trusted registry that holds
    // it is weighed now: the longest history answers when the others are its beginning.
    let c = Server::start(&Backend::Sqlite).await;
    assert_eq!(submit_op(&c, None, &genesis.operation).await.0, 201);
    let both = ["--trust-registry", &c.url, "--trust-registry", &b.url];
    let d = Server::start_with(&Backend::Sqlite, &both).await;
    let credential = delegated_at(&d, did).await;
    let (st, r) = hold_at(&d, spend_by(did, &credential, &old)).await;
    assert!(
        st >= 400,
        "the old key through the first registry's bare copy: {r}"
    );
    let (st, r) = hold_at(&d, spend_by(did, &credential, &new)).await;
    assert_eq!(st, 201, "{r}");

    // The service told C what B holds (C was only behind): C now has the rotation, and a
    // fork with the old key is refused there (fourteenth attack: an operation posted to one
    // trusted registry alone reaches the others).
    let evil = KeyPair::generate();
    let fork = agentid_sdk::operation::update(
        &genesis.did,
        &first,
        &agentid_sdk::operation::Keys::new(&evil, &[&old]),
        &old,
        crate::fixture::now(),
    );
    let mut waited = 0;
    while head_at(&c, did).await != head_at(&b, did).await {
        assert!(waited < 50, "C was never told the rotation");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let (st, forked) = submit_op(&c, Some(did), &fork).await;
    assert_eq!(st, 409, "the fork, once C knows the rotation: {forked}");
    // And a copy continued from its genesis with the old key (a fork) before anyone compared
    // makes the agent's histories part ways: refused, whichever key presents, until they
    // agree (neither registry takes the other's operation, signed by the same key).
    let c = Server::start(&Backend::Sqlite).await;
    assert_eq!(submit_op(&c, None, &genesis.operation).await.0, 201);
    let (st, forked) = submit_op(&c, Some(did), &fork).await;
    assert_eq!(
        st, 200,
        "the fork is valid where the rotation was never seen: {forked}"
    );
    let both = ["--trust-registry", &c.url, "--trust-registry", &b.url];
    let d2 = Server::start_with(&Backend::Sqlite, &both).await;
    let credential = delegated_at(&d2, did).await;
    for key in [&evil, &new, &old] {
        let (st, r) = hold_at(&d2, spend_by(did, &credential, key)).await;
        assert!(st >= 400, "held through parted histories: {r}");
        assert!(r.to_string().contains("part ways"), "{r}");
    }
}

/// `POST /v1/agents` (no `did`) or `POST /v1/agents/{did}/operations` at `node`, through
/// the typed client.
async fn submit_op(node: &Server, did: Option<&str>, op: &str) -> (u16, Value) {
    let client = node.client();
    match did {
        None => answered(client.register(op).await),
        Some(did) => {
            let did = agentid_spec::id::AgentDid::parse(did).unwrap();
            answered(client.operate(&did, op).await)
        }
    }
}

/// The head (`versionId`) `node` resolves `did` to.
async fn head_at(node: &Server, did: &str) -> String {
    let resolved = node.client().resolve(did).await.unwrap();
    resolved
        .did_document_metadata
        .and_then(|m| m.version_id)
        .unwrap_or_default()
}

/// An agent registered at `node` whose first key, returned, it has since rotated out (the
/// new key signed by it): what a thief holding the old key starts from.
async fn rotated_at(node: &Server) -> (agentid_sdk::operation::SignedGenesis, KeyPair) {
    let (old, new) = (KeyPair::generate(), KeyPair::generate());
    let genesis = agentid_sdk::operation::create(&old, &old, None, crate::fixture::now());
    let did = genesis.did.as_str();
    assert_eq!(submit_op(node, None, &genesis.operation).await.0, 201);
    let rotate = agentid_sdk::operation::update(
        &genesis.did,
        &head_at(node, did).await,
        &agentid_sdk::operation::Keys::new(&new, &[&new]),
        &old,
        crate::fixture::now(),
    );
    assert_eq!(submit_op(node, Some(did), &rotate).await.0, 200);
    (genesis, old)
}

/// `zone`'s claim by `owner`, now.
fn claim_zone(zone: &str, owner: &KeyPair) -> String {
    let op = agentid_spec::zone::ZoneOperation::ClaimZone {
        zone: agentid_spec::id::AgentName::parse(zone).unwrap(),
        owner: owner.did_key(),
        created_at: agentid_spec::time::format_rfc3339(crate::fixture::now()),
    };
    agentid_sdk::operation::zone(&op, owner)
}

/// `owner`'s binding of `name` to `did`, with the consent `agent_key` signs, now.
fn bind_with(
    did: &agentid_spec::id::AgentDid,
    name: &str,
    agent_key: &KeyPair,
    owner: &KeyPair,
) -> String {
    let name = agentid_spec::id::AgentName::parse(name).unwrap();
    let now = crate::fixture::now();
    let consent =
        agentid_sdk::operation::name_consent(&name, did, &owner.did_key(), agent_key, now);
    let op = agentid_spec::zone::ZoneOperation::BindName {
        name,
        did: did.clone(),
        consent,
        created_at: agentid_spec::time::format_rfc3339(now),
    };
    agentid_sdk::operation::zone(&op, owner)
}

/// `POST /v1/zones` of `operation` at `node`, through the typed client.
async fn zone_op_at(node: &Server, operation: &str) -> (u16, Value) {
    let submission = agentid_spec::api::ZoneSubmission {
        operation: operation.to_owned(),
        reason: None,
    };
    answered(node.client().zone_operation(&submission).await)
}

/// The merchant of [`spend_by`].
fn merchant_did() -> String {
    KeyPair::from_seed(&[0x4d; 32]).did_key().to_string()
}

/// A delegation from a new principal of `node` to `agent` ($50 a purchase, $200 in all,
/// groceries at [`merchant_did`]): its credential.
async fn delegated_at(node: &Server, agent: &str) -> String {
    use agentid_spec::api::{DelegationRequest, ScopeRequest};
    let client = node.client();
    let principal = client.create_principal().await.unwrap();
    let request = DelegationRequest {
        agent: agent.to_owned(),
        scope: ScopeRequest {
            merchants: Some(vec![merchant_did()]),
            categories: Some(vec!["groceries".into()]),
        },
        spending_limit: serde_json::from_value(
            json!({ "currency": "USD", "perTransaction": 5000, "total": 20000 }),
        )
        .unwrap(),
        valid_from: None,
        valid_until: agentid_spec::time::format_rfc3339(crate::fixture::now() + 86_400),
        max_depth: None,
    };
    client
        .delegate(&principal.token, &request)
        .await
        .unwrap()
        .credential
}

/// `agent`'s $7 spend request at [`merchant_did`], drawing on `credential`, signed by `key`.
fn spend_by(agent: &str, credential: &str, key: &KeyPair) -> String {
    agentid_sdk::present::present(
        &agentid_sdk::present::CheckoutRequest {
            agent: &agentid_spec::id::Did::parse(agent).unwrap(),
            key_fragment: "key-1",
            credential,
            links: &[],
            merchant: &agentid_spec::id::Did::parse(&merchant_did()).unwrap(),
            nonce: &agentid_spec::presentation::Nonce::parse(&nonce()).unwrap(),
            amount: agentid_spec::credential::Amount::new(700).unwrap(),
            currency: agentid_spec::credential::Currency::parse("USD").unwrap(),
            order_hash: agentid_sdk::present::order_hash(b"order"),
            category: Some(agentid_spec::credential::Category::parse("groceries").unwrap()),
            now: crate::fixture::now(),
            lifetime: 120,
            authorization: None,
        },
        key,
    )
}

/// `POST /v1/spend/authorizations` of `presentation` at `node`, through the typed client.
async fn hold_at(node: &Server, presentation: String) -> (u16, Value) {
    answered(node.client().authorize_spend(&presentation, None).await)
}

/// Finding (eighth attack): on a second node, replays of presentations the first had accepted
/// filled that node's memory of the agent's nonces, so a nonce it then accepted itself was not
/// remembered, and a flood of its replays took a place in the agent's share each until their
/// writes lost: a fresh presentation was `nonce_memory_full` during the flood.
#[tokio::test]
async fn replays_on_another_node_leave_the_agent_its_share() {
    for backend in backends().await {
        if !matches!(backend, Backend::Postgres(_)) {
            continue;
        }
        let flags = ["--max-nonces-per-agent", "3"];
        let f = Fixture::new_with(&backend, &flags).await;
        let b = Server::joining(&f.server, &flags).await;
        let m = f.merchant.clone();
        let ready = f.held_presentations(6).await;
        // Node A accepts three; node B is shown each again: replays.
        for (vp, n) in &ready[..3] {
            assert_eq!(
                verify_at(&f.server, vp, &m, n).await["decision"],
                "accepted"
            );
        }
        for (vp, n) in &ready[..3] {
            assert_eq!(codes(&verify_at(&b, vp, &m, n).await), ["nonce_replayed"]);
        }
        // Node B accepts two of its own (its share counts what it admitted).
        for (vp, n) in &ready[3..5] {
            assert_eq!(verify_at(&b, vp, &m, n).await["decision"], "accepted");
        }
        // A flood of replays of one of them, and a fresh one in the middle of it.
        let (vp4, n4) = &ready[3];
        let (vp6, n6) = &ready[5];
        let flood = (0..100).map(|_| verify_at(&b, vp4, &m, n4));
        let (replays, fresh) = tokio::join!(
            futures_util::future::join_all(flood),
            verify_at(&b, vp6, &m, n6)
        );
        assert_eq!(fresh["decision"], "accepted", "during the flood: {fresh}");
        assert!(replays.iter().all(|d| codes(d) == ["nonce_replayed"]));
    }
}

/// Finding (eighth attack): an agent of this registry rotated its keys here; whoever held its
/// old key copied its genesis to a trusted registry and went on from there with a key of its
/// own, and this service took that history. Histories that part ways are refused: the thief's
/// key holds nothing (nor, until the owner has the copy dealt with, does the owner's).
#[tokio::test]
async fn a_fork_elsewhere_takes_no_agent_from_here() {
    let b = Server::start(&Backend::Sqlite).await;
    let a = Server::start_with(&Backend::Sqlite, &["--trust-registry", &b.url]).await;
    let (old, new, thief) = (
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
    );
    let genesis = agentid_sdk::operation::create(&old, &old, None, crate::fixture::now());
    let did = genesis.did.as_str();
    assert_eq!(submit_op(&a, None, &genesis.operation).await.0, 201);
    let first = head_at(&a, did).await;
    let keys = |k: &KeyPair| agentid_sdk::operation::Keys::new(k, &[k]);
    let now = crate::fixture::now();
    let rotate = agentid_sdk::operation::update(&genesis.did, &first, &keys(&new), &old, now);
    assert_eq!(submit_op(&a, Some(did), &rotate).await.0, 200);
    // The thief, with the old key: a copy at B, continued there.
    assert_eq!(submit_op(&b, None, &genesis.operation).await.0, 201);
    let fork = agentid_sdk::operation::update(&genesis.did, &first, &keys(&thief), &old, now);
    assert_eq!(submit_op(&b, Some(did), &fork).await.0, 200);
    let credential = delegated_at(&a, did).await;
    for key in [&thief, &new] {
        let (st, r) = hold_at(&a, spend_by(did, &credential, key)).await;
        assert!(st >= 400, "held through a fork: {r}");
        assert!(r.to_string().contains("part ways"), "{r}");
    }

    // Tenth attack: the thief had the forked copy suspended for a moment (there, a zone it
    // owns; here B's operator): the refusal won, its document was the one checked, and once
    // the suspension lapsed the thief's key held budget. A refusal now stands on the agreed
    // chain's document, and chains that part ways are refused whatever stands.
    let c = Server::start(&Backend::Sqlite).await;
    assert_eq!(submit_op(&c, None, &genesis.operation).await.0, 201);
    assert_eq!(submit_op(&c, Some(did), &fork).await.0, 200);
    let (st, body) = c
        .http()
        .post(
            &format!("/v1/admin/agents/{did}/suspend"),
            Some(&c.admin_token),
            &json!({ "reasonCode": "fraud", "reason": "a moment", "durationSecs": 2 }),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let v = Server::start_with(&Backend::Sqlite, &["--trust-registry", &c.url]).await;
    assert_eq!(submit_op(&v, None, &genesis.operation).await.0, 201);
    assert_eq!(submit_op(&v, Some(did), &rotate).await.0, 200);
    let credential = delegated_at(&v, did).await;
    let (st, r) = hold_at(&v, spend_by(did, &credential, &thief)).await;
    assert!(st >= 400, "{r}");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (st, r) = hold_at(&v, spend_by(did, &credential, &thief)).await;
    assert!(st >= 400, "the thief's key once the suspension lapsed: {r}");
}

/// Finding (ninth attack): a stranger copied an agent's operations to another trusted
/// registry, leaving out one a recovery had undone: the copy could never match the history
/// kept in the order received, and the agent was refused for good. Histories are compared by
/// their operations in force: the copy is the same agent. And a refusal (a deplatforming)
/// stands while another trusted registry cannot be asked.
#[tokio::test]
async fn a_copy_without_what_a_recovery_undid_is_the_same_agent() {
    let b = Server::start(&Backend::Sqlite).await;
    let (hi, lo, first_key, stolen_key, kept_key) = (
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
    );
    let now = crate::fixture::now();
    let genesis = agentid_sdk::operation::create(&first_key, &hi, None, now);
    let did = genesis.did.as_str();
    assert_eq!(submit_op(&b, None, &genesis.operation).await.0, 201);
    let g = head_at(&b, did).await;
    let u1 = agentid_sdk::operation::update(
        &genesis.did,
        &g,
        &agentid_sdk::operation::Keys::new(&first_key, &[&hi, &lo]),
        &hi,
        now,
    );
    assert_eq!(submit_op(&b, Some(did), &u1).await.0, 200);
    let u1_head = head_at(&b, did).await;
    // The lower key, stolen, changes the signing key; the higher key undoes it (a recovery).
    let a_op = agentid_sdk::operation::update(
        &genesis.did,
        &u1_head,
        &agentid_sdk::operation::Keys::new(&stolen_key, &[&hi, &lo]),
        &lo,
        now,
    );
    assert_eq!(submit_op(&b, Some(did), &a_op).await.0, 200);
    let recovery = agentid_sdk::operation::update(
        &genesis.did,
        &u1_head,
        &agentid_sdk::operation::Keys::new(&kept_key, &[&hi]),
        &hi,
        now + 1,
    );
    let (st, r) = submit_op(&b, Some(did), &recovery).await;
    assert_eq!(st, 200, "{r}");
    // A stranger copies what is in force to C: the genesis, U1 and the recovery.
    let mut c = Server::start(&Backend::Sqlite).await;
    for (path, op) in [
        (None, &genesis.operation),
        (Some(did), &u1),
        (Some(did), &recovery),
    ] {
        let (st, r) = submit_op(&c, path, op).await;
        assert_eq!(st, if path.is_none() { 201 } else { 200 }, "{r}");
    }
    let c_url = c.url.clone();
    let both = ["--trust-registry", &c_url, "--trust-registry", &b.url];
    let d = Server::start_with(&Backend::Sqlite, &both).await;
    let credential = delegated_at(&d, did).await;
    let (st, r) = hold_at(&d, spend_by(did, &credential, &kept_key)).await;
    assert_eq!(st, 201, "the agent, as both hold it: {r}");
    let (st, r) = hold_at(&d, spend_by(did, &credential, &stolen_key)).await;
    assert!(st >= 400, "the undone key: {r}");

    // Tenth attack: a stranger copied the operations up to the one a recovery undid (and
    // that one), without the recovery: that copy's chain parted ways, and the agent was
    // refused (one registry's recovery is never taken for another's: twelfth attack, a
    // trusted registry with a lagging clock made a stale key's recovery look timely and
    // handed the agent over). Fourteenth: the denial lasted until someone posted the public
    // recovery to the copy, and for good once the copy's window had closed. A service that
    // sees chains part ways tells each registry what another holds, and each judges it by
    // its own clock: the copy takes the recovery in its own window, opened by the stranger's
    // copy.
    let e0 = Server::start(&Backend::Sqlite).await;
    for (path, op) in [
        (None, &genesis.operation),
        (Some(did), &u1),
        (Some(did), &a_op),
    ] {
        let (st, r) = submit_op(&e0, path, op).await;
        assert_eq!(st, if path.is_none() { 201 } else { 200 }, "{r}");
    }
    let undone_too = ["--trust-registry", &e0.url, "--trust-registry", &b.url];
    let d3 = Server::start_with(&Backend::Sqlite, &undone_too).await;
    let credential = delegated_at(&d3, did).await;
    let (st, r) = hold_at(&d3, spend_by(did, &credential, &kept_key)).await;
    assert_eq!(st, 201, "the copy was told the recovery: {r}");
    assert_eq!(head_at(&e0, did).await, head_at(&b, did).await);
    let (st, r) = hold_at(&d3, spend_by(did, &credential, &stolen_key)).await;
    assert!(st >= 400, "the undone key: {r}");
    // And with nobody verifying: a registry that trusts B, given the same copy, takes the
    // recovery from B as soon as it accepts the undone operation.
    let f = Server::start_with(&Backend::Sqlite, &["--trust-registry", &b.url]).await;
    for (path, op) in [
        (None, &genesis.operation),
        (Some(did), &u1),
        (Some(did), &a_op),
    ] {
        let (st, r) = submit_op(&f, path, op).await;
        assert_eq!(st, if path.is_none() { 201 } else { 200 }, "{r}");
    }
    let recovered = head_at(&b, did).await;
    let mut waited = 0;
    while head_at(&f, did).await != recovered {
        assert!(waited < 50, "the copy never took the recovery");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }

    // B deplatforms it; C stops answering: the deplatforming stands.
    let (st, body) = b
        .http()
        .post(
            &format!("/v1/admin/agents/{did}/deplatform"),
            Some(&b.admin_token),
            &json!({ "reason": "fraud" }),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    c.stop().await;
    let e = Server::start_with(&Backend::Sqlite, &both).await;
    let credential = delegated_at(&e, did).await;
    let (st, r) = hold_at(&e, spend_by(did, &credential, &kept_key)).await;
    assert!(st >= 400, "{r}");
    assert!(r.to_string().contains("deplatformed"), "{r}");
}

/// Finding (fourteenth attack): a thief with an agent's lower rotation key posted its operation
/// (its own signing key) to a copy only: the home registry's chain was the copy's beginning, so
/// services took the thief's key, while the owner, watching the home registry, saw nothing and
/// its recovery window ran out at the copy. An operation posted to one trusted registry now
/// reaches the others: the copy's service, trusting the home registry, tells it at once, the
/// owner recovers there in time, and a service trusting both tells the copy the recovery.
#[tokio::test]
async fn an_operation_posted_to_one_registry_reaches_the_others() {
    let home = Server::start(&Backend::Sqlite).await;
    let copy = Server::start_with(&Backend::Sqlite, &["--trust-registry", &home.url]).await;
    let (high, low, signing, thief) = (
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
    );
    let keys = agentid_sdk::operation::Keys::new(&signing, &[&high, &low]);
    let genesis = agentid_sdk::operation::create_with(&keys, None, &high, crate::fixture::now());
    let did = genesis.did.as_str();
    assert_eq!(submit_op(&home, None, &genesis.operation).await.0, 201);
    assert_eq!(submit_op(&copy, None, &genesis.operation).await.0, 201);
    let g = head_at(&home, did).await;
    let stolen = agentid_sdk::operation::update(
        &genesis.did,
        &g,
        &agentid_sdk::operation::Keys::new(&thief, &[&high, &low]),
        &low,
        crate::fixture::now(),
    );
    let (st, r) = submit_op(&copy, Some(did), &stolen).await;
    assert_eq!(st, 200, "{r}");
    let at_copy = head_at(&copy, did).await;
    let mut waited = 0;
    while head_at(&home, did).await != at_copy {
        assert!(waited < 50, "the home registry was never told");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    // The owner sees it at home and recovers there.
    let recovery = agentid_sdk::operation::update(
        &genesis.did,
        &g,
        &agentid_sdk::operation::Keys::new(&signing, &[&high]),
        &high,
        crate::fixture::now() + 1,
    );
    let (st, r) = submit_op(&home, Some(did), &recovery).await;
    assert_eq!(st, 200, "{r}");
    let both = ["--trust-registry", &home.url, "--trust-registry", &copy.url];
    let v = Server::start_with(&Backend::Sqlite, &both).await;
    let credential = delegated_at(&v, did).await;
    let (st, r) = hold_at(&v, spend_by(did, &credential, &signing)).await;
    assert_eq!(st, 201, "the owner's key, the copy told the recovery: {r}");
    assert_eq!(head_at(&copy, did).await, head_at(&home, did).await);
    let (st, r) = hold_at(&v, spend_by(did, &credential, &thief)).await;
    assert!(st >= 400, "the thief's key: {r}");
}

/// Findings (fifteenth attack): (1) a thief with an agent's lower rotation key put its own key
/// first and filled the history to its 200-operation cap: the owner's recovery, in time, was
/// refused `too_many_operations`, and 72 hours later the thief's key was settled, consented to
/// a zone of its own and had the agent deplatformed there. A recovery is accepted past the cap.
/// (2) The holder of the first key the owner had since rotated out registered the bare genesis
/// at another trusted registry, where that key was still first, and named and deplatformed the
/// agent in a zone of its own there. A binding's consent is now checked on the latest history
/// the trusted registries hold, and a deplatformed copy still takes the owner's operations.
#[tokio::test]
async fn a_full_history_or_a_stale_copy_takes_no_agent_from_its_owner() {
    // (1) The cap.
    let fast = ["--write-rate", "1000", "--write-burst", "1000"];
    let home = Server::start_with(&Backend::Sqlite, &fast).await;
    let (first, backup, thief) = (
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
    );
    let keys = agentid_sdk::operation::Keys::new(&first, &[&first, &backup]);
    let genesis = agentid_sdk::operation::create_with(&keys, None, &first, crate::fixture::now());
    let did = genesis.did.as_str();
    assert_eq!(submit_op(&home, None, &genesis.operation).await.0, 201);
    let g = head_at(&home, did).await;
    let mine = agentid_sdk::operation::Keys::new(&thief, &[&thief]);
    let promote =
        agentid_sdk::operation::update(&genesis.did, &g, &mine, &backup, crate::fixture::now());
    assert_eq!(submit_op(&home, Some(did), &promote).await.0, 200);
    let mut head = head_at(&home, did).await;
    for i in 0..198 {
        let mut k = agentid_sdk::operation::Keys::new(&thief, &[&thief]);
        k.verification_methods.insert(
            format!("key-{}", i + 2),
            KeyPair::generate().did_key().multibase().to_owned(),
        );
        let op =
            agentid_sdk::operation::update(&genesis.did, &head, &k, &thief, crate::fixture::now());
        let (st, r) = submit_op(&home, Some(did), &op).await;
        assert_eq!(st, 200, "{i}: {r}");
        head = s(&r["head"]);
    }
    let more =
        agentid_sdk::operation::update(&genesis.did, &head, &mine, &thief, crate::fixture::now());
    let (st, r) = submit_op(&home, Some(did), &more).await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (409, "too_many_operations".into()),
        "{r}"
    );
    let recovery = agentid_sdk::operation::update(
        &genesis.did,
        &g,
        &agentid_sdk::operation::Keys::new(&first, &[&first]),
        &first,
        crate::fixture::now(),
    );
    let (st, r) = submit_op(&home, Some(did), &recovery).await;
    assert_eq!(st, 200, "the owner's recovery past the cap: {r}");
    let credential = delegated_at(&home, did).await;
    let (st, r) = hold_at(&home, spend_by(did, &credential, &first)).await;
    assert_eq!(st, 201, "the owner's key: {r}");
    let (st, r) = hold_at(&home, spend_by(did, &credential, &thief)).await;
    assert!(st >= 400, "the thief's key: {r}");

    // (2) The stale copy.
    let r1 = Server::start(&Backend::Sqlite).await;
    let r2 = Server::start_with(&Backend::Sqlite, &["--trust-registry", &r1.url]).await;
    let zone_key = KeyPair::generate();
    let (genesis, old) = rotated_at(&r1).await;
    let did = genesis.did.as_str();
    // The old key's holder: the bare genesis at R2, a zone there, and a binding at once.
    assert_eq!(submit_op(&r2, None, &genesis.operation).await.0, 201);
    let claim = claim_zone("lair", &zone_key);
    assert_eq!(zone_op_at(&r2, &claim).await.0, 200);
    let (st, r) = zone_op_at(&r2, &bind_with(&genesis.did, "v.lair", &old, &zone_key)).await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (403, "consent_invalid".into()),
        "the rotated-out key's consent: {r}"
    );
    assert_eq!(
        head_at(&r2, did).await,
        head_at(&r1, did).await,
        "R2 was brought up to date"
    );
}

/// Findings (sixteenth attack): the check of a binding on the trusted registries' latest
/// history failed open: with the home registry down, the holder of a rotated-out first key
/// bound the agent at a bare copy and deplatformed it for good; and a deplatformed agent could
/// deactivate itself, which freed its name for another DID. A binding now waits until every
/// trusted registry can be asked, and a deplatformed agent keeps its standing and its name.
#[tokio::test]
async fn a_binding_waits_for_every_trusted_registry_and_deplatformed_agents_keep_their_names() {
    let mut r1 = Server::start(&Backend::Sqlite).await;
    let r2 = Server::start_with(&Backend::Sqlite, &["--trust-registry", &r1.url]).await;
    let zone_key = KeyPair::generate();
    let (genesis, old) = rotated_at(&r1).await;
    r1.stop().await;
    assert_eq!(submit_op(&r2, None, &genesis.operation).await.0, 201);
    assert_eq!(zone_op_at(&r2, &claim_zone("den", &zone_key)).await.0, 200);
    let (st, r) = zone_op_at(&r2, &bind_with(&genesis.did, "v.den", &old, &zone_key)).await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (409, "conflict".into()),
        "bound while the home registry was down: {r}"
    );
    // Seventeenth attack: the zone's own name skipped the check.
    let (st, r) = zone_op_at(&r2, &bind_with(&genesis.did, "den", &old, &zone_key)).await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (409, "conflict".into()),
        "the zone's own name: {r}"
    );

    // A deplatformed agent's own deactivation is refused: its name stays held.
    let home = Server::start(&Backend::Sqlite).await;
    let key = KeyPair::generate();
    let named = agentid_sdk::operation::create(
        &key,
        &key,
        Some(agentid_spec::id::AgentName::parse("brandshop").unwrap()),
        crate::fixture::now(),
    );
    let did = named.did.as_str();
    assert_eq!(submit_op(&home, None, &named.operation).await.0, 201);
    let head = head_at(&home, did).await;
    let decided = home
        .client()
        .deplatform_agent(&home.admin_token, did, "fraud")
        .await
        .unwrap();
    assert_eq!(decided.status, "deplatformed");
    let gone = agentid_sdk::operation::deactivate(&named.did, &head, &key, crate::fixture::now());
    let (st, r) = submit_op(&home, Some(did), &gone).await;
    assert_eq!(
        (st, s(&r["error"]["code"])),
        (409, "agent_deplatformed".into()),
        "{r}"
    );
}

/// Finding (thirteenth attack): a trusted registry suspended an agent while another trusted
/// registry was down; the outage was answered from the verifier's cache, the agent as it stood
/// before the suspension, for up to its staleness bound. A suspension refuses while another
/// registry cannot be asked, and not as an outage.
#[tokio::test]
async fn a_suspension_stands_while_another_registry_is_down() {
    let b = Server::start(&Backend::Sqlite).await;
    let mut c = Server::start(&Backend::Sqlite).await;
    let key = KeyPair::generate();
    let genesis = agentid_sdk::operation::create(&key, &key, None, crate::fixture::now());
    let did = genesis.did.as_str();
    assert_eq!(submit_op(&b, None, &genesis.operation).await.0, 201);
    assert_eq!(submit_op(&c, None, &genesis.operation).await.0, 201);
    let (b_url, c_url) = (b.url.clone(), c.url.clone());
    let v = Server::start_with(
        &Backend::Sqlite,
        &[
            "--trust-registry",
            &b_url,
            "--trust-registry",
            &c_url,
            "--did-refresh",
            "1",
        ],
    )
    .await;
    let credential = delegated_at(&v, did).await;
    let (st, r) = hold_at(&v, spend_by(did, &credential, &key)).await;
    assert_eq!(st, 201, "cached as active: {r}");
    let (st, body) = b
        .http()
        .post(
            &format!("/v1/admin/agents/{did}/suspend"),
            Some(&b.admin_token),
            &json!({ "reasonCode": "fraud", "reason": "card testing", "durationSecs": 3600 }),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    c.stop().await;
    // Within the refresh (1 s here) the cached answer may still serve once; after it, never
    // (the staleness bound, 300 s, would otherwise let it serve for minutes).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let start = Instant::now();
    loop {
        let (st, r) = hold_at(&v, spend_by(did, &credential, &key)).await;
        if st >= 400 {
            assert!(r.to_string().contains("suspended"), "{r}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "held from the cache while suspended: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
