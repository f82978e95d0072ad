//! Trust and budgets over HTTP against the real server, on SQLite and PostgreSQL: who vouches
//! for an agent and a principal, and a total that holds across merchants, under concurrency and
//! retries.

use agentid_sdk::keys::KeyPair;
use agentid_sdk::present::{order_hash, present, settle, CheckoutRequest};
use agentid_spec::authorization::{
    credential_hash, SettleAction, Settlement, SpendAuthorization, SpendSubject,
};
use agentid_spec::credential::{Amount, Category, Currency, DelegationCredential};
use agentid_spec::id::{did_web_for_url, Did};
use agentid_spec::jose::{b64u_decode, sign_compact, JoseHeader};
use agentid_spec::presentation::{Nonce, Transaction};
use agentid_spec::time::Timestamp;
use serde_json::{json, Value};

use crate::fixture::{nonce, now, Fixture, ORDER};
use crate::support::{backends, codes, error_code, s, Backend};

/// The merchant's signed instruction to capture or release `hold`.
fn settlement(f: &Fixture, merchant_seed: u8, hold: &str, action: SettleAction) -> Value {
    let key = KeyPair::from_seed(&[merchant_seed; 32]);
    let claims = Settlement {
        iss: key.did_key().into(),
        aud: did_web_for_url(&f.server.url).unwrap(),
        hold: hold.to_owned(),
        action,
        iat: now(),
        exp: now() + 60,
    };
    json!({ "settlement": settle(&claims, &key.did_key().key_id(), &key) })
}

/// Finding: a delegation of $50 a purchase and $60 in total let six purchases of $42 through
/// at two merchants. Now the wallet holds each spend against the total; the second purchase is
/// refused with `budget_exceeded`, a merchant shown the bare request rejects it, a cancelled
/// order gives the budget back, and the principal sees what is left.
#[tokio::test]
async fn a_budget_holds_across_merchants() {
    for backend in backends().await {
        across_merchants(&backend).await;
    }
}

async fn across_merchants(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let (m1, m2) = (f.merchant.clone(), f.other_merchant.clone());
    let issued = f
        .delegate(json!({
            "scope": { "merchants": [m1, m2] },
            "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 6000 },
        }))
        .await;
    let (cred, id) = (s(&issued["credential"]), s(&issued["id"]));

    // $42 at the first merchant: held and accepted.
    let n1 = nonce();
    let vp1 = f.present(&cred, &m1, &n1, 4200).await;
    let d = f.verify_http(&vp1, &m1, &n1).await;
    assert_eq!(d["decision"], "accepted", "{}: {d}", backend.name());
    let anchors = &d["authorization"]["anchors"];
    assert_eq!(anchors["registry"], f.server.url.as_str());
    assert_eq!(
        anchors["wallet"],
        did_web_for_url(&f.server.url).unwrap().as_str()
    );
    let hold1 = s(&anchors["hold"]);

    // $42 at the second merchant: the wallet refuses, with what remains.
    let n2 = nonce();
    let request = f.spend_request(&cred, &m2, &n2, 4200);
    let (status, refused) = f.authorize(&request, None).await;
    assert_eq!(
        (status, error_code(status, &refused)),
        (403, "budget_exceeded".into()),
        "{refused}"
    );
    assert!(
        s(&refused["error"]["message"]).contains("1800"),
        "{refused}"
    );
    // The bare request shown to the second merchant anyway is rejected.
    let d = f.verify_http(&request, &m2, &n2).await;
    assert_eq!(codes(&d), ["authorization_missing"], "{d}");
    let b = f.budget(&id).await;
    assert_eq!(
        (b["held"].as_u64(), b["remaining"].as_u64()),
        (Some(4200), Some(1800)),
        "{b}"
    );

    // Only the hold's merchant can release it; the first order is cancelled.
    let http = f.server.http();
    let release = format!("/v1/spend/authorizations/{hold1}/release");
    let (status, body) = http
        .post(
            &release,
            None,
            &settlement(&f, 0x4e, &hold1, SettleAction::Release),
        )
        .await;
    assert_eq!(status, 404, "another merchant's hold is not found: {body}");
    let (status, body) = http
        .post(
            &release,
            None,
            &settlement(&f, 0x4d, &hold1, SettleAction::Capture),
        )
        .await;
    assert_eq!(
        status, 403,
        "a capture instruction does not release: {body}"
    );
    let (status, released) = http
        .post(
            &release,
            None,
            &settlement(&f, 0x4d, &hold1, SettleAction::Release),
        )
        .await;
    assert_eq!(
        (status, &released["state"]),
        (200, &json!("released")),
        "{released}"
    );
    assert_eq!(f.budget(&id).await["remaining"], 6000);

    // Now the second merchant's purchase fits, is accepted and captured.
    let vp2 = f.present(&cred, &m2, &n2, 4200).await;
    let d = f.verify_http(&vp2, &m2, &n2).await;
    assert_eq!(d["decision"], "accepted", "{d}");
    let hold2 = s(&d["authorization"]["anchors"]["hold"]);
    let (status, captured) = http
        .post(
            &format!("/v1/spend/authorizations/{hold2}/capture"),
            None,
            &settlement(&f, 0x4e, &hold2, SettleAction::Capture),
        )
        .await;
    assert_eq!(
        (status, &captured["state"]),
        (200, &json!("captured")),
        "{captured}"
    );
    // A captured spend cannot be released.
    let (status, body) = http
        .post(
            &format!("/v1/spend/authorizations/{hold2}/release"),
            None,
            &settlement(&f, 0x4e, &hold2, SettleAction::Release),
        )
        .await;
    assert_eq!(
        (status, error_code(status, &body)),
        (409, "hold_settled".into())
    );
    let b = f.budget(&id).await;
    assert_eq!(
        (
            b["captured"].as_u64(),
            b["held"].as_u64(),
            b["remaining"].as_u64()
        ),
        (Some(4200), Some(0), Some(1800)),
        "{b}"
    );
    // The principal sees every hold.
    let (_, holds) = http
        .get_auth(&format!("/v1/delegations/{id}/holds"), &f.token)
        .await;
    let states: Vec<&str> = holds["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 2, "{holds}");
    assert!(
        states.contains(&"released") && states.contains(&"captured"),
        "{holds}"
    );
}

/// `Idempotency-Key`: the same request answers the same hold and never debits twice; the same
/// key with another body is refused.
#[tokio::test]
async fn retries_never_debit_twice() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let n = nonce();
        let request = f.spend_request(&f.credential, &f.merchant, &n, 4200);
        let key = format!("retry-{n}");
        let (s1, h1) = f.authorize(&request, Some(&key)).await;
        let (s2, h2) = f.authorize(&request, Some(&key)).await;
        assert_eq!((s1, s2), (201, 201), "{h1} {h2}");
        assert_eq!(h1["hold"], h2["hold"]);
        assert_eq!(h1["authorization"], h2["authorization"]);
        // Without a key, the identical request is still the same hold.
        let (s3, h3) = f.authorize(&request, None).await;
        let (s4, h4) = f.authorize(&request, None).await;
        assert_eq!((s3, s4), (201, 201));
        assert_eq!(h3["hold"], h4["hold"]);
        let other = f.spend_request(&f.credential, &f.merchant, &n, 4300);
        let (status, body) = f.authorize(&other, Some(&key)).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (409, "idempotency_key_reused".into()),
            "{body}"
        );
        let b = f.budget(&f.credential_id).await;
        assert_eq!(b["held"], 8400, "two holds, not four: {b}");
        let (status, body) = f.authorize(&request, Some(&"k".repeat(256))).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (400, "invalid_request".into())
        );
    }
}

