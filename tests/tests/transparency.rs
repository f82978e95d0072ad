//! The registry's transparency log (spec section 5.2, "The transparency log"), through the real
//! server and the real CLI: signed checkpoints, inclusion and consistency proofs anyone can
//! check, and a history rewritten in the database detected.

use serde_json::Value;

use crate::support::{backends, tamper, Server};

/// Registers `n` agents through the CLI.
async fn register(server: &Server, n: usize) {
    for _ in 0..n {
        let key = server
            .dir
            .path(&format!("agent-{}.key", uuid::Uuid::new_v4().simple()));
        let key = key.to_str().unwrap();
        let (code, out) = server.cli(&["key", "generate", "--out", key]).await;
        assert_eq!(code, 0, "{out}");
        let (code, out) = server.cli(&["agent", "register", "--key", key]).await;
        assert_eq!(code, 0, "{out}");
    }
}

/// Rewrites entry `seq`'s actor in the server's database, as someone with write access to it
/// could.
async fn rewrite_history(server: &Server, seq: i64) {
    let sql = "UPDATE registry_log SET actor = 'did:key:z6MkForgedForgedForged' \
               WHERE seq = CAST($1 AS BIGINT)";
    assert_eq!(tamper(server, sql, &[&seq.to_string()]).await, 1);
}

fn code(out: &Value) -> &str {
    out["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_log_proves_its_history_and_a_rewrite_is_detected() {
    for backend in backends().await {
        let mut server = Server::start(&backend).await;
        register(&server, 3).await;
        let saved = server.dir.path("checkpoint.jws");
        let saved = saved.to_str().unwrap();
        let (status, out) = server.cli(&["log", "verify", "--save", saved]).await;
        assert_eq!(status, 0, "{out}");
        assert_eq!(out["treeSize"], 3, "{out}");

        // The log grows; it still extends the saved checkpoint, every entry is in it, and
        // every entry served recomputes to the signed root.
        register(&server, 4).await;
        for seq in ["1", "3", "7"] {
            let (status, out) = server
                .cli(&["log", "verify", "--saved", saved, "--seq", seq, "--audit"])
                .await;
            assert_eq!(status, 0, "{out}");
            assert_eq!(
                (
                    &out["treeSize"],
                    &out["consistentWith"]["treeSize"],
                    &out["audited"]
                ),
                (&Value::from(7), &Value::from(3), &Value::from(7)),
                "{out}"
            );
        }

        // A checkpoint whose signature is not the service's is refused.
        let token = std::fs::read_to_string(saved).unwrap();
        let (signing_input, signature) = token.trim().rsplit_once('.').unwrap();
        let mut sig: Vec<char> = signature.chars().collect();
        sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
        let forged = server.dir.path("forged.jws");
        let sig: String = sig.into_iter().collect();
        std::fs::write(&forged, format!("{signing_input}.{sig}")).unwrap();
        let (status, out) = server
            .cli(&["log", "verify", "--saved", forged.to_str().unwrap()])
            .await;
        assert_eq!((status, code(&out)), (1, "checkpoint_invalid"), "{out}");

        // Public, and bounded: nonsense ranges are 400s with a code.
        let http = server.http();
        let (status, body) = http.get("/v1/log/proofs/inclusion?seq=0&treeSize=7").await;
        assert_eq!((status, code(&body)), (400, "invalid_query"), "{body}");
        let (status, body) = http.get("/v1/log/proofs/inclusion?seq=8&treeSize=8").await;
        assert_eq!((status, code(&body)), (400, "invalid_query"), "{body}");
        let (status, body) = http
            .get("/v1/log/proofs/consistency?first=5&second=3")
            .await;
        assert_eq!((status, code(&body)), (400, "invalid_query"), "{body}");
        let (status, body) = http
            .get("/v1/log/proofs/consistency?first=1&second=18446744073709551615")
            .await;
        assert_eq!((status, code(&body)), (400, "invalid_query"), "{body}");
        let (status, body) = http.get("/v1/log/proofs/inclusion?seq=-1&treeSize=7").await;
        assert_eq!((status, code(&body)), (400, "invalid_query"), "{body}");

        // Someone with write access to the database rewrites entry 2. A node reading the log
        // afresh (a restart) serves the rewritten history: it no longer extends the checkpoint
        // saved before, and the entry's inclusion no longer holds against it.
        rewrite_history(&server, 2).await;
        server.restart().await;
        let (status, out) = server.cli(&["log", "verify", "--saved", saved]).await;
        assert_eq!((status, code(&out)), (1, "log_inconsistent"), "{out}");
        // The entries served still hash to the new (re-signed) root: only a checkpoint saved
        // before the rewrite, or a copy of the entries, reveals it. Both are what monitors keep.
        let (status, out) = server.cli(&["log", "verify", "--audit"]).await;
        assert_eq!(status, 0, "{out}");
    }
}

/// Finding: retiring the service's key broke every saved checkpoint (`checkpoint_invalid`),
/// though the log still extended it. A checkpoint signed before a rotation and a retirement
/// still verifies, under the key the service's signed key list (`GET /v1/log/keys`) names; one
/// dated after its key's retirement does not.
#[tokio::test]
async fn a_checkpoint_saved_before_a_key_change_still_verifies() {
    let server = Server::start(&crate::support::Backend::Sqlite).await;
    register(&server, 2).await;
    let saved = server.dir.path("before.jws");
    let saved = saved.to_str().unwrap();
    let (status, out) = server.cli(&["log", "verify", "--save", saved]).await;
    assert_eq!(status, 0, "{out}");
    let http = server.http();
    let token = std::fs::read_to_string(saved).unwrap();
    let header: Value = serde_json::from_slice(
        &agentid_spec::jose::b64u_decode(token.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    let old = header["kid"]
        .as_str()
        .unwrap()
        .rsplit_once('#')
        .unwrap()
        .1
        .to_owned();
    let (status, body) = http
        .post(
            "/v1/admin/wallet/keys",
            Some(&server.admin_token),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http
        .post(
            &format!("/v1/admin/wallet/keys/{old}/retire"),
            Some(&server.admin_token),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    register(&server, 1).await;
    let (status, out) = server.cli(&["log", "verify", "--saved", saved]).await;
    assert_eq!(status, 0, "{out}");
    assert_eq!(out["consistentWith"]["treeSize"], 2, "{out}");
    // The key list is the service's, signed by its current key, and names when each retired.
    let (_, keys) = http.get("/v1/log/keys").await;
    let list = keys["keys"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &agentid_spec::jose::b64u_decode(list.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    let retired: Vec<&Value> = payload["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["retiredAt"].is_i64())
        .collect();
    assert_eq!(retired.len(), 1, "{payload}");
}
