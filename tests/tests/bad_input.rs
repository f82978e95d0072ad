//! Hostile and malformed input on every endpoint: a 4xx with `{"error":{"code","message"}}`,
//! never a 500, a panic or a hang, and nothing half-written.

use serde_json::json;

use crate::fixture::Fixture;
use crate::support::{backends, error_code, s, Server};

#[tokio::test]
async fn bad_input_on_every_endpoint() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let h = f.server.http();
        let t = Some(f.token.as_str());

        // Bodies: not JSON, wrong content type, over the 64 KiB limit, wrong shape.
        for path in [
            "/v1/agents",
            "/v1/delegations",
            "/v1/verify",
            "/v1/subdelegations",
            "/v1/subdelegations/signed",
            "/v1/spend/authorizations",
        ] {
            let (st, b) = h
                .post_raw(path, Some("application/json"), b"{not json".to_vec())
                .await;
            assert_eq!(error_code(st, &b), "invalid_json", "{path}");
            let (st, b) = h.post_raw(path, Some("text/plain"), b"{}".to_vec()).await;
            assert_eq!(
                (st, error_code(st, &b)),
                (415, "unsupported_media_type".into()),
                "{path}"
            );
            let (st, b) = h
                .post_raw(path, Some("application/json"), vec![b' '; 64 * 1024 + 1])
                .await;
            assert_eq!(
                (st, error_code(st, &b)),
                (413, "body_too_large".into()),
                "{path}"
            );
            let (st, b) = h.post(path, t, &json!({ "unexpected": 1 })).await;
            assert_eq!(st, 400, "{path}: {b}");
            error_code(st, &b);
        }
        // Garbage where a signed token belongs: 400 with its code, not a refusal of a signer.
        for (path, member) in [
            ("/v1/subdelegations", "request"),
            ("/v1/subdelegations/signed", "credential"),
        ] {
            for garbage in ["", "x", "a.b.c", &"e".repeat(40 * 1024)] {
                let (st, b) = h.post(path, None, &json!({ member: garbage })).await;
                assert_eq!(
                    (st, error_code(st, &b)),
                    (400, "invalid_request".into()),
                    "{path} {}: {b}",
                    garbage.len()
                );
            }
        }

        // Exactly at the limit is read (and then refused for its content, not its size).
        let mut at_limit = br#"{"operation":""#.to_vec();
        at_limit.resize(64 * 1024 - 2, b'a');
        at_limit.extend_from_slice(b"\"}");
        let (st, b) = h
            .post_raw("/v1/agents", Some("application/json"), at_limit)
            .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (400, "operation_too_large".into())
        );

        // Registry operations; the size limit at its edge (8 KiB is read, then refused for
        // its content).
        for (op, code) in [
            ("", "invalid_operation"),
            ("a.b.c", "invalid_operation"),
            ("e30.e30.e30", "invalid_operation"),
            (&"x".repeat(8 * 1024), "invalid_operation"),
            (&"x".repeat(8 * 1024 + 1), "operation_too_large"),
        ] {
            let (st, b) = h
                .post("/v1/agents", None, &json!({ "operation": op }))
                .await;
            assert_eq!((st, error_code(st, &b)), (400, code.into()), "{op:.20}");
        }
        let (st, log) = h.get(&format!("/v1/agents/{}/log", f.agent)).await;
        assert_eq!(st, 200);
        let genesis = s(&log["entries"][0]["operation"]);
        // The same genesis again is a retry: the first answer, 200, marked replayed.
        let again = h
            .client
            .post(format!("{}/v1/agents", h.base))
            .json(&json!({ "operation": genesis }))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 200);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let b: serde_json::Value = again.json().await.unwrap();
        assert_eq!(
            (s(&b["did"]), s(&b["name"])),
            (f.agent.clone(), "shopper.alice".into())
        );
        assert_eq!(b["logSeq"], log["entries"][0]["seq"], "{b}");
        let other = agentid_sdk::keys::KeyPair::from_seed(&[0x77; 32]);
        let dup = agentid_sdk::operation::create(
            &other,
            &other,
            Some(agentid_spec::id::AgentName::parse("shopper.alice").unwrap()),
            crate::fixture::now(),
        );
        let (st, b) = h
            .post("/v1/agents", None, &json!({ "operation": dup.operation }))
            .await;
        assert_eq!((st, error_code(st, &b)), (409, "name_taken".into()));
        // The refused registration left nothing behind.
        let (st, _) = h.get(&format!("/1.0/identifiers/{}", dup.did)).await;
        assert_eq!(st, 404);
        // Reserved names: the top label of the name decides; nothing is written.
        let mut acme = String::new();
        for (name, want) in [
            ("support.agentid", Some("name_reserved")),
            ("admin", Some("name_reserved")),
            ("pay.example", Some("name_reserved")),
            ("admin.acme", None),
        ] {
            let op = agentid_sdk::operation::create(
                &other,
                &other,
                Some(agentid_spec::id::AgentName::parse(name).unwrap()),
                crate::fixture::now(),
            );
            let (st, b) = h
                .post("/v1/agents", None, &json!({ "operation": op.operation }))
                .await;
            match want {
                Some(code) => {
                    assert_eq!((st, error_code(st, &b)), (409, code.into()), "{name}");
                    let (st, _) = h.get(&format!("/1.0/identifiers/{name}")).await;
                    assert_eq!(st, 404, "{name}");
                }
                None => {
                    assert_eq!(st, 201, "{name}: {b}");
                    acme = s(&b["did"]);
                }
            }
        }
        // A genesis signed by a key that is not its rotation key.
        let forged = agentid_spec::jose::sign_compact(
            &agentid_spec::jose::JoseHeader::eddsa(
                "agentid-op+jws",
                None,
                &other.did_key().key_id(),
            ),
            &agentid_spec::jose::b64u_decode(genesis.split('.').nth(1).unwrap()).unwrap(),
            other.signing_key(),
        );
        let (st, b) = h
            .post("/v1/agents", None, &json!({ "operation": forged }))
            .await;
        assert_eq!((st, error_code(st, &b)), (403, "key_not_authorized".into()));

        // Resolution: Universal Resolver codes.
        for (id, want_status, want) in [
            ("did:agentid:short", 400, "invalidDid"),
            (
                "did:agentid:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                404,
                "notFound",
            ),
            ("did:web:example.com", 501, "methodNotSupported"),
            ("nobody.here", 404, "notFound"),
            ("Not A Name!", 400, "invalidDid"),
            ("did:key:zTjsVPtY", 400, "invalidPublicKeyLength"),
        ] {
            let enc = agentid_resolver::http::encode_path_segment(id);
            let (st, b) = h.get(&format!("/1.0/identifiers/{enc}")).await;
            assert_eq!(st, want_status, "{id}: {b}");
            assert_eq!(b["didResolutionMetadata"]["error"], want, "{id}");
        }
        // Content negotiation: the document alone, the resolution result, or 406.
        let agent = agentid_resolver::http::encode_path_segment(&f.agent);
        let path = format!("{}/1.0/identifiers/{agent}", h.base);
        for (accept, want_status, want_type) in [
            (Some("application/did+json"), 200, "application/did+json"),
            (
                Some("application/did+ld+json"),
                200,
                "application/did+ld+json",
            ),
            (
                Some("application/did-resolution"),
                200,
                "application/did-resolution",
            ),
            (
                Some("text/html, application/did+json;q=0.5"),
                200,
                "application/did+json",
            ),
            (
                None,
                200,
                "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
            ),
            (
                Some("*/*"),
                200,
                "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
            ),
            (
                Some("text/html"),
                406,
                "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
            ),
            (
                Some("application/did+json;q=0"),
                406,
                "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
            ),
        ] {
            let mut req = h.client.get(&path);
            if let Some(a) = accept {
                req = req.header("accept", a);
            }
            let r = req.send().await.unwrap();
            let st = r.status().as_u16();
            let media = r.headers()["content-type"].to_str().unwrap().to_owned();
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(
                (st, media.as_str()),
                (want_status, want_type),
                "{accept:?}: {body}"
            );
            match (st, want_type) {
                (406, _) => assert_eq!(
                    body["didResolutionMetadata"]["error"],
                    "representationNotSupported"
                ),
                (_, t) if t.starts_with("application/did+") => {
                    assert_eq!(body["id"], f.agent.as_str(), "the document alone: {body}")
                }
                _ => assert_eq!(body["didDocument"]["id"], f.agent.as_str(), "{body}"),
            }
        }

        // Caching, as DNS answers carry TTLs: by outcome, and a strong ETag that revalidates.
        let head = |accept: &'static str, id: String, tag: Option<String>| {
            let mut req = h
                .client
                .get(format!("{}/1.0/identifiers/{id}", h.base))
                .header("accept", accept);
            if let Some(t) = tag {
                req = req.header("if-none-match", t);
            }
            async move {
                let r = req.send().await.unwrap();
                let hd = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
                let got = (hd("cache-control"), hd("etag"), hd("vary"));
                (r.status().as_u16(), got, r.bytes().await.unwrap().len())
            }
        };
        let (st, (cc, tag, vary), _) = head("*/*", agent.clone(), None).await;
        assert_eq!((st, cc.as_deref()), (200, Some("public, max-age=60")));
        assert_eq!(vary.as_deref(), Some("accept"));
        let tag = tag.expect("an ETag on a 200");
        let (st, (_, again, _), len) = head("*/*", agent.clone(), Some(tag.clone())).await;
        assert_eq!((st, again.as_deref(), len), (304, Some(tag.as_str()), 0));
        let (st, (_, doc_tag, _), _) =
            head("application/did+json", agent.clone(), Some(tag.clone())).await;
        assert_eq!(st, 200, "another representation, another tag");
        assert_ne!(doc_tag.as_deref(), Some(tag.as_str()));
        // A moderation decision changes the answer: the old tag no longer revalidates.
        let (st, (_, acme_tag, _), _) = head("*/*", "admin.acme".into(), None).await;
        assert_eq!(st, 200);
        let (st, b) = h
            .post(
                &format!("/v1/admin/agents/{acme}/deplatform"),
                Some(f.server.admin_token.as_str()),
                &json!({ "reason": "impersonation" }),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        let (st, (cc, _, _), len) = head("*/*", "admin.acme".into(), acme_tag).await;
        assert_eq!((st, cc.as_deref()), (410, Some("public, max-age=60")));
        assert!(len > 0, "the deplatformed agent's answer, not a 304");
        let (st, (cc, tag, _), _) = head("*/*", "nobody.here".into(), None).await;
        assert_eq!(
            (st, cc.as_deref(), tag),
            (404, Some("public, max-age=10"), None)
        );
        let (st, (cc, _, _), _) = head("*/*", "did:agentid:short".into(), None).await;
        assert_eq!((st, cc.as_deref()), (400, Some("no-store")));
        let key = agentid_sdk::keys::KeyPair::from_seed(&[0x78; 32])
            .did_key()
            .to_string();
        let key = agentid_resolver::http::encode_path_segment(&key);
        let (st, (cc, _, _), _) = head("*/*", key, None).await;
        assert_eq!(
            (st, cc.as_deref()),
            (200, Some("public, max-age=31536000, immutable"))
        );

        let long = "a".repeat(600);
        let (st, b) = h.get(&format!("/1.0/identifiers/{long}")).await;
        assert_eq!(
            (st, &b["didResolutionMetadata"]["error"]),
            (400, &json!("invalidDid"))
        );

        // Wallet: authentication and validation.
        let req = json!({
            "agent": f.agent, "spendingLimit": { "currency": "USD", "perTransaction": 100, "total": 100 },
            "validUntil": "2099-01-01T00:00:00Z",
        });
        for bad in [
            None,
            Some("nodot"),
            Some("x.y"),
            Some(&format!("{}x", f.token)[..]),
        ] {
            let (st, b) = h.post("/v1/delegations", bad, &req).await;
            assert_eq!((st, error_code(st, &b)), (401, "unauthorized".into()));
        }
        let cases = [
            (json!({ "agent": "did:key:z6Mk" }), "invalid_agent"),
            (
                json!({ "spendingLimit": { "currency": "usd", "perTransaction": 1, "total": 1 } }),
                "invalid_request",
            ),
            (
                json!({ "spendingLimit": { "currency": "USD", "perTransaction": 0, "total": 1 } }),
                "invalid_request",
            ),
            (
                json!({ "spendingLimit": { "currency": "USD", "perTransaction": 1.5, "total": 2 } }),
                "invalid_request",
            ),
            (
                json!({ "spendingLimit": { "currency": "USD", "perTransaction": -1, "total": 2 } }),
                "invalid_request",
            ),
            (
                json!({ "spendingLimit": { "currency": "USD", "perTransaction": 3, "total": 2 } }),
                "invalid_limit",
            ),
            (
                json!({ "validUntil": "2000-01-01T00:00:00Z" }),
                "invalid_time",
            ),
            (json!({ "validUntil": "tomorrow" }), "invalid_time"),
            (
                json!({ "validUntil": "2099-01-01T00:00:00Z" }),
                "invalid_time",
            ),
            (json!({ "scope": { "merchants": [] } }), "invalid_scope"),
            (
                json!({ "scope": { "merchants": vec!["m"; 65] } }),
                "invalid_scope",
            ),
            (json!({ "scope": { "colour": ["red"] } }), "invalid_request"),
        ];
        for (patch, want) in cases {
            let mut body = req.clone();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (st, b) = h.post("/v1/delegations", t, &body).await;
            assert_eq!(error_code(st, &b), want, "{patch}");
        }
        // 64 merchants is the edge, and is accepted.
        let mut body = req.clone();
        body["validUntil"] = json!(agentid_spec::time::format_rfc3339(
            crate::fixture::now() + 3600
        ));
        body["scope"] = json!({ "merchants": vec!["m"; 64] });
        let (st, b) = h.post("/v1/delegations", t, &body).await;
        assert_eq!(st, 201, "{b}");
        // Revocation of someone else's or a missing credential.
        let (st, b) = h
            .post("/v1/delegations/urn:uuid:nope/revoke", t, &json!({}))
            .await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()));
        let (_, other) = h.post("/v1/principals", None, &json!({})).await;
        let (st, b) = h
            .post(
                &format!("/v1/delegations/{}/revoke", f.credential_id),
                Some(other["token"].as_str().unwrap()),
                &json!({}),
            )
            .await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()));
        let (st, b) = h
            .post(
                &format!("/v1/delegations/{}/revoke", f.credential_id),
                t,
                &json!({ "reason": "x".repeat(1025) }),
            )
            .await;
        assert_eq!(error_code(st, &b), "invalid_reason");
        let revoke = format!("/v1/delegations/{}/revoke", f.credential_id);
        let (st, b) = h
            .post_raw(&revoke, Some("application/json"), vec![b' '; 64 * 1024 + 1])
            .await;
        assert_eq!((st, error_code(st, &b)), (413, "body_too_large".into()));
        let (st, b) = h
            .post_raw(&revoke, Some("application/json"), b"{oops".to_vec())
            .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (401, "unauthorized".into()),
            "auth comes first"
        );
        // None of the refused revocations revoked anything.
        let (_, shown) = h
            .get_auth(&format!("/v1/delegations/{}", f.credential_id), &f.token)
            .await;
        assert_eq!(shown["revoked"], false, "{shown}");

        // Admin: no token, wrong token, bad reason.
        let path = format!("/v1/admin/agents/{}/deplatform", f.agent);
        let (st, b) = h.post(&path, None, &json!({ "reason": "x" })).await;
        assert_eq!((st, error_code(st, &b)), (401, "unauthorized".into()));
        let (st, b) = h
            .post(&path, Some("admin.guess"), &json!({ "reason": "x" }))
            .await;
        assert_eq!((st, error_code(st, &b)), (401, "unauthorized".into()));
        let admin = Some(f.server.admin_token.as_str());
        let (st, b) = h.post(&path, admin, &json!({ "reason": " " })).await;
        assert_eq!(error_code(st, &b), "invalid_reason");
        let (st, b) = h
            .post(
                "/v1/admin/agents/did:agentid:x/deplatform",
                admin,
                &json!({ "reason": "r" }),
            )
            .await;
        assert_eq!(error_code(st, &b), "invalid_did");
        let (st, b) = h
            .post(&path, admin, &json!({ "reason": "x".repeat(1025) }))
            .await;
        assert_eq!(error_code(st, &b), "invalid_reason");
        // Refused admin actions changed nothing.
        let (st, _) = h.get(&format!("/1.0/identifiers/{}", f.agent)).await;
        assert_eq!(st, 200);

        // Verify endpoint: missing merchant or nonce.
        let (st, b) = h
            .post(
                "/v1/verify",
                None,
                &json!({ "presentation": "x", "merchant": "", "nonce": "n" }),
            )
            .await;
        assert_eq!(error_code(st, &b), "invalid_request");

        // Status lists and unknown routes.
        let (st, b) = h.get("/v1/status/nope").await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()));
        let (st, b) = h.get("/v1/status/..%2F..%2Fetc").await;
        assert_eq!(st, 404, "{b}");
        let (st, b) = h.get("/no/such/route").await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()));
        let (st, b) = h.get("/v1/agents").await;
        assert_eq!((st, error_code(st, &b)), (405, "method_not_allowed".into()));
        let (st, b) = h.get("/v1/admin/log?limit=0").await;
        assert_eq!(st, 401, "{b}");
        let (st, b) = h
            .get_auth("/v1/admin/log?limit=1001", &f.server.admin_token)
            .await;
        assert_eq!(error_code(st, &b), "invalid_query");
        let (st, b) = h
            .get_auth("/v1/admin/log?limit=abc", &f.server.admin_token)
            .await;
        assert_eq!(error_code(st, &b), "invalid_query");
        let (st, b) = h
            .get_auth("/v1/admin/log?limit=1000", &f.server.admin_token)
            .await;
        assert_eq!(st, 200, "limit 1000 is the edge: {b}");

        // Reasons at their edge (1024 bytes) are accepted: last, since it deplatforms the agent.
        let (st, b) = h
            .post(
                &format!("/v1/delegations/{}/revoke", f.credential_id),
                t,
                &json!({ "reason": "r".repeat(1024) }),
            )
            .await;
        assert_eq!((st, &b["revoked"]), (200, &json!(true)), "{b}");
        let (st, b) = h
            .post(&path, admin, &json!({ "reason": "d".repeat(1024) }))
            .await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = h.post(&path, admin, &json!({ "reason": "again" })).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "already_deplatformed".into())
        );
    }
}

