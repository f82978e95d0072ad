//! Moderation with due process (spec 5.4), against the real server: a named moderator suspends
//! an agent for a time with a reason code, a reason and an evidence hash; every credential it
//! holds is refused with its own code until the suspension ends by itself or the agent is
//! reinstated; each decision is in the public log, the reason by its hash only.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::fixture::{nonce, Fixture};
use crate::support::{backends, codes, error_code, s};

/// What a merchant's verification says of a fresh presentation of `credential`, but for the
/// missing spend authorization: no reason when the agent is in good standing.
async fn reasons(f: &Fixture, credential: &str) -> Vec<String> {
    let n = nonce();
    let vp = f.present(credential, &f.merchant, &n, 4200).await;
    let mut codes = codes(&f.verify_http(&vp, &f.merchant, &n).await);
    codes.retain(|c| c != "authorization_missing");
    codes
}

#[tokio::test]
async fn a_suspension_refuses_with_its_own_code_until_it_ends() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let http = f.server.http();
        let credential = s(&f.delegate(json!({})).await["credential"]);
        assert_eq!(reasons(&f, &credential).await, Vec::<String>::new());

        // A named moderator.
        let (code, out) = f
            .server
            .cli(&[
                "operator",
                "add",
                "--name",
                "mod-1",
                "--admin-token",
                &f.server.admin_token,
            ])
            .await;
        assert_eq!(code, 0, "{out}");
        let token = s(&out["token"]);
        let suspend = format!("/v1/admin/agents/{}/suspend", f.agent);
        let evidence = agentid_spec::jose::b64u(&Sha256::digest(b"chargeback report #123"));
        let body = |code: &str, secs: i64, evidence: &str| {
            json!({ "reasonCode": code, "reason": "chargebacks from three merchants",
                    "evidenceHash": evidence, "durationSecs": secs })
        };

        // Hostile or wrong decisions are refused, and change nothing.
        for (b, status, code) in [
            (body("nope", 3, &evidence), 400, "invalid_operation"),
            (body("fraud", 0, &evidence), 400, "invalid_operation"),
            (
                body("fraud", 366 * 86_400 + 1, &evidence),
                400,
                "invalid_operation",
            ),
            (body("fraud", i64::MAX, &evidence), 400, "invalid_operation"),
            (body("fraud", 3, "abc"), 400, "invalid_request"),
        ] {
            let (st, out) = http.post(&suspend, Some(&token), &b).await;
            assert_eq!(
                (st, error_code(st, &out)),
                (status, code.into()),
                "{b}: {out}"
            );
        }
        let (st, _) = http
            .post(&suspend, None, &body("fraud", 3, &evidence))
            .await;
        assert_eq!(st, 401);
        assert_eq!(reasons(&f, &credential).await, Vec::<String>::new());

        // Suspended for 3 seconds: refused with agent_suspended; the DID is not gone (200) and
        // its metadata says why and until when.
        let (st, out) = http
            .post(&suspend, Some(&token), &body("fraud", 3, &evidence))
            .await;
        assert_eq!(st, 200, "{out}");
        assert_eq!(out["status"], "suspended");
        assert_eq!(reasons(&f, &credential).await, ["agent_suspended"]);
        let (st, resolved) = http.get(&format!("/1.0/identifiers/{}", f.agent)).await;
        assert_eq!(st, 200, "{resolved}");
        let meta = &resolved["didDocumentMetadata"];
        assert_eq!(meta["agentStatus"], "suspended", "{meta}");
        assert_eq!(meta["suspended"]["reasonCode"], "fraud", "{meta}");
        assert_eq!(
            meta["suspended"]["evidenceHash"],
            evidence.as_str(),
            "{meta}"
        );
        assert!(meta["suspended"]["until"].is_string(), "{meta}");

        // The decision is in the public log, signed off by the moderator, reason by hash.
        let (_, log) = http.get("/v1/log/entries?after=0&limit=1000").await;
        let entry: &Value = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "suspend")
            .expect("a suspend entry");
        assert_eq!(entry["actor"], "mod-1", "{entry}");
        assert!(entry.get("reason").is_none(), "{entry}");
        assert_eq!(
            entry["reasonHash"],
            agentid_spec::jose::b64u(&Sha256::digest(b"chargebacks from three merchants")).as_str()
        );

        // It ends by itself.
        tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
        assert_eq!(reasons(&f, &credential).await, Vec::<String>::new());
        let (_, resolved) = http.get(&format!("/1.0/identifiers/{}", f.agent)).await;
        assert_eq!(resolved["didDocumentMetadata"]["agentStatus"], "active");

        // Suspended again through the CLI, then reinstated: accepted at once.
        let (code, out) = f
            .server
            .cli(&[
                "moderate",
                "suspend",
                "--did",
                &f.agent,
                "--reason-code",
                "abuse",
                "--reason",
                "spam bursts",
                "--for",
                "7d",
                "--admin-token",
                &token,
            ])
            .await;
        assert_eq!(code, 0, "{out}");
        assert_eq!(reasons(&f, &credential).await, ["agent_suspended"]);
        let (code, out) = f
            .server
            .cli(&[
                "moderate",
                "reinstate",
                "--did",
                &f.agent,
                "--reason",
                "appeal upheld",
                "--admin-token",
                &token,
            ])
            .await;
        assert_eq!((code, &out["status"]), (0, &json!("active")), "{out}");
        assert_eq!(reasons(&f, &credential).await, Vec::<String>::new());
        // Reinstating an agent in good standing is a conflict.
        let reinstate = format!("/v1/admin/agents/{}/reinstate", f.agent);
        let (st, out) = http
            .post(&reinstate, Some(&token), &json!({ "reason": "again" }))
            .await;
        assert_eq!(
            (st, error_code(st, &out)),
            (409, "conflict".into()),
            "{out}"
        );

        // A suspended agent can still be deplatformed (its own code), and reinstated from that.
        let (st, _) = http
            .post(&suspend, Some(&token), &body("fraud", 600, &evidence))
            .await;
        assert_eq!(st, 200);
        let (st, out) = http
            .post(
                &format!("/v1/admin/agents/{}/deplatform", f.agent),
                Some(&token),
                &json!({ "reason": "confirmed fraud" }),
            )
            .await;
        assert_eq!(st, 200, "{out}");
        assert_eq!(reasons(&f, &credential).await, ["agent_deplatformed"]);
        let (st, _) = http
            .post(&suspend, Some(&token), &body("fraud", 600, &evidence))
            .await;
        assert_eq!(st, 409, "a deplatformed agent is not suspended");
        let (st, _) = http
            .post(
                &reinstate,
                Some(&token),
                &json!({ "reason": "cleared on appeal" }),
            )
            .await;
        assert_eq!(st, 200);
        assert_eq!(reasons(&f, &credential).await, Vec::<String>::new());
    }
}
