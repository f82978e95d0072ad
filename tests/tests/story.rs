//! The checkout story of the README, step by step, through the CLI and HTTP.

use agentid_spec::id::hash_b32;
use agentid_spec::jose::b64u_decode;
use serde_json::Value;

use crate::fixture::{nonce, Fixture, ORDER};
use crate::support::{backends, codes, s, Server};

fn payload(jws: &str) -> Value {
    let part = jws.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&b64u_decode(part).expect("base64url")).expect("JSON payload")
}

#[tokio::test]
async fn checkout_story() {
    for backend in backends().await {
        story(&Fixture::new(&backend).await).await;
    }
}

async fn story(f: &Fixture) {
    let http = f.server.http();
    let backend = f.server.backend.name();

    // Step 3: the DID is the hash of the signed genesis operation, and the name resolves to it.
    let (status, log) = http.get(&format!("/v1/agents/{}/log", f.agent)).await;
    assert_eq!(status, 200, "{backend}: {log}");
    let genesis = s(&log["entries"][0]["operation"]);
    assert_eq!(
        f.agent,
        format!("did:agentid:{}", hash_b32(genesis.as_bytes())),
        "{backend}"
    );
    let (status, by_did) = http.get(&format!("/1.0/identifiers/{}", f.agent)).await;
    assert_eq!(status, 200, "{backend}: {by_did}");
    let doc = &by_did["didDocument"];
    assert_eq!(doc["id"], f.agent.as_str());
    assert_eq!(doc["alsoKnownAs"][0], "agentid://shopper.alice");
    assert_eq!(
        doc["verificationMethod"][0]["publicKeyMultibase"],
        f.agent_key.did_key().multibase()
    );
    assert_eq!(by_did["didDocumentMetadata"]["agentStatus"], "active");
    let (status, by_name) = http.get("/1.0/identifiers/shopper.alice").await;
    assert_eq!(status, 200);
    assert_eq!(by_name["didDocument"]["id"], f.agent.as_str());
    let (code, resolved) = f.server.cli(&["resolve", "shopper.alice"]).await;
    assert_eq!(
        (code, &resolved["didDocument"]["id"]),
        (0, &Value::from(f.agent.as_str()))
    );

    // Step 2: the principal is a did:key whose key the wallet keeps.
    assert!(f.principal.starts_with("did:key:z6Mk"), "{}", f.principal);
    let (code, me) = f.server.cli(&["wallet", "show", "--token", &f.token]).await;
    assert_eq!((code, s(&me["did"])), (0, f.principal.clone()));

    // Step 4: the credential is a vc+jwt from the principal to the agent, with scope, limit and
    // a status list entry.
    let header: Value =
        serde_json::from_slice(&b64u_decode(f.credential.split('.').next().unwrap()).unwrap())
            .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "vc+jwt");
    assert_eq!(
        s(&header["kid"]),
        format!("{}#{}", f.principal, &f.principal["did:key:".len()..])
    );
    let vc = payload(&f.credential);
    assert_eq!(vc["issuer"], f.principal.as_str());
    assert_eq!(vc["credentialSubject"]["id"], f.agent.as_str());
    assert_eq!(
        vc["credentialSubject"]["spendingLimit"]["perTransaction"],
        5000
    );
    assert_eq!(vc["credentialStatus"]["type"], "BitstringStatusListEntry");
    let status_url = s(&vc["credentialStatus"]["statusListCredential"]);
    assert!(status_url.starts_with(&f.server.url), "{status_url}");

    // Steps 5-6: the agent presents through the CLI; the merchant verifies through the CLI
    // (in-process SDK) and over HTTP.
    let cred_file = f.server.dir.path("credential.jwt");
    std::fs::write(&cred_file, &f.credential).unwrap();
    let order = f.order.to_str().unwrap();
    let present = |n: &str| {
        vec![
            "present".to_owned(),
            "--key".into(),
            f.agent_key_file.to_str().unwrap().into(),
            "--agent".into(),
            f.agent.clone(),
            "--credential".into(),
            cred_file.to_str().unwrap().into(),
            "--merchant".into(),
            f.merchant.clone(),
            "--nonce".into(),
            n.into(),
            "--amount".into(),
            "4200".into(),
            "--currency".into(),
            "USD".into(),
            "--order".into(),
            order.into(),
            "--category".into(),
            "groceries".into(),
        ]
    };
    let n1 = nonce();
    let args = present(&n1);
    let (code, vp) = f.server.cli_owned(&args).await;
    assert_eq!(code, 0, "{vp}");
    let vp = s(&vp["presentation"]);
    let vp_payload = payload(&vp);
    assert_eq!(vp_payload["aud"], f.merchant.as_str());
    assert_eq!(vp_payload["nonce"], n1.as_str());
    assert_eq!(
        vp_payload["transaction"]["orderHash"],
        agentid_sdk::present::order_hash(ORDER).as_str()
    );
    let verify = |p: &str, n: &str, remote: bool| {
        let mut a = vec![
            "verify".to_owned(),
            "--presentation".into(),
            p.into(),
            "--merchant".into(),
            f.merchant.clone(),
            "--nonce".into(),
            n.into(),
            "--amount".into(),
            "4200".into(),
            "--currency".into(),
            "USD".into(),
            "--order".into(),
            order.into(),
        ];
        if remote {
            a.push("--remote".into());
        }
        a
    };
    let args = verify(&vp, &n1, false);
    let (code, decision) = f.server.cli_owned(&args).await;
    assert_eq!(
        (code, &decision["decision"]),
        (0, &Value::from("accepted")),
        "{backend}: {decision}"
    );
    assert_eq!(decision["authorization"]["principal"], f.principal.as_str());
    let args = verify(&vp, &n1, true);
    let (code, decision) = f.server.cli_owned(&args).await;
    assert_eq!(code, 0, "{decision}");
    // The same presentation again is a replay.
    let again = f.verify_http(&vp, &f.merchant, &n1).await;
    assert_eq!(codes(&again), ["nonce_replayed"]);

    // A second delegation, to show deplatforming voids every credential the agent holds.
    let second = f.delegate(serde_json::json!({})).await;

    // Step 7a: the principal revokes; the next verification says credential_revoked, and the
    // CLI exits 1 while still printing the decision.
    let (code, revoked) = f
        .server
        .cli(&[
            "revoke",
            "--token",
            &f.token,
            "--credential-id",
            &f.credential_id,
            "--reason",
            "lost phone",
        ])
        .await;
    assert_eq!(
        (code, &revoked["revoked"]),
        (0, &Value::from(true)),
        "{revoked}"
    );
    let (_, list) = f.server.cli(&["wallet", "list", "--token", &f.token]).await;
    assert_eq!(list["delegations"].as_array().unwrap().len(), 2);
    // The wallet holds nothing under a revoked delegation: `present` fails with the reason.
    let n2 = nonce();
    let args = present(&n2);
    let (code, refused) = f.server.cli_owned(&args).await;
    assert_eq!(
        (code, s(&refused["error"]["code"])),
        (2, "spend_refused".into()),
        "{refused}"
    );
    // The bare spend request, shown to a merchant anyway, is rejected for both reasons.
    let mut args = present(&n2);
    args.push("--request-only".into());
    let (_, vp2) = f.server.cli_owned(&args).await;
    let vp2 = s(&vp2["presentation"]);
    for remote in [false, true] {
        let args = verify(&vp2, &n2, remote);
        let (code, decision) = f.server.cli_owned(&args).await;
        assert_eq!(code, 1, "{decision}");
        assert_eq!(decision["decision"], "rejected");
        assert_eq!(
            codes(&decision),
            ["credential_revoked", "authorization_missing"],
            "remote={remote}"
        );
    }

    // Step 7b: the operator deplatforms the agent with a reason; resolution shows it and every
    // credential the agent holds is rejected.
    let (code, out) = f
        .server
        .cli(&[
            "deplatform",
            "--did",
            &f.agent,
            "--reason",
            "card testing fraud",
            "--admin-token",
            &f.server.admin_token,
        ])
        .await;
    assert_eq!(code, 0, "{out}");
    let (status, gone) = http.get(&format!("/1.0/identifiers/{}", f.agent)).await;
    assert_eq!(status, 410);
    assert_eq!(gone["didDocumentMetadata"]["agentStatus"], "deplatformed");
    assert_eq!(
        gone["didDocumentMetadata"]["deplatformed"]["reason"],
        "card testing fraud"
    );
    let (code, _) = f.server.cli(&["resolve", &f.agent]).await;
    assert_eq!(code, 1, "resolve of a deplatformed agent is not a success");
    let n3 = nonce();
    let vp3 = f
        .present(&s(&second["credential"]), &f.merchant, &n3, 4200)
        .await;
    let decision = f.verify_http(&vp3, &f.merchant, &n3).await;
    assert_eq!(
        codes(&decision),
        ["agent_deplatformed", "authorization_missing"]
    );
    let args = verify(&vp3, &n3, false);
    let (code, decision) = f.server.cli_owned(&args).await;
    assert_eq!(
        (code, codes(&decision)),
        (
            1,
            vec![
                "agent_deplatformed".to_owned(),
                "authorization_missing".to_owned()
            ]
        )
    );

    // The decision is in the operator's log, hash-chained to the registration.
    let (status, log) = http.get_auth("/v1/admin/log", &f.server.admin_token).await;
    assert_eq!(status, 200, "{log}");
    assert!(log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "deplatform" && e["actor"] == "admin"));
    let (status, _) = http.get_auth("/v1/admin/log", "admin.wrong").await;
    assert_eq!(status, 401);
    let (_, agent_log) = http.get(&format!("/v1/agents/{}/log", f.agent)).await;
    let entries = agent_log["entries"].as_array().unwrap();
    assert_eq!(entries.last().unwrap()["kind"], "deplatform");
    assert_eq!(entries.last().unwrap()["reason"], "card testing fraud");
}