/// Concurrent authorizations against one budget never pass its total: 40 requests of $10
/// against $200, all at once, hold exactly $200.
#[tokio::test]
async fn concurrent_authorizations_never_overspend() {
    for backend in backends().await {
        let f = std::sync::Arc::new(Fixture::new(&backend).await);
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let f = f.clone();
            tasks.push(tokio::spawn(async move {
                let request = f.spend_request(&f.credential, &f.merchant, &nonce(), 1000);
                f.authorize(&request, None).await
            }));
        }
        let (mut held, mut refused) = (0, 0);
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                201 => held += 1,
                403 => {
                    assert_eq!(error_code(status, &body), "budget_exceeded");
                    refused += 1
                }
                other => panic!("{}: {other} {body}", backend.name()),
            }
        }
        assert_eq!((held, refused), (20, 20), "{}", backend.name());
        let b = f.budget(&f.credential_id).await;
        assert_eq!(
            (b["held"].as_u64(), b["remaining"].as_u64()),
            (Some(20_000), Some(0))
        );
    }
}

/// Authorizations that arrive together are committed together (a group, spec 11.3) and answer
/// exactly what one at a time would: many budgets at once, among them a daily one, each request
/// raced by its own retry (through the other node, on PostgreSQL), and a key reused with another
/// body racing the first. Every budget ends at its limit, never past it; every key holds once.
#[tokio::test]
async fn grouped_authorizations_answer_as_one_at_a_time() {
    use std::collections::HashMap;
    use std::sync::Arc;
    for backend in backends().await {
        let f = Arc::new(Fixture::new(&backend).await);
        let other = match backend {
            Backend::Postgres(_) => Some(Arc::new(f.second_node(&backend).await)),
            Backend::Sqlite => None,
        };
        // Five budgets of $50 in all, and one of $30 a day: $5 purchases, 12 against each.
        let mut budgets = Vec::new();
        for i in 0..6 {
            let limit = if i < 5 {
                json!({ "currency": "USD", "perTransaction": 1000, "total": 5000 })
            } else {
                json!({ "currency": "USD", "perTransaction": 1000, "total": 5000,
                        "perPeriod": { "period": "day", "amount": 3000 } })
            };
            let d = f.delegate(json!({ "spendingLimit": limit })).await;
            budgets.push((s(&d["credential"]), s(&d["id"])));
        }
        let mut tasks = Vec::new();
        for (i, (cred, _)) in budgets.iter().enumerate() {
            for j in 0..12 {
                let request = f.spend_request(cred, &f.merchant, &nonce(), 500);
                for node in 0..2 {
                    let (f, other) = (f.clone(), other.clone());
                    let (request, key) = (request.clone(), format!("g-{i}-{j}"));
                    tasks.push(tokio::spawn(async move {
                        let at = match (node, &other) {
                            (1, Some(b)) => &**b,
                            _ => &f.server,
                        };
                        let answer = f.authorize_at(at, &request, Some(&key)).await;
                        (i, key, answer)
                    }));
                }
            }
        }
        let mut by_key: HashMap<String, (usize, Vec<(u16, Value)>)> = HashMap::new();
        for t in tasks {
            let (i, key, answer) = t.await.unwrap();
            by_key.entry(key).or_insert((i, Vec::new())).1.push(answer);
        }
        let mut held = [0; 6];
        for (key, (i, answers)) in &by_key {
            let [(s1, a1), (s2, a2)] = answers.as_slice() else {
                panic!("{key}: {answers:?}")
            };
            assert_eq!(
                s1,
                s2,
                "{}: a retry answers as its original: {a1} {a2}",
                backend.name()
            );
            match s1 {
                201 => {
                    assert_eq!(a1["hold"], a2["hold"], "{key}: one hold");
                    held[*i] += 1;
                }
                _ => assert_eq!(error_code(*s1, a1), "budget_exceeded", "{a1}"),
            }
        }
        assert_eq!(held, [10, 10, 10, 10, 10, 6], "{}", backend.name());
        for (i, (_, id)) in budgets.iter().enumerate() {
            let b = f.budget(id).await;
            let expected = if i < 5 { 5000 } else { 3000 };
            assert_eq!(b["held"], expected, "{}: {b}", backend.name());
        }

        // One key, two different requests at once: one hold, and the other is told the key
        // was used for something else.
        let d = f.delegate(json!({})).await;
        let (cred2, id2) = (s(&d["credential"]), s(&d["id"]));
        let x = f.spend_request(&cred2, &f.merchant, &nonce(), 1000);
        let y = f.spend_request(&cred2, &f.merchant, &nonce(), 1100);
        let (fx, fy) = (f.clone(), f.clone());
        let other_y = other.clone();
        let tx = tokio::spawn(async move { fx.authorize(&x, Some("reused")).await });
        let ty = tokio::spawn(async move {
            match &other_y {
                Some(b) => fy.authorize_at(b, &y, Some("reused")).await,
                None => fy.authorize(&y, Some("reused")).await,
            }
        });
        let (ax, ay) = (tx.await.unwrap(), ty.await.unwrap());
        let mut statuses = [ax.0, ay.0];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{} {}", ax.1, ay.1);
        let (winner, loser) = if ax.0 == 201 { (&ax, &ay) } else { (&ay, &ax) };
        assert_eq!(error_code(loser.0, &loser.1), "idempotency_key_reused");
        let b = f.budget(&id2).await;
        assert_eq!(b["held"], winner.1["amount"], "{b}");
    }
}