/// Writes that create (principals, agents, sub-delegations) are limited per client: a burst of
/// exactly the limit passes, the next is 429 `rate_limited` with `Retry-After`, reads are not
/// limited, and the bucket refills at the rate.
#[tokio::test]
async fn writes_are_rate_limited_per_client() {
    let server = Server::start_with(
        &crate::support::Backend::Sqlite,
        &["--write-rate", "1", "--write-burst", "3"],
    )
    .await;
    let h = server.http();
    let mut token = String::new();
    for _ in 0..3 {
        let (st, b) = h.post("/v1/principals", None, &json!({})).await;
        assert_eq!(st, 201, "{b}");
        token = b["token"].as_str().unwrap().to_owned();
    }
    let r = h
        .client
        .post(format!("{}/v1/principals", h.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "rate_limited", "{b}");
    // The same client's other creating writes share its bucket; reads are not limited.
    let (st, b) = h
        .post("/v1/agents", None, &json!({ "operation": "x" }))
        .await;
    assert_eq!((st, error_code(st, &b)), (429, "rate_limited".into()));
    // Delegations too; but a principal's revocation is never held behind a bucket a stranger
    // at the same address can empty (its answer here: the delegation does not exist).
    let (st, b) = h.post("/v1/delegations", Some(&token), &json!({})).await;
    assert_eq!((st, error_code(st, &b)), (429, "rate_limited".into()));
    let (st, b) = h
        .post(
            "/v1/delegations/urn:uuid:x/revoke",
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!((st, error_code(st, &b)), (404, "not_found".into()), "{b}");
    for _ in 0..5 {
        let (st, _) = h.get_auth("/v1/principals/me", &token).await;
        assert_eq!(st, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, b) = h.post("/v1/principals", None, &json!({})).await;
    assert_eq!(st, 201, "refilled: {b}");
    let (st, _) = h.post("/v1/principals", None, &json!({})).await;
    assert_eq!(st, 429);
}

/// Named operators: the root operator (the admin token) creates a moderator with the CLI; her
/// deplatforming is recorded in the log with her name, not `admin`; she cannot manage operators
/// or the wallet's keys; listing never shows a token; once revoked her token is refused at once.
/// Bad names, duplicates, wrong secrets and unknown accounts are refused with their codes.
#[tokio::test]
async fn operators_are_named_and_answer_for_what_they_do() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let h = f.server.http();
        let root = f.server.admin_token.clone();
        let (code, out) = f
            .server
            .cli(&["operator", "add", "--name", "carol", "--admin-token", &root])
            .await;
        assert_eq!(code, 0, "{out}");
        let carol = s(&out["token"]);
        assert!(carol.starts_with("op_carol."), "{out}");

        let (st, b) = h
            .post(
                &format!("/v1/admin/agents/{}/deplatform", f.agent),
                Some(&carol),
                &json!({ "reason": "scalping" }),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        let (st, log) = h.get(&format!("/v1/agents/{}/log", f.agent)).await;
        assert_eq!(st, 200);
        let last = log["entries"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (s(&last["kind"]), s(&last["actor"])),
            ("deplatform".into(), "carol".into())
        );

        // A moderator is not the root operator.
        for (path, body) in [
            ("/v1/admin/operators", json!({ "name": "mallory" })),
            ("/v1/admin/wallet/keys", json!({})),
            ("/v1/admin/operators/carol/revoke", json!({})),
        ] {
            let (st, b) = h.post(path, Some(&carol), &body).await;
            assert_eq!(
                (st, error_code(st, &b)),
                (403, "forbidden".into()),
                "{path}"
            );
        }
        let (code, out) = f
            .server
            .cli(&["operator", "list", "--admin-token", &carol])
            .await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(out["operators"][0]["name"], "carol");
        assert_eq!(out["operators"][0]["createdBy"], "admin");
        assert!(
            !out.to_string().contains(&carol[9..]),
            "no token is ever listed"
        );

        // Bad input.
        for (name, status, want) in [
            ("carol", 409, "conflict"),
            ("admin", 400, "invalid_request"),
            // Actors the log records besides operators, and names that read as the service.
            ("principal", 400, "invalid_request"),
            ("registry", 400, "invalid_request"),
            ("Carol", 400, "invalid_request"),
            ("", 400, "invalid_request"),
        ] {
            let (st, b) = h
                .post("/v1/admin/operators", Some(&root), &json!({ "name": name }))
                .await;
            assert_eq!((st, error_code(st, &b)), (status, want.into()), "{name:?}");
        }
        let forged = format!("{}x", &carol[..carol.len() - 1]);
        for bad in [forged.as_str(), "op_nobody.c2VjcmV0", "op_carol", "op_.x"] {
            let (st, b) = h.get_auth("/v1/admin/log", bad).await;
            assert_eq!(
                (st, error_code(st, &b)),
                (401, "unauthorized".into()),
                "{bad}"
            );
        }

        // Revoked: refused at once.
        let (st, _) = h.get_auth("/v1/admin/log", &carol).await;
        assert_eq!(st, 200);
        let (code, out) = f
            .server
            .cli(&[
                "operator",
                "revoke",
                "--name",
                "carol",
                "--admin-token",
                &root,
            ])
            .await;
        assert_eq!(code, 0, "{out}");
        let (st, b) = h.get_auth("/v1/admin/log", &carol).await;
        assert_eq!((st, error_code(st, &b)), (401, "unauthorized".into()));
        let (st, b) = h
            .post("/v1/admin/operators/carol/revoke", Some(&root), &json!({}))
            .await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()));
    }
}

