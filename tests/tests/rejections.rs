//! Every rejection code of spec section 8, tripped against the real server: over
//! `POST /v1/verify`, and through the SDK with an injected clock for the time-based codes.

use std::sync::Arc;
use std::time::Duration;

use agentid_resolver::http::HttpSource;
use agentid_resolver::ResolveError;
use agentid_sdk::clock::FixedClock;
use agentid_sdk::keys::KeyPair;
use agentid_sdk::verify::{CheckoutContext, Limits, Verifier};
use agentid_spec::credential::DelegationCredential;
use agentid_spec::id::Did;
use agentid_spec::jose::{b64u, b64u_decode, sign_compact, JoseHeader};
use agentid_spec::presentation::CheckoutPresentation;
use agentid_spec::presentation::Nonce;
use serde_json::{json, Value};

use crate::fixture::{nonce, now, Fixture};
use crate::support::{backends, codes, error_code, s, Backend};

fn decode_payload<T: serde::de::DeserializeOwned>(jws: &str) -> T {
    serde_json::from_slice(&b64u_decode(jws.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn header_of(jws: &str) -> JoseHeader {
    serde_json::from_slice(&b64u_decode(jws.split('.').next().unwrap()).unwrap()).unwrap()
}

/// Re-signs a presentation payload with `key` under `kid`.
fn resign(vp: &CheckoutPresentation, kid: &str, key: &KeyPair) -> String {
    sign_compact(
        &JoseHeader::eddsa("vp+jwt", Some("vp"), kid),
        &serde_json::to_vec(vp).unwrap(),
        key.signing_key(),
    )
}

#[tokio::test]
async fn every_rejection_over_http() {
    for backend in backends().await {
        rejections(&backend).await;
    }
}

async fn expect(f: &Fixture, vp: &str, merchant: &str, n: &str, want: &[&str]) {
    let d = f.verify_http(vp, merchant, n).await;
    assert_eq!(d["decision"], "rejected", "{d}");
    assert_eq!(codes(&d), want, "{}", f.server.backend.name());
}

async fn rejections(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let m = f.merchant.clone();

    // malformed_token
    let n = nonce();
    expect(&f, "not-a-token", &m, &n, &["malformed_token"]).await;
    expect(&f, "e30.e30.e30", &m, &n, &["malformed_token"]).await;
    let oversized = "a".repeat(agentid_sdk::verify::Limits::default().max_token_bytes + 1);
    expect(
        &f,
        &format!("{oversized}.b.c"),
        &m,
        &n,
        &["malformed_token"],
    )
    .await;

    // unsupported_algorithm: alg none, and HS256
    let good = f.present(&f.credential, &m, &n, 4200).await;
    let (_, rest) = good.split_once('.').unwrap();
    for alg in ["none", "HS256", "ES256"] {
        let h = b64u(
            format!(
                r#"{{"alg":"{alg}","typ":"vp+jwt","kid":"{}#key-1"}}"#,
                f.agent
            )
            .as_bytes(),
        );
        expect(
            &f,
            &format!("{h}.{rest}"),
            &m,
            &n,
            &["unsupported_algorithm"],
        )
        .await;
    }
    let unsigned = format!(
        "{}.{}.",
        b64u(br#"{"alg":"none","typ":"vp+jwt"}"#),
        rest.split('.').next().unwrap()
    );
    expect(&f, &unsigned, &m, &n, &["unsupported_algorithm"]).await;

    // bad_signature: one bit of the signature flipped; and a payload swapped under a signature
    let mut sig = b64u_decode(good.rsplit('.').next().unwrap()).unwrap();
    sig[10] ^= 1;
    let (si, _) = good.rsplit_once('.').unwrap();
    expect(
        &f,
        &format!("{si}.{}", b64u(&sig)),
        &m,
        &n,
        &["bad_signature"],
    )
    .await;
    let mut tampered: CheckoutPresentation = decode_payload(&good);
    tampered.transaction.amount = agentid_spec::credential::Amount::new(1).unwrap();
    let forged = format!(
        "{}.{}.{}",
        good.split('.').next().unwrap(),
        b64u(&serde_json::to_vec(&tampered).unwrap()),
        good.rsplit('.').next().unwrap()
    );
    expect(&f, &forged, &m, &n, &["bad_signature"]).await;

    // unknown_key: a fragment the agent's document does not list
    let vp = f
        .present_with(&f.credential, &m, &n, 4200, "USD", "key-9", now(), 120)
        .await;
    expect(&f, &vp, &m, &n, &["unknown_key"]).await;

    // resolution_failed: an agent that was never registered
    let stranger = KeyPair::from_seed(&[0x55; 32]);
    let ghost = agentid_sdk::operation::create(&stranger, &stranger, None, now()).did;
    let mut vp: CheckoutPresentation = decode_payload(&good);
    vp.holder = ghost.clone().into();
    expect(
        &f,
        &resign(&vp, &format!("{ghost}#key-1"), &stranger),
        &m,
        &n,
        &["resolution_failed"],
    )
    .await;

    // Register a second agent, Bob, to present Alice's credential.
    let bob_file = f.server.dir.path("bob.key");
    f.server
        .cli(&["key", "generate", "--out", bob_file.to_str().unwrap()])
        .await;
    let (_, bob_reg) = f
        .server
        .cli(&["agent", "register", "--key", bob_file.to_str().unwrap()])
        .await;
    let bob = s(&bob_reg["did"]);
    let bob_key = crate::support::read_key(&bob_file);

    // subject_mismatch: Bob presents Alice's credential as himself
    let mut vp: CheckoutPresentation = decode_payload(&good);
    vp.holder = Did::parse(&bob).unwrap();
    expect(
        &f,
        &resign(&vp, &format!("{bob}#key-1"), &bob_key),
        &m,
        &n,
        &["subject_mismatch"],
    )
    .await;

    // presentation_not_signed_by_subject: holder says Alice, Bob's key signs
    let vp: CheckoutPresentation = decode_payload(&good);
    expect(
        &f,
        &resign(&vp, &format!("{bob}#key-1"), &bob_key),
        &m,
        &n,
        &["presentation_not_signed_by_subject"],
    )
    .await;

    // issuer_mismatch: a credential naming the principal as issuer, signed by someone else
    let mut cred: DelegationCredential = decode_payload(&f.credential);
    let mallory = KeyPair::from_seed(&[0x66; 32]);
    cred.id = "urn:uuid:forged".into();
    let forged_vc = sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &mallory.did_key().key_id()),
        &serde_json::to_vec(&cred).unwrap(),
        mallory.signing_key(),
    );
    expect(
        &f,
        &f.present(&forged_vc, &m, &n, 4200).await,
        &m,
        &n,
        &["issuer_mismatch"],
    )
    .await;
    // ...and the same credential under the principal's kid, but Mallory's signature
    let h = header_of(&f.credential);
    let forged_vc = sign_compact(
        &h,
        &serde_json::to_vec(&cred).unwrap(),
        mallory.signing_key(),
    );
    expect(
        &f,
        &f.present(&forged_vc, &m, &n, 4200).await,
        &m,
        &n,
        &["bad_signature"],
    )
    .await;

    // credential_not_yet_valid: issued for next week
    let later = f
        .delegate(json!({
            "validFrom": agentid_spec::time::format_rfc3339(now() + 86_400),
            "validUntil": agentid_spec::time::format_rfc3339(now() + 2 * 86_400),
        }))
        .await;
    expect(
        &f,
        &f.present(&s(&later["credential"]), &m, &n, 4200).await,
        &m,
        &n,
        &["credential_not_yet_valid", "authorization_missing"],
    )
    .await;

    // presentation_expired (lifetime over the limit) and presentation_not_yet_valid
    let vp = f
        .present_with(&f.credential, &m, &n, 4200, "USD", "key-1", now(), 301)
        .await;
    expect(
        &f,
        &vp,
        &m,
        &n,
        &["presentation_expired", "authorization_missing"],
    )
    .await;
    let vp = f
        .present_with(
            &f.credential,
            &m,
            &n,
            4200,
            "USD",
            "key-1",
            now() - 400,
            120,
        )
        .await;
    expect(
        &f,
        &vp,
        &m,
        &n,
        &["presentation_expired", "authorization_missing"],
    )
    .await;
    let vp = f
        .present_with(
            &f.credential,
            &m,
            &n,
            4200,
            "USD",
            "key-1",
            now() + 600,
            120,
        )
        .await;
    expect(
        &f,
        &vp,
        &m,
        &n,
        &["presentation_not_yet_valid", "authorization_missing"],
    )
    .await;

    // wrong_audience, nonce_mismatch
    expect(
        &f,
        &good,
        &f.other_merchant,
        &n,
        &["wrong_audience", "merchant_not_in_scope"],
    )
    .await;
    expect(&f, &good, &m, "another-nonce", &["nonce_mismatch"]).await;

    // merchant_not_in_scope: presented to, and verified by, a merchant the scope does not list
    let vp = f.present(&f.credential, &f.other_merchant, &n, 4200).await;
    expect(
        &f,
        &vp,
        &f.other_merchant,
        &n,
        &["merchant_not_in_scope", "authorization_missing"],
    )
    .await;

    // category_not_in_scope, limit_exceeded, currency_mismatch, transaction_mismatch
    let (status, d) = f
        .server
        .http()
        .post(
            "/v1/verify",
            None,
            &json!({ "presentation": good, "merchant": m, "nonce": n, "category": "electronics" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(codes(&d), ["category_not_in_scope", "transaction_mismatch"]);
    expect(
        &f,
        &f.present(&f.credential, &m, &n, 5001).await,
        &m,
        &n,
        &["limit_exceeded", "authorization_missing"],
    )
    .await;
    let vp = f
        .present_with(&f.credential, &m, &n, 4200, "EUR", "key-1", now(), 120)
        .await;
    expect(
        &f,
        &vp,
        &m,
        &n,
        &["currency_mismatch", "authorization_missing"],
    )
    .await;
    let (_, d) = f
        .server
        .http()
        .post("/v1/verify", None, &json!({ "presentation": good, "merchant": m, "nonce": n, "amount": 4300, "orderHash": "x" }))
        .await;
    assert_eq!(codes(&d), ["transaction_mismatch"]);

    // status_unavailable: a self-issued credential whose status list lives on a host the
    // verifier does not fetch from (no requests to arbitrary hosts).
    let mut cred: DelegationCredential = decode_payload(&f.credential);
    let rogue = KeyPair::from_seed(&[0x67; 32]);
    cred.issuer = rogue.did_key().into();
    cred.credential_status.status_list_credential = "https://169.254.169.254/latest".into();
    cred.credential_status.id = "https://169.254.169.254/latest#7".into();
    let rogue_vc = agentid_sdk::issue::issue(&cred, &rogue);
    let d = f
        .verify_http(&f.present(&rogue_vc, &m, &n, 4200).await, &m, &n)
        .await;
    assert_eq!(codes(&d), ["status_unavailable", "authorization_missing"]);
    assert!(
        d["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not allowed"),
        "{d}"
    );

    // At the edge: exactly the per-transaction limit passes.
    let n_edge = nonce();
    let d = f
        .verify_http(
            &f.present(&f.credential, &m, &n_edge, 5000).await,
            &m,
            &n_edge,
        )
        .await;
    assert_eq!(d["decision"], "accepted", "{d}");

    // Several failures at once are all reported.
    let vp = f
        .present_with(
            &f.credential,
            &f.other_merchant,
            &n,
            999_999,
            "EUR",
            "key-1",
            now(),
            120,
        )
        .await;
    expect(
        &f,
        &vp,
        &m,
        "other",
        &[
            "wrong_audience",
            "nonce_mismatch",
            "currency_mismatch",
            "authorization_missing",
        ],
    )
    .await;

    // agent_deactivated: Bob deactivates himself with his rotation key
    let (code, out) = f
        .server
        .cli(&[
            "agent",
            "deactivate",
            "--did",
            &bob,
            "--key",
            bob_file.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 0, "{out}");
    // The same deactivation again is a retry, answered as the first; another is 410.
    let (_, log) = f.server.http().get(&format!("/v1/agents/{bob}/log")).await;
    let last = log["entries"].as_array().unwrap().last().unwrap().clone();
    let (st, again) = f
        .server
        .http()
        .post(
            &format!("/v1/agents/{bob}/operations"),
            None,
            &json!({ "operation": last["operation"] }),
        )
        .await;
    assert_eq!(
        (st, &again["logSeq"], &again["status"]),
        (200, &last["seq"], &json!("deactivated"))
    );
    let bob_cred = f.delegate(json!({ "agent": bob })).await;
    let mut vp: CheckoutPresentation =
        decode_payload(&f.present(&s(&bob_cred["credential"]), &m, &n, 4200).await);
    vp.holder = Did::parse(&bob).unwrap();
    expect(
        &f,
        &resign(&vp, &format!("{bob}#key-1"), &bob_key),
        &m,
        &n,
        &["agent_deactivated", "authorization_missing"],
    )
    .await;
    let (status, gone) = f
        .server
        .http()
        .get(&format!("/1.0/identifiers/{bob}"))
        .await;
    assert_eq!(
        (status, &gone["didDocumentMetadata"]["deactivated"]),
        (410, &Value::from(true))
    );
    // Finding: deplatforming a deactivated agent flipped `deactivated` back to false.
    // Deactivation is final: the operator's decision is refused (410 `gone`) and changes nothing.
    let (status, out) = f
        .server
        .http()
        .post(
            &format!("/v1/admin/agents/{bob}/deplatform"),
            Some(&f.server.admin_token),
            &json!({ "reason": "stolen key" }),
        )
        .await;
    assert_eq!((status, error_code(status, &out)), (410, "gone".into()));
    let (status, still) = f
        .server
        .http()
        .get(&format!("/1.0/identifiers/{bob}"))
        .await;
    assert_eq!(status, 410);
    assert_eq!(still["didDocumentMetadata"], gone["didDocumentMetadata"]);
}

/// The verifier's resolver cache against the real server, counted by the server's own request
/// counter: fifty concurrent resolutions of one agent cost the registry one request; a
/// `notFound` is cached for `did_negative_secs` (one request for twenty concurrent callers,
/// none while fresh, one again once it is older).
#[tokio::test]
async fn the_resolver_cache_asks_the_registry_once() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let t0 = now();
        let clock = Arc::new(FixedClock::new(t0));
        let source = HttpSource::new(&f.server.url, Duration::from_secs(2)).unwrap();
        let limits = Limits::default();
        let negative = limits.did_negative_secs;
        let verifier = Arc::new(Verifier::new(source, f.policy(), clock.clone(), limits));
        // Requests the server received between two reads of its counter (the second read
        // counts itself).
        let http = f.server.http();
        let counter = || async {
            let (_, text) = http.get_text("/metrics").await;
            text.lines()
                .find_map(|l| l.strip_prefix("agentid_http_requests_total "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .expect("the request counter")
        };
        let together = |did: String, n: usize, at: i64| {
            let verifier = verifier.clone();
            async move {
                let calls: Vec<_> = (0..n)
                    .map(|_| {
                        let (v, did) = (verifier.clone(), did.clone());
                        tokio::spawn(async move { v.resolve(&did, at).await.map(|_| ()) })
                    })
                    .collect();
                let mut answers = Vec::new();
                for c in calls {
                    answers.push(c.await.unwrap());
                }
                answers
            }
        };

        let c0 = counter().await;
        let answers = together(f.agent.clone(), 50, t0).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        let c1 = counter().await;
        // One resolution and one read of the agent's operations, which the resolver replays.
        assert_eq!(
            c1 - c0 - 1,
            2,
            "{}: fifty callers, one resolution",
            backend.name()
        );

        let unknown = format!("did:agentid:{}", "a".repeat(52));
        let answers = together(unknown.clone(), 20, t0).await;
        assert!(
            answers.iter().all(|a| *a == Err(ResolveError::NotFound)),
            "{answers:?}"
        );
        let c2 = counter().await;
        assert_eq!(
            c2 - c1 - 1,
            1,
            "twenty callers of an unknown DID, one request"
        );
        let answers = together(unknown.clone(), 5, t0 + negative).await;
        assert!(answers.iter().all(|a| *a == Err(ResolveError::NotFound)));
        let c3 = counter().await;
        assert_eq!(
            c3 - c2 - 1,
            0,
            "a notFound is answered from cache for {negative} s"
        );
        let answers = together(unknown, 5, t0 + negative + 1).await;
        assert!(answers.iter().all(|a| *a == Err(ResolveError::NotFound)));
        let c4 = counter().await;
        assert_eq!(c4 - c3 - 1, 1, "then asked again, once");
        drop(clock);
    }
}

/// The time-based and availability codes, through the SDK with an injected clock against the
/// real server: credential_expired, and status_unavailable when the status list is older than
/// the verifier's bound and the server is gone, while a cached DID within its own bound still
/// serves.
#[tokio::test]
async fn clock_and_staleness() {
    for backend in backends().await {
        staleness(&backend).await;
    }
}

async fn staleness(backend: &Backend) {
    let mut f = Fixture::new(backend).await;
    let t0 = now();
    let clock = Arc::new(FixedClock::new(t0));
    let limits = Limits {
        did_refresh_secs: 60,
        did_max_staleness_secs: 3600,
        status_refresh_secs: 60,
        status_max_staleness_secs: 300,
        ..Limits::default()
    };
    let source = HttpSource::new(&f.server.url, Duration::from_secs(2)).unwrap();
    let verifier = Verifier::new(source, f.policy(), clock.clone(), limits);
    let ctx =
        |n: &str| CheckoutContext::new(Did::parse(&f.merchant).unwrap(), Nonce::parse(n).unwrap());

    let n = nonce();
    let d = verifier
        .verify(
            &f.present(&f.credential, &f.merchant, &n, 4200).await,
            &ctx(&n),
        )
        .await;
    assert!(d.is_accepted(), "{d:?}");

    // credential_expired: 8 days later (the credential lasts 7), skew 60 s.
    let later = t0 + 8 * 86_400;
    clock.set(later);
    let n = nonce();
    let vp = f
        .present_with(
            &f.credential,
            &f.merchant,
            &n,
            4200,
            "USD",
            "key-1",
            later,
            120,
        )
        .await;
    let d = verifier.verify(&vp, &ctx(&n)).await;
    // The status list the server signed (valid 24 h) has expired too by then: both are
    // reported; and the wallet, on its own clock, would not hold for a presentation dated next
    // week, so there is no authorization either.
    assert_eq!(
        d.codes(),
        [
            agentid_spec::Code::CredentialExpired,
            agentid_spec::Code::StatusUnavailable,
            agentid_spec::Code::AuthorizationMissing,
        ],
        "{d:?}"
    );

    // Server gone. Within the status bound (+200 s) the cached list still answers. The
    // presentations (and the wallet's holds) are obtained while the server is up, dated t0 and
    // valid for the longest lifetime (300 s).
    clock.set(t0);
    let n = nonce();
    verifier
        .verify(
            &f.present(&f.credential, &f.merchant, &n, 4200).await,
            &ctx(&n),
        )
        .await;
    let (n200, n301) = (nonce(), nonce());
    let vp200 = f
        .present_with(
            &f.credential,
            &f.merchant,
            &n200,
            4200,
            "USD",
            "key-1",
            t0,
            300,
        )
        .await;
    let vp301 = f
        .present_with(
            &f.credential,
            &f.merchant,
            &n301,
            4200,
            "USD",
            "key-1",
            t0,
            300,
        )
        .await;
    f.server.stop().await;
    clock.set(t0 + 200);
    let d = verifier.verify(&vp200, &ctx(&n200)).await;
    assert!(
        d.is_accepted(),
        "within bounds while the server is down: {d:?}"
    );

    // Past the status bound (+301 s): fail closed.
    clock.set(t0 + 301);
    let d = verifier.verify(&vp301, &ctx(&n301)).await;
    assert_eq!(d.codes(), [agentid_spec::Code::StatusUnavailable], "{d:?}");
}

/// A credential self-issued by a rogue `did:key`, whose `credentialStatus` names a real wallet's
/// status list that the verifier has already cached, cannot borrow that list: the list is
/// cached per issuer, and the real list is not signed by the rogue. Fails closed.
#[tokio::test]
async fn rogue_issuer_cannot_borrow_a_cached_status_list() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let m = f.merchant.clone();
        // A genuine checkout caches the wallet's list.
        let n = nonce();
        let d = f
            .verify_http(&f.present(&f.credential, &m, &n, 4200).await, &m, &n)
            .await;
        assert_eq!(d["decision"], "accepted", "{d}");

        let mut cred: DelegationCredential = decode_payload(&f.credential);
        let rogue = KeyPair::from_seed(&[0x68; 32]);
        cred.issuer = rogue.did_key().into();
        cred.id = "urn:uuid:00000000-0000-4000-8000-00000000beef".into();
        cred.credential_subject.spending_limit = serde_json::from_value(
            json!({ "currency": "USD", "perTransaction": 99_999_999, "total": 99_999_999 }),
        )
        .unwrap();
        let rogue_vc = agentid_sdk::issue::issue(&cred, &rogue);
        let n = nonce();
        let d = f
            .verify_http(&f.present(&rogue_vc, &m, &n, 9_999_999).await, &m, &n)
            .await;
        assert_eq!(d["decision"], "rejected", "{}: {d}", backend.name());
        // The wallet does not hold for a credential it never issued: no authorization either.
        assert_eq!(
            codes(&d),
            ["status_unavailable", "authorization_missing"],
            "{d}"
        );
        assert!(
            d["reasons"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not signed by the chain's principal"),
            "{d}"
        );
    }
}

/// Hostile times over HTTP: `iat` near `i64::MIN` (an overflowing lifetime), `exp` near
/// `i64::MAX` (a presentation that never expires, whose nonce would be remembered forever), and
/// an `nbf` a day ahead (RFC 7519: not to be accepted before it).
#[tokio::test]
async fn hostile_times_are_refused() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let m = f.merchant.clone();
        let kid = format!("{}#key-1", f.agent);
        let t = now();
        for (iat, exp, nbf, want) in [
            (i64::MIN + 1, t + 100, None, "presentation_expired"),
            (i64::MIN, i64::MAX, None, "presentation_expired"),
            (t, i64::MAX, None, "presentation_expired"),
            (t, t + 120, Some(t + 86_400), "presentation_not_yet_valid"),
        ] {
            // A genuine, authorized presentation, re-signed by the agent with hostile times.
            let n = nonce();
            let mut vp: CheckoutPresentation =
                decode_payload(&f.present(&f.credential, &m, &n, 1000).await);
            (vp.iat, vp.exp, vp.nbf) = (iat, exp, nbf);
            let d = f
                .verify_http(&resign(&vp, &kid, &f.agent_key), &m, &n)
                .await;
            assert_eq!(
                codes(&d),
                [want],
                "{}: iat {iat} exp {exp} nbf {nbf:?}: {d}",
                backend.name()
            );
        }
        // An nbf already passed is fine.
        let n = nonce();
        let mut vp: CheckoutPresentation =
            decode_payload(&f.present(&f.credential, &m, &n, 1000).await);
        (vp.iat, vp.exp, vp.nbf) = (t, t + 120, Some(t - 10));
        let d = f
            .verify_http(&resign(&vp, &kid, &f.agent_key), &m, &n)
            .await;
        assert_eq!(d["decision"], "accepted", "{d}");
    }
}