/// A hold not captured in time expires and gives the budget back; it can no longer be captured.
#[tokio::test]
async fn holds_expire() {
    for backend in backends().await {
        // Three seconds: long enough that a loaded machine still reads the hold held, short
        // enough to wait for.
        let f = Fixture::new_with(&backend, &["--hold-secs", "3"]).await;
        let n = nonce();
        let (status, hold) = f
            .authorize(&f.spend_request(&f.credential, &f.merchant, &n, 4200), None)
            .await;
        assert_eq!(status, 201, "{hold}");
        assert_eq!(f.budget(&f.credential_id).await["held"], 4200);
        tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
        assert_eq!(f.budget(&f.credential_id).await["remaining"], 20_000);
        let id = s(&hold["hold"]);
        let (status, body) = f
            .server
            .http()
            .post(
                &format!("/v1/spend/authorizations/{id}/capture"),
                None,
                &settlement(&f, 0x4d, &id, SettleAction::Capture),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (409, "hold_expired".into())
        );
        // The next authorizations read the budget from the delegation's running counters, out
        // of which the expired hold was swept: exactly the total fits again, and no more.
        for _ in 0..4 {
            let (status, body) = f
                .authorize(
                    &f.spend_request(&f.credential, &f.merchant, &nonce(), 5000),
                    None,
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, body) = f
            .authorize(
                &f.spend_request(&f.credential, &f.merchant, &nonce(), 100),
                None,
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "budget_exceeded".into())
        );
    }
}