/// Names of deactivated agents are released after a grace period (here 1 s), not before, and
/// never those of deplatformed agents. The release is logged for the old DID and its document
/// no longer claims the name.
#[tokio::test]
async fn a_deactivated_agents_name_is_released_after_its_grace() {
    for backend in backends().await {
        let f = Fixture::new_with(&backend, &["--name-grace-secs", "3"]).await;
        let h = f.server.http();
        // Keys first (the key file's KDF takes time on a loaded machine), so that the grace
        // period is measured between registrations only.
        for file in ["old.key", "new1.key", "held.key", "new2.key", "new3.key"] {
            let path = f.server.dir.path(file);
            let (code, out) = f
                .server
                .cli(&["key", "generate", "--out", path.to_str().unwrap()])
                .await;
            assert_eq!(code, 0, "{out}");
        }
        let register = |file: &'static str, name: &'static str| {
            let server = &f.server;
            async move {
                let path = server.dir.path(file);
                let path = path.to_str().unwrap();
                server
                    .cli(&["agent", "register", "--key", path, "--name", name])
                    .await
            }
        };
        let (code, old) = register("old.key", "shop.bob").await;
        assert_eq!(code, 0, "{old}");
        let old_did = s(&old["did"]);
        let old_key = f.server.dir.path("old.key");
        let (code, out) = f
            .server
            .cli(&[
                "agent",
                "deactivate",
                "--did",
                &old_did,
                "--key",
                old_key.to_str().unwrap(),
            ])
            .await;
        assert_eq!(code, 0, "{out}");
        // Within the grace period the name stays the deactivated agent's.
        let (code, out) = register("new1.key", "shop.bob").await;
        assert_eq!(
            (code, s(&out["error"]["code"])),
            (2, "name_taken".into()),
            "{out}"
        );

        // A deplatformed agent's name is not released.
        let (code, held) = register("held.key", "shop.carl").await;
        assert_eq!(code, 0, "{held}");
        let (st, b) = h
            .post(
                &format!("/v1/admin/agents/{}/deplatform", s(&held["did"])),
                Some(&f.server.admin_token),
                &json!({ "reason": "fraud" }),
            )
            .await;
        assert_eq!(st, 200, "{b}");

        tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
        let (code, new) = register("new2.key", "shop.bob").await;
        assert_eq!(code, 0, "{new}");
        let (st, by_name) = h.get("/1.0/identifiers/shop.bob").await;
        assert_eq!((st, &by_name["didDocument"]["id"]), (200, &new["did"]));
        let (st, gone) = h.get(&format!("/1.0/identifiers/{old_did}")).await;
        assert_eq!(st, 410);
        assert!(gone["didDocument"]["alsoKnownAs"].is_null(), "{gone}");
        let (_, log) = h.get(&format!("/v1/agents/{old_did}/log")).await;
        let last = log["entries"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            (s(&last["kind"]), s(&last["actor"])),
            ("release-name".into(), "registry".into())
        );
        let (code, out) = register("new3.key", "shop.carl").await;
        assert_eq!(
            (code, s(&out["error"]["code"])),
            (2, "name_taken".into()),
            "{out}"
        );
    }
}