/// Keys at rest: the principal's private key is sealed and the bearer token stored only as a
/// hash, in the real database file.
#[tokio::test]
async fn secrets_at_rest() {
    for backend in backends().await {
        secrets(&backend).await;
    }
}

async fn secrets(backend: &crate::support::Backend) {
    use sqlx::Connection;
    let server = Server::start(backend).await;
    let (_, wallet) = server.cli(&["wallet", "create"]).await;
    let token = s(&wallet["token"]);
    let did = s(&wallet["did"]);
    let db = server.dir.path("data").join("agentid.db");
    let url = match backend {
        crate::support::Backend::Sqlite => format!("sqlite://{}", db.display()),
        crate::support::Backend::Postgres(url) => url.clone(),
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let (hash, sealed): (String, String) =
        sqlx::query_as("SELECT token_hash, sealed_key FROM wallet_principals WHERE did = $1")
            .bind(&did)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    // A keyed hash bound to the principal's id and DID: neither the token nor its bare digest.
    let master = std::fs::read_to_string(server.dir.path("data").join("master.key")).unwrap();
    let tokens = agentid_store::TokenKey::from_b64u(master.trim()).unwrap();
    let id = token.split_once('.').unwrap().0;
    let principal = agentid_store::tokens::Account::Principal;
    assert!(tokens.matches(principal, &[id, &did], &token, &hash));
    assert!(!hash.contains(token.split_once('.').unwrap().1));
    assert_ne!(hash, agentid_store::tokens::legacy_form(&token));
    // 24-byte nonce + 32-byte key + 16-byte tag.
    assert_eq!(b64u_decode(&sealed).unwrap().len(), 72);
    if matches!(backend, crate::support::Backend::Sqlite) {
        let raw = std::fs::read(&db).unwrap();
        assert!(
            !raw.windows(token.len()).any(|w| w == token.as_bytes()),
            "token stored in clear"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec!["master.key", "admin.token", "."];
        if matches!(backend, crate::support::Backend::Sqlite) {
            files.push("agentid.db");
        }
        for f in files {
            let mode = std::fs::metadata(server.dir.path("data").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others");
        }
    }
}

/// The README's walkthrough, run as written by bash against a real server.
#[tokio::test]
async fn readme_walkthrough() {
    let server = Server::start(&crate::support::Backend::Sqlite).await;
    let data = server.dir.path("data");
    let stdout = crate::support::run_readme_block(
        "walkthrough",
        &[
            ("AGENTID_SERVER", server.url.as_str()),
            ("DATA", data.to_str().unwrap()),
        ],
    )
    .await;
    for expected in [
        "\"decision\": \"accepted\"",
        "\"wallet\": \"did:web:",
        "\"state\": \"captured\"",
        "\"code\": \"budget_exceeded\"",
        "\"remaining\": 800",
        "\"state\": \"released\"",
        "\n\"held\"\n",
        "refused: exit 2",
        "\"code\": \"spend_refused\"",
        "\"code\": \"limit_exceeded\"",
        "\"code\": \"authorization_missing\"",
        "\"code\": \"credential_revoked\"",
        "\"agentStatus\": \"deplatformed\"",
        "\"code\": \"agent_deplatformed\"",
        "rejected: exit 1",
        "deplatformed: exit 1",
        "\"code\": \"delegation_widened\"",
        "\n1300\n",
        "[\"credential_revoked\",\"credential_revoked\"]",
        "{\"status\":\"suspended\",\"reasonCode\":\"fraud\",",
        "[\"agent_suspended\",\"authorization_missing\"]",
        "{\"status\":\"active\"}",
        "{\"verified\":true,\"consistentWith\":{",
        "{\"name\":\"bot.platform-",
    ] {
        assert!(
            stdout.contains(expected),
            "walkthrough output lacks {expected}:\n{stdout}"
        );
    }
}

/// Key files are encrypted unless their owner asks otherwise by name.
#[tokio::test]
async fn key_files_are_encrypted() {
    let server = Server::start(&crate::support::Backend::Sqlite).await;
    let file = server.dir.path("k.key");
    let f = file.to_str().unwrap();
    let (code, out) = crate::support::run_cli_env(
        &server.url,
        &["key", "generate", "--out", f],
        &[("AGENTID_KEY_PASSPHRASE", "")],
    )
    .await;
    assert_eq!(
        (code, s(&out["error"]["code"])),
        (2, "passphrase_required".to_owned())
    );
    assert!(!file.exists(), "nothing written without a passphrase");
    let (code, out) = server.cli(&["key", "generate", "--out", f]).await;
    assert_eq!(
        (code, &out["encrypted"]),
        (0, &serde_json::json!(true)),
        "{out}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.split('.').count(), 5, "a compact JWE");
    assert!(!text.contains("\"d\""));
    let (code, shown) = server.cli(&["key", "show", "--key", f]).await;
    assert_eq!((code, &shown["did"]), (0, &out["did"]));
    let (code, out) = crate::support::run_cli_env(
        &server.url,
        &["key", "show", "--key", f],
        &[("AGENTID_KEY_PASSPHRASE", "wrong")],
    )
    .await;
    assert_eq!(
        (code, s(&out["error"]["code"])),
        (2, "wrong_passphrase".to_owned())
    );
    let plain = server.dir.path("plain.key");
    let (code, out) = server
        .cli(&[
            "key",
            "generate",
            "--unencrypted",
            "--out",
            plain.to_str().unwrap(),
        ])
        .await;
    assert_eq!((code, &out["encrypted"]), (0, &serde_json::json!(false)));
    assert!(std::fs::read_to_string(&plain).unwrap().contains("\"d\""));
}

/// `agentid serve` verifies with the registry and the wallet it holds in memory: a verification
/// with cold caches, and one right after a revocation, make no HTTP request to the service
/// itself (its request counter moves by exactly the requests the test sends).
#[tokio::test]
async fn verification_makes_no_request_to_itself() {
    for backend in backends().await {
        no_loopback(&Fixture::new(&backend).await).await;
    }
}

async fn no_loopback(f: &Fixture) {
    let client = reqwest::Client::new();
    let metrics_url = format!("{}/metrics", f.server.url);
    let requests = || async {
        let text = client
            .get(&metrics_url)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .find_map(|l| l.strip_prefix("agentid_http_requests_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no request counter in {text}"))
    };
    let backend = f.server.backend.name();

    // Cold caches: the agent, the issuer and the status list are all read for the first time.
    let n = nonce();
    let vp = f.present(&f.credential, &f.merchant, &n, 4200).await;
    let before = requests().await;
    let d = f.verify_http(&vp, &f.merchant, &n).await;
    let after = requests().await;
    assert_eq!(d["decision"], "accepted", "{backend}: {d}");
    assert_eq!(
        after - before,
        2,
        "{backend}: only the verification and this metrics read reached the server"
    );

    // A revocation moves the wallet's generation; the next verification reads the new list, in
    // memory, and sees it at once.
    let (status, _) = f
        .server
        .http()
        .post(
            &format!("/v1/delegations/{}/revoke", f.credential_id),
            Some(&f.token),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let n = nonce();
    let vp = f.present(&f.credential, &f.merchant, &n, 4200).await;
    let before = requests().await;
    let d = f.verify_http(&vp, &f.merchant, &n).await;
    let after = requests().await;
    assert_eq!(
        codes(&d),
        ["credential_revoked", "authorization_missing"],
        "{backend}"
    );
    assert_eq!(after - before, 2, "{backend}");
}