/// A registered agent presents, to the wallet, a credential a key of its own signed: the id of
/// a real delegation of this wallet, the agent as subject, any limits, sent together with a
/// genuine request on that delegation. It is refused, and nothing but the genuine hold is taken
/// against the real delegation's budget.
#[tokio::test]
async fn a_credential_borrowing_a_real_delegations_id_is_refused() {
    use std::sync::Arc;
    for backend in backends().await {
        let f = Arc::new(Fixture::new(&backend).await);
        let rogue = KeyPair::from_seed(&[0x74; 32]);
        let mut cred: DelegationCredential =
            serde_json::from_slice(&b64u_decode(f.credential.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        cred.issuer = rogue.did_key().into();
        cred.credential_subject.spending_limit = serde_json::from_value(
            json!({ "currency": "USD", "perTransaction": 99_999_999, "total": 99_999_999 }),
        )
        .unwrap();
        let forged = agentid_sdk::issue::issue(&cred, &rogue);
        assert_eq!(cred.id, f.credential_id);
        let mut tasks = Vec::new();
        for (i, credential) in [forged.clone(), f.credential.clone()]
            .into_iter()
            .enumerate()
        {
            let f = f.clone();
            tasks.push(tokio::spawn(async move {
                let amount = if i == 0 { 9_999_999 } else { 1000 };
                let request = f.spend_request(&credential, &f.merchant, &nonce(), amount);
                f.authorize(&request, None).await
            }));
        }
        let (forged_answer, genuine) = (
            tasks.remove(0).await.unwrap(),
            tasks.remove(0).await.unwrap(),
        );
        // Refused before the ledger (its status list is the real principal's, which the rogue
        // key did not sign); the ledger's own check (the very bytes this wallet issued, for this
        // principal) stands behind it.
        assert_eq!(
            forged_answer.0,
            403,
            "{}: {}",
            backend.name(),
            forged_answer.1
        );
        assert!(
            ["spend_refused", "forbidden"]
                .contains(&error_code(forged_answer.0, &forged_answer.1).as_str()),
            "{}",
            forged_answer.1
        );
        assert_eq!(genuine.0, 201, "{}", genuine.1);
        let b = f.budget(&f.credential_id).await;
        assert_eq!(b["held"], 1000, "only the genuine hold: {b}");
    }
}

/// Finding: an unregistered did:key agent presenting a credential self-issued by another
/// did:key, for 99,999,999, was accepted. The agent is not vouched for by a trusted registry:
/// `agent_not_trusted`. And an authorization from a wallet the verifier does not trust, however
/// well signed, is `wallet_not_trusted`.
#[tokio::test]
async fn untrusted_agents_and_wallets_are_refused() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let m = f.merchant.clone();
        let agent = KeyPair::from_seed(&[0x71; 32]);
        let issuer = KeyPair::from_seed(&[0x72; 32]);
        let agent_did: Did = agent.did_key().into();
        let mut cred: DelegationCredential =
            serde_json::from_slice(&b64u_decode(f.credential.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        cred.issuer = issuer.did_key().into();
        cred.credential_subject.id = agent_did.clone();
        cred.credential_subject.spending_limit = serde_json::from_value(
            json!({ "currency": "USD", "perTransaction": 99_999_999, "total": 99_999_999 }),
        )
        .unwrap();
        let self_issued = agentid_sdk::issue::issue(&cred, &issuer);
        let n = nonce();
        let tx = Transaction {
            amount: Amount::new(9_999_999).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            order_hash: order_hash(ORDER),
            category: Some(Category::parse("groceries").unwrap()),
        };
        let merchant = Did::parse(&m).unwrap();
        let request =
            |authorization: Option<&str>, who: &Did, kid: &str, key: &KeyPair, cred: &str| {
                present(
                    &CheckoutRequest {
                        agent: who,
                        key_fragment: kid,
                        credential: cred,
                        links: &[],
                        merchant: &merchant,
                        nonce: &Nonce::parse(&n).unwrap(),
                        amount: tx.amount,
                        currency: tx.currency,
                        order_hash: tx.order_hash.clone(),
                        category: tx.category.clone(),
                        now: now(),
                        lifetime: 120,
                        authorization,
                    },
                    key,
                )
            };
        let mb = agent.did_key().multibase().to_owned();
        let vp = request(None, &agent_did, &mb, &agent, &self_issued);
        let d = f.verify_http(&vp, &m, &n).await;
        assert_eq!(codes(&d), ["agent_not_trusted"], "{}: {d}", backend.name());
        // The wallet will not hold for it either.
        let (status, body) = f.authorize(&vp, None).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "spend_refused".into())
        );
        assert_eq!(
            body["error"]["reasons"][0]["code"], "agent_not_trusted",
            "{body}"
        );

        // The registered agent with a genuine credential, but an authorization signed by a
        // wallet nobody trusts.
        let rogue_wallet = "did:web:127.0.0.1%3A9";
        let rogue_key = KeyPair::from_seed(&[0x73; 32]);
        let agent_did = Did::parse(&f.agent).unwrap();
        let a = SpendAuthorization::new(
            "00000000-0000-4000-8000-0000000000aa",
            Did::parse(rogue_wallet).unwrap(),
            Timestamp::from_unix(now()).unwrap(),
            Timestamp::from_unix(now() + 900).unwrap(),
            SpendSubject {
                id: agent_did.clone(),
                principal: Did::parse(&f.principal).unwrap(),
                delegation: f.credential_id.clone(),
                delegation_hash: credential_hash(&f.credential),
                merchant: merchant.clone(),
                nonce: Nonce::parse(&n).unwrap(),
                transaction: Transaction {
                    amount: Amount::new(4200).unwrap(),
                    ..tx.clone()
                },
            },
        );
        let rogue_auth = sign_compact(
            &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{rogue_wallet}#key-1")),
            &serde_json::to_vec(&a).unwrap(),
            rogue_key.signing_key(),
        );
        let vp = present(
            &CheckoutRequest {
                agent: &agent_did,
                key_fragment: "key-1",
                credential: &f.credential,
                links: &[],
                merchant: &merchant,
                nonce: &Nonce::parse(&n).unwrap(),
                amount: Amount::new(4200).unwrap(),
                currency: tx.currency,
                order_hash: tx.order_hash.clone(),
                category: tx.category.clone(),
                now: now(),
                lifetime: 120,
                authorization: Some(&rogue_auth),
            },
            &f.agent_key,
        );
        let d = f.verify_http(&vp, &m, &n).await;
        assert_eq!(codes(&d), ["wallet_not_trusted"], "{d}");
    }
}

/// A budget per calendar period (UTC) holds on top of the total: $60 a day, $200 in all.
#[tokio::test]
async fn a_daily_budget_holds() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let issued = f
            .delegate(json!({
                "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 20000,
                                   "perPeriod": { "period": "day", "amount": 6000 } },
            }))
            .await;
        let (cred, id) = (s(&issued["credential"]), s(&issued["id"]));
        let (status, body) = f
            .authorize(&f.spend_request(&cred, &f.merchant, &nonce(), 4200), None)
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = f
            .authorize(&f.spend_request(&cred, &f.merchant, &nonce(), 4200), None)
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "budget_exceeded".into())
        );
        assert!(
            s(&body["error"]["message"]).contains("day budget: 1800"),
            "{body}"
        );
        let b = f.budget(&id).await;
        assert_eq!(b["period"]["used"], 4200, "{b}");
        assert_eq!(b["period"]["remaining"], 1800, "{b}");
        assert_eq!(b["remaining"], 15800, "{b}");
        assert!(s(&b["period"]["resetsAt"]).ends_with("T00:00:00Z"), "{b}");
        // A period budget outside perTransaction..total is refused at issuance.
        let (status, body) = f
            .server
            .http()
            .post(
                "/v1/delegations",
                Some(&f.token),
                &json!({
                    "agent": f.agent,
                    "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 20000,
                                       "perPeriod": { "period": "week", "amount": 30000 } },
                    "validUntil": agentid_spec::time::format_rfc3339(now() + 86_400),
                }),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (400, "invalid_limit".into()),
            "{body}"
        );
    }
}

/// `kill -9` during concurrent authorizations: after the restart every acknowledged hold is
/// there, a retry with the same Idempotency-Key answers the same hold (never a second debit),
/// and the ledger balances.
#[tokio::test]
async fn holds_survive_kill_9() {
    for backend in backends().await {
        let mut f = Fixture::new(&backend).await;
        let requests: Vec<(String, String)> = (0..48)
            .map(|i| {
                (
                    f.spend_request(&f.credential, &f.merchant, &nonce(), 100),
                    format!("kill9-{i}-{}", nonce()),
                )
            })
            .collect();
        let client = reqwest::Client::new();
        let url = format!("{}/v1/spend/authorizations", f.server.url);
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let post = |vp: String, key: String| {
            let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
            async move {
                let resp = client
                    .post(&url)
                    .header("idempotency-key", key)
                    .json(&json!({ "presentation": vp }))
                    .send()
                    .await
                    .ok()?;
                if resp.status().as_u16() != 201 {
                    return None;
                }
                let hold: Value = resp.json().await.ok()?;
                acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Some(s(&hold["hold"]))
            }
        };
        let tasks: Vec<_> = requests
            .iter()
            .map(|(vp, key)| tokio::spawn(post(vp.clone(), key.clone())))
            .collect();
        // Kill once a quarter have been acknowledged, with the rest in flight.
        let t0 = std::time::Instant::now();
        while acked.load(std::sync::atomic::Ordering::Relaxed) < requests.len() / 4
            && t0.elapsed() < std::time::Duration::from_secs(30)
        {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        f.server.restart().await;
        let mut acknowledged = Vec::new();
        for (t, (_, key)) in tasks.into_iter().zip(&requests) {
            if let Some(hold) = t.await.unwrap() {
                acknowledged.push((key.clone(), hold));
            }
        }
        // Retry everything with the same keys after the restart.
        let url = format!("{}/v1/spend/authorizations", f.server.url);
        let mut holds = std::collections::BTreeMap::new();
        for (vp, key) in &requests {
            let resp = client
                .post(&url)
                .header("idempotency-key", key)
                .json(&json!({ "presentation": vp }))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 201);
            let hold: Value = resp.json().await.unwrap();
            holds.insert(key.clone(), s(&hold["hold"]));
        }
        for (key, hold) in &acknowledged {
            assert_eq!(
                holds[key], *hold,
                "an acknowledged hold changed across kill -9"
            );
        }
        let b = f.budget(&f.credential_id).await;
        let list = f.holds(&f.credential_id).await;
        let listed = list["holds"].as_array().unwrap();
        assert_eq!(
            listed.len(),
            requests.len(),
            "one hold per request, none twice"
        );
        let sum: u64 = listed.iter().map(|h| h["amount"].as_u64().unwrap()).sum();
        assert_eq!(b["held"].as_u64(), Some(sum), "{b}");
        assert_eq!(
            b["held"].as_u64().unwrap()
                + b["captured"].as_u64().unwrap()
                + b["remaining"].as_u64().unwrap(),
            b["total"].as_u64().unwrap(),
            "the ledger balances: {b}"
        );
        assert!(!acknowledged.is_empty());
        eprintln!(
            "{}: {} of {} acknowledged before kill -9",
            backend.name(),
            acknowledged.len(),
            requests.len()
        );
    }
}

/// Step-up: above the principal's threshold a purchase waits, reserving its amount, until the
/// principal approves (a one-time authorization for that transaction), denies
/// (`approval_denied`), or lets it time out (`approval_expired`).
#[tokio::test]
async fn step_up_approval() {
    for backend in backends().await {
        let f = Fixture::new_with(&backend, &["--approval-secs", "4"]).await;
        let m = f.merchant.clone();
        let issued = f
            .delegate(json!({
                "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 20000,
                                   "approvalAbove": 3000 },
            }))
            .await;
        let (cred, id) = (s(&issued["credential"]), s(&issued["id"]));
        let http = f.server.http();

        // Below the threshold: held at once.
        let (status, _) = f
            .authorize(&f.spend_request(&cred, &m, &nonce(), 2000), None)
            .await;
        assert_eq!(status, 201);

        // Above it: pending, nothing signed, the amount reserved.
        let n = nonce();
        let request = f.spend_request(&cred, &m, &n, 4000);
        let (status, pending) = f.authorize(&request, None).await;
        assert_eq!(
            (status, &pending["state"]),
            (202, &json!("pending")),
            "{pending}"
        );
        assert!(pending.get("authorization").is_none(), "{pending}");
        let hold = s(&pending["hold"]);
        assert_eq!(f.budget(&id).await["held"], 6000);
        let d = f.verify_http(&request, &m, &n).await;
        assert_eq!(codes(&d), ["authorization_missing"]);
        let (_, list) = http.get_auth("/v1/approvals", &f.token).await;
        assert_eq!(list["approvals"][0]["hold"], hold.as_str(), "{list}");
        // Another principal cannot decide it.
        let (_, other) = f.server.cli(&["wallet", "create"]).await;
        let (status, _) = http
            .post(
                &format!("/v1/approvals/{hold}/approve"),
                Some(&s(&other["token"])),
                &json!({}),
            )
            .await;
        assert_eq!(status, 404);
        // Finding (database forgery): with the delegation's owner rewritten to the other
        // principal in the database, the other principal's approval was signed. The approval
        // must come from the principal the purchase names.
        let owner_of = "SELECT principal_id FROM wallet_delegations \
                        WHERE id = (SELECT delegation_id FROM wallet_holds WHERE id = $1)";
        let owner = crate::support::peek(&f.server, owner_of, &[&hold])
            .await
            .unwrap()
            .remove(0);
        let give = "UPDATE wallet_delegations SET principal_id = $1 \
                    WHERE id = (SELECT delegation_id FROM wallet_holds WHERE id = $2)";
        let other_id = s(&other["principalId"]);
        assert_eq!(
            crate::support::tamper(&f.server, give, &[&other_id, &hold]).await,
            1
        );
        let (status, body) = http
            .post(
                &format!("/v1/approvals/{hold}/approve"),
                Some(&s(&other["token"])),
                &json!({}),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (404, "not_found".into()),
            "{body}"
        );
        crate::support::tamper(&f.server, give, &[&owner, &hold]).await;
        // The principal approves; the agent's poll now carries the authorization.
        let (status, approved) = http
            .post(
                &format!("/v1/approvals/{hold}/approve"),
                Some(&f.token),
                &json!({}),
            )
            .await;
        assert_eq!(
            (status, &approved["state"]),
            (200, &json!("held")),
            "{approved}"
        );
        let (status, polled) = http.get(&format!("/v1/spend/authorizations/{hold}")).await;
        assert_eq!(status, 200);
        let auth = s(&polled["authorization"]);
        let vp = f.signed(&cred, &m, &n, 4000, Some(&auth));
        assert_eq!(f.verify_http(&vp, &m, &n).await["decision"], "accepted");
        let (status, body) = http
            .post(
                &format!("/v1/approvals/{hold}/approve"),
                Some(&f.token),
                &json!({}),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (409, "not_pending".into())
        );

        // Denied: the agent's poll says so, and the amount returns to the budget.
        let denied_request = f.spend_request(&cred, &m, &nonce(), 4500);
        let (status, pending) = f.authorize(&denied_request, None).await;
        assert_eq!(status, 202);
        let hold = s(&pending["hold"]);
        let (status, _) = http
            .post(
                &format!("/v1/approvals/{hold}/deny"),
                Some(&f.token),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let (status, body) = http.get(&format!("/v1/spend/authorizations/{hold}")).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "approval_denied".into())
        );
        assert_eq!(f.budget(&id).await["held"], 6000);
        // A retry of the denied purchase is answered with the denial, not a hold.
        let (status, body) = f.authorize(&denied_request, None).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "approval_denied".into()),
            "{body}"
        );

        // Not decided in time: approval_expired, for the agent and for a late approval.
        let (status, pending) = f
            .authorize(&f.spend_request(&cred, &m, &nonce(), 4500), None)
            .await;
        assert_eq!(status, 202);
        let hold = s(&pending["hold"]);
        tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
        let (status, body) = http.get(&format!("/v1/spend/authorizations/{hold}")).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "approval_expired".into())
        );
        let (status, body) = http
            .post(
                &format!("/v1/approvals/{hold}/approve"),
                Some(&f.token),
                &json!({}),
            )
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "approval_expired".into())
        );
        assert_eq!(f.budget(&id).await["held"], 6000);
        // Neither the denied nor the timed-out purchase still counts for the authorizations
        // (the running counters): the 14,000 left fit exactly, and no more.
        for amount in [3000, 3000, 3000, 3000, 2000] {
            let (status, body) = f
                .authorize(&f.spend_request(&cred, &m, &nonce(), amount), None)
                .await;
            assert_eq!(status, 201, "{body}");
        }
        let (status, body) = f
            .authorize(&f.spend_request(&cred, &m, &nonce(), 100), None)
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "budget_exceeded".into())
        );
    }
}

/// Suspend and reinstate: a suspended delegation gets no new holds (`delegation_suspended`),
/// including a pending step-up approval, whatever the database says; reinstated, it does again;
/// a revoked one is final.
#[tokio::test]
async fn suspend_and_reinstate() {
    for backend in backends().await {
        // A hundred changes in a row: above the default burst of writes from one address.
        let f = Fixture::new_with(&backend, &["--write-burst", "200"]).await;
        let m = f.merchant.clone();
        let cli = |verb: &'static str| {
            let (f, id) = (&f, f.credential_id.clone());
            async move {
                f.server
                    .cli(&[verb, "--token", &f.token, "--credential-id", &id])
                    .await
            }
        };
        let (code, out) = cli("suspend").await;
        assert_eq!((code, &out["suspended"]), (0, &json!(true)), "{out}");
        let (status, body) = f
            .authorize(&f.spend_request(&f.credential, &m, &nonce(), 1000), None)
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "delegation_suspended".into())
        );
        let (code, again) = cli("suspend").await;
        assert_eq!(
            (code, &again["suspendedAt"]),
            (0, &out["suspendedAt"]),
            "idempotent"
        );
        // Finding (database forgery): a suspension lifted in the database alone lifts nothing:
        // the log's latest decision (`suspend-credential`) stands until the principal reinstates.
        let lift = "UPDATE wallet_delegations SET suspended_at = NULL";
        assert!(crate::support::tamper(&f.server, lift, &[]).await >= 1);
        let (status, body) = f
            .authorize(&f.spend_request(&f.credential, &m, &nonce(), 1000), None)
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (403, "delegation_suspended".into()),
            "{body}"
        );
        let (code, out) = cli("reinstate").await;
        assert_eq!((code, &out["suspended"]), (0, &json!(false)), "{out}");
        let n = nonce();
        let vp = f.present(&f.credential, &m, &n, 1000).await;
        assert_eq!(f.verify_http(&vp, &m, &n).await["decision"], "accepted");
        // Each change is an entry of the log: at most 100 for one delegation (two so far), so
        // nobody grows the log without end by toggling one.
        let path = |verb: &str| format!("/v1/delegations/{}/{verb}", f.credential_id);
        for _ in 0..49 {
            for verb in ["suspend", "reinstate"] {
                let (status, body) = f.as_principal(&path(verb)).await;
                assert_eq!(status, 200, "{body}");
            }
        }
        let (status, body) = f.as_principal(&path("suspend")).await;
        assert_eq!(
            (status, error_code(status, &body)),
            (409, "too_many_operations".into()),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("suspended or reinstated 100 times"),
            "names the delegation's decisions, not an agent's operations: {body}"
        );
        // A revoked delegation cannot be reinstated.
        f.revoke().await;
        let (code, out) = cli("reinstate").await;
        assert_eq!(
            (code, s(&out["error"]["code"])),
            (2, "delegation_revoked".into())
        );
    }
}

/// The wallet's key rotates (operator only, recorded with who asked): its did:web document then
/// lists both keys, new authorizations are signed with the new one, and one signed before the
/// rotation still verifies. A retired key stays retired whatever the database says.
#[tokio::test]
async fn the_wallet_key_rotates() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let m = f.merchant.clone();
        let n_before = nonce();
        let vp_before = f.present(&f.credential, &m, &n_before, 1000).await;
        let http = f.server.http();
        // (On PostgreSQL the wallet's keys are the database's, shared by every node.)
        let (_, doc) = http.get("/.well-known/did.json").await;
        let keys_before = doc["assertionMethod"].as_array().unwrap().len();
        let (status, _) = http
            .post("/v1/admin/wallet/keys", Some("admin.wrong"), &json!({}))
            .await;
        assert_eq!(status, 401);
        let (status, rotated) = http
            .post(
                "/v1/admin/wallet/keys",
                Some(&f.server.admin_token),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{rotated}");
        assert_eq!(rotated["actor"], "admin");
        let new_key = s(&rotated["key"]);
        let (_, doc) = http.get("/.well-known/did.json").await;
        assert_eq!(
            doc["assertionMethod"].as_array().unwrap().len(),
            keys_before + 1,
            "{doc}"
        );
        let n = nonce();
        let d = f
            .verify_http(&f.present(&f.credential, &m, &n, 1000).await, &m, &n)
            .await;
        assert_eq!(d["decision"], "accepted", "{d}");
        assert_eq!(d["authorization"]["anchors"]["walletKey"], new_key.as_str());
        // Signed before the rotation: still accepted.
        let n_old = nonce();
        let vp_old = f.present(&f.credential, &m, &n_old, 1000).await;
        let d = f.verify_http(&vp_before, &m, &n_before).await;
        assert_eq!(d["decision"], "accepted", "signed before the rotation: {d}");
        let old_key = s(&d["authorization"]["anchors"]["walletKey"]);
        assert_ne!(old_key, new_key);

        // The key that signs cannot be retired; an older one can (say, suspected stolen),
        // by the operator only: it leaves the document, and what it signed stops verifying.
        let fragment = |k: &str| k.rsplit_once('#').unwrap().1.to_owned();
        let retire = |k: &str| format!("/v1/admin/wallet/keys/{}/retire", fragment(k));
        let (status, body) = http
            .post(&retire(&new_key), Some(&f.server.admin_token), &json!({}))
            .await;
        assert_eq!(
            (status, error_code(status, &body)),
            (409, "conflict".into())
        );
        let (status, _) = http
            .post(&retire(&old_key), Some("admin.wrong"), &json!({}))
            .await;
        assert_eq!(status, 401);
        let (status, body) = http
            .post(&retire(&old_key), Some(&f.server.admin_token), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["actor"], "admin");
        let (_, doc) = http.get("/.well-known/did.json").await;
        assert!(!doc.to_string().contains(&old_key), "{doc}");
        // What the retired key signed is refused at the key, before anything else.
        let d = f.verify_http(&vp_before, &m, &n_before).await;
        assert_eq!(codes(&d), ["unknown_key"], "{d}");
        // Presented after the rotation, so signed with the new key: unaffected.
        let d = f.verify_http(&vp_old, &m, &n_old).await;
        assert_eq!(d["decision"], "accepted", "{d}");
        let (status, _) = http
            .post(&retire(&old_key), Some(&f.server.admin_token), &json!({}))
            .await;
        assert_eq!(status, 200, "idempotent");
        let (status, _) = http
            .post(
                "/v1/admin/wallet/keys/key-999/retire",
                Some(&f.server.admin_token),
                &json!({}),
            )
            .await;
        assert_eq!(status, 404);

        // Finding (database forgery): clearing the retirement in the database brought the key
        // back into the document and what it signed verified again. The retirement is recorded
        // in the log (`retire-key`) and stands, before and after a restart.
        let undo = "UPDATE wallet_keys SET retired_at = NULL, retired_by = NULL";
        assert!(crate::support::tamper(&f.server, undo, &[]).await >= 1);
        let mut f = f;
        for restarted in [false, true] {
            if restarted {
                f.server.restart().await;
            }
            let http = f.server.http();
            let (_, doc) = http.get("/.well-known/did.json").await;
            assert!(
                !doc.to_string().contains(&fragment(&old_key)),
                "restarted {restarted}: {doc}"
            );
            let d = f.verify_http(&vp_before, &m, &n_before).await;
            assert_eq!(codes(&d), ["unknown_key"], "restarted {restarted}: {d}");
        }
    }
}

/// Trust in the types down to the ledger: a wallet on the same database takes only a
/// `VerifiedSpendRequest`, which only the verifier makes and nobody can alter after it (private
/// fields, no `Clone`); the forged tokens that would reach another principal's budget are
/// refused before it, nothing is held for them, and the genuine request is then authorized.
#[tokio::test]
async fn the_ledger_authorizes_only_what_this_wallet_issued_to_that_principal() {
    use std::sync::Arc;
    use std::time::Duration;

    use agentid_resolver::http::HttpSource;
    use agentid_sdk::clock::SystemClock;
    use agentid_sdk::verify::{Limits, Verifier};
    use agentid_wallet::{vault::Vault, Wallet, WalletConfig};

    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        // A second principal, with a delegation of its own to the same agent.
        let (code, other) = f.server.cli(&["wallet", "create"]).await;
        assert_eq!(code, 0, "{other}");
        let (status, theirs) = f
            .server
            .http()
            .post(
                "/v1/delegations",
                Some(&s(&other["token"])),
                &json!({
                    "agent": f.agent,
                    "scope": { "merchants": [f.merchant], "categories": ["groceries"] },
                    "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 20000 },
                    "validUntil": agentid_spec::time::format_rfc3339(now() + 86_400),
                }),
            )
            .await;
        assert_eq!(status, 201, "{theirs}");
        // The rogue bytes under the genuine id (as in the test above).
        let rogue = KeyPair::from_seed(&[0x75; 32]);
        let mut cred: DelegationCredential =
            serde_json::from_slice(&b64u_decode(f.credential.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        cred.issuer = rogue.did_key().into();
        let forged = agentid_sdk::issue::issue(&cred, &rogue);

        // A genuine spend request, as the verifier passes it.
        let source = HttpSource::new(&f.server.url, Duration::from_secs(2)).unwrap();
        let verifier = Verifier::new(source, f.policy(), Arc::new(SystemClock), Limits::default());
        let token = f.spend_request(&f.credential, &f.merchant, &nonce(), 1000);
        let genuine = verifier
            .check_spend_request(&token)
            .await
            .expect("the verifier passes the genuine request");

        // A wallet on the server's own database, as another node would open it.
        let url = match &backend {
            Backend::Sqlite => agentid_server::store::sqlite_url(&f.server.dir.path("data")),
            Backend::Postgres(url) => url.clone(),
        };
        let db = agentid_server::store::open(&url).await.unwrap();
        let master = std::fs::read_to_string(f.server.dir.path("data").join("master.key")).unwrap();
        let wallet = Wallet::new(
            db,
            Vault::from_b64u(master.trim()).unwrap(),
            agentid_store::TokenKey::from_b64u(master.trim()).unwrap(),
            WalletConfig::new(&f.server.url),
            Arc::new(SystemClock),
        )
        .unwrap();
        wallet.open_identity().await.unwrap();

        // What a request altered after verification would carry cannot reach the wallet: a
        // `VerifiedSpendRequest` has private fields and no `Clone`, and only the verifier makes
        // one. Tokens that would claim another principal's delegation, rogue bytes under the
        // genuine id or an id this wallet never issued are refused before it.
        let mut unknown = cred.clone();
        unknown.id = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        let unknown = agentid_sdk::issue::issue(&unknown, &rogue);
        for (what, token) in [
            ("rogue bytes under the genuine id", &forged),
            ("an unknown id", &unknown),
        ] {
            let request = f.spend_request(token, &f.merchant, &nonce(), 1000);
            let checked = verifier.check_spend_request(&request).await;
            assert!(checked.is_err(), "{}: {what}", backend.name());
        }
        assert_eq!(f.budget(&f.credential_id).await["held"], 0);
        let (_, b) = f
            .server
            .http()
            .get_auth(
                &format!("/v1/delegations/{}/budget", s(&theirs["id"])),
                &s(&other["token"]),
            )
            .await;
        assert_eq!(b["held"], 0, "{b}");

        let authorized = wallet.authorize(genuine, None).await;
        assert!(authorized.is_ok(), "{authorized:?}");
        assert_eq!(f.budget(&f.credential_id).await["held"], 1000);
    }
}

/// A group whose statements fail part way (here a trigger, installed behind the service's back,
/// refuses one hold's insert) writes nothing: every request of that group answers
/// `internal_error` and none of its holds or counters is stored, while the groups around it
/// commit. The group task then goes on with another connection: once the fault is removed,
/// each failed request, retried with its key, is held exactly once, and the budget is the sum
/// of what was granted.
#[tokio::test]
async fn a_failed_group_writes_nothing_and_the_ledger_goes_on() {
    use std::sync::Arc;
    for backend in backends().await {
        let f = Arc::new(Fixture::new(&backend).await);
        let faults: &[&str] = match backend {
            Backend::Sqlite => &[
                "CREATE TRIGGER agentid_fault BEFORE INSERT ON wallet_holds \
                  WHEN NEW.amount = 777 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            ],
            Backend::Postgres(_) => &[
                "CREATE FUNCTION agentid_fault() RETURNS trigger AS $$ BEGIN \
                 IF NEW.amount = 777 THEN RAISE EXCEPTION 'injected fault'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER agentid_fault BEFORE INSERT ON wallet_holds \
                 FOR EACH ROW EXECUTE FUNCTION agentid_fault()",
            ],
        };
        for sql in faults {
            crate::support::tamper(&f.server, sql, &[]).await;
        }
        // Twelve purchases of $5 and one of $7.77 (the one the fault refuses), all at once.
        let mut requests = Vec::new();
        for i in 0..13 {
            let amount = if i == 6 { 777 } else { 500 };
            let request = f.spend_request(&f.credential, &f.merchant, &nonce(), amount);
            requests.push((format!("fault-{i}"), amount, request));
        }
        let mut tasks = Vec::new();
        for (key, amount, request) in requests.clone() {
            let f = f.clone();
            tasks.push(tokio::spawn(async move {
                (key.clone(), amount, f.authorize(&request, Some(&key)).await)
            }));
        }
        let (mut granted, mut failed) = (Vec::new(), Vec::new());
        for t in tasks {
            let (key, amount, (status, body)) = t.await.unwrap();
            match status {
                201 => granted.push((key, amount, s(&body["hold"]))),
                500 => {
                    assert_eq!(body["error"]["code"], "internal_error", "{body}");
                    failed.push(key)
                }
                other => panic!("{}: {key}: {other} {body}", backend.name()),
            }
        }
        assert!(
            failed.contains(&"fault-6".to_owned()),
            "{}: the refused insert fails its group",
            backend.name()
        );
        // Nothing of a failed group is stored: the holds and the counters are those granted.
        let held: u64 = granted.iter().map(|(_, a, _)| a).sum();
        let b = f.budget(&f.credential_id).await;
        assert_eq!(b["held"].as_u64(), Some(held), "{}: {b}", backend.name());
        let list = f.holds(&f.credential_id).await;
        assert_eq!(
            list["holds"].as_array().map(Vec::len),
            Some(granted.len()),
            "{}: {list}",
            backend.name()
        );

        // The fault removed, the ledger goes on: each failed request, retried, is held once;
        // each granted one, retried, answers its hold again.
        let drop = match backend {
            Backend::Sqlite => "DROP TRIGGER agentid_fault",
            Backend::Postgres(_) => "DROP TRIGGER agentid_fault ON wallet_holds",
        };
        crate::support::tamper(&f.server, drop, &[]).await;
        for (key, amount, request) in &requests {
            let (status, body) = f.authorize(request, Some(key)).await;
            assert_eq!(status, 201, "{}: {key}: {body}", backend.name());
            assert_eq!(body["amount"].as_u64(), Some(*amount), "{body}");
            if let Some((_, _, hold)) = granted.iter().find(|(k, _, _)| k == key) {
                assert_eq!(&s(&body["hold"]), hold, "{key}: a retry answers its hold");
            }
        }
        let b = f.budget(&f.credential_id).await;
        assert_eq!(
            b["held"].as_u64(),
            Some(12 * 500 + 777),
            "{}: {b}",
            backend.name()
        );
    }
}
