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

        // Someone with write access to the database rewrites entry 2. The node refuses to start
        // on it (its kept checkpoint; see below); started anyway, on purpose, it serves the
        // rewritten history: it no longer extends the checkpoint saved before, and the entry's
        // inclusion no longer holds against it.
        rewrite_history(&server, 2).await;
        server.restart_with(&["--accept-restored-log"]).await;
        let (status, out) = server.cli(&["log", "verify", "--saved", saved]).await;
        assert_eq!((status, code(&out)), (1, "log_inconsistent"), "{out}");
        // The entries served still hash to the new (re-signed) root: to an outsider, only a
        // checkpoint saved before the rewrite, or a copy of the entries, reveals it (both are
        // what monitors keep). The service itself, accepting the log as it is, still refuses
        // the agent of the rewritten entry, whose contents are no longer its hash: the audit
        // finds its answer is not what its log proves.
        let (status, out) = server.cli(&["log", "verify", "--audit"]).await;
        assert_eq!((status, code(&out)), (1, "state_mismatch"), "{out}");
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

/// `agentid serve` on `server`'s data (and database) with `extra` flags: what it printed (until
/// it exited, or its line saying it listens) and, if it exited, its exit code. A process still
/// running is killed.
async fn serve_once(server: &Server, extra: &[&str]) -> (String, Option<i32>) {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new(crate::support::binary());
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--public-url",
        &server.url,
    ])
    .arg("--data-dir")
    .arg(server.dir.path("data"))
    .args(extra)
    .env_remove("AGENTID_DATABASE_URL")
    .env("AGENTID_LOG", "warn")
    .stdout(std::process::Stdio::piped())
    .kill_on_drop(true);
    if let crate::support::Backend::Postgres(url) = &server.backend {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first = String::new();
    // Everything it prints until it exits, or its first line if it keeps serving.
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            first.push_str(&line);
            first.push('\n');
            if line.contains("listening") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 20 s: {first}");
    let code = match tokio::time::timeout(std::time::Duration::from_secs(3), child.wait()).await {
        Ok(status) => status.unwrap().code(),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    (first, code)
}

/// Finding: a restored older backup silently undid deplatformings, suspensions and key
/// changes. The service keeps its latest signed checkpoint outside the database and refuses to
/// start on a log that no longer extends it, unless told to accept the restore.
#[tokio::test]
async fn a_log_rolled_back_behind_the_service_stops_its_start() {
    for backend in backends().await {
        let mut server = Server::start(&backend).await;
        register(&server, 3).await;
        // The kept checkpoint follows the log within a second or so.
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        let kept = server.dir.path("data").join("log-checkpoint.jws");
        assert!(kept.exists());
        server.stop().await;
        // The database as an older backup has it: the latest entries are gone.
        let sql = "DELETE FROM registry_log WHERE seq > 1";
        assert!(tamper(&server, sql, &[]).await >= 1);
        let (out, code) = serve_once(&server, &[]).await;
        assert_eq!(code, Some(2), "{out}");
        assert!(out.contains("log restored"), "{out}");
        assert!(out.contains("--accept-restored-log"), "{out}");
        // Accepted on purpose, it starts (and keeps the log as it is now).
        let (out, code) = serve_once(&server, &["--accept-restored-log"]).await;
        assert_eq!(code, None, "still serving: {out}");
        assert!(out.contains("listening"), "{out}");
    }
}

/// Entries written before seals existed (here, whose seals were removed, on a node that has not
/// started with seals: no `data/log-sealed`) are sealed at the first start that finds them
/// covered by the checkpoint kept outside the database. Once the node has started with seals,
/// or without that checkpoint, they stay unsealed, their agents refused and no name or zone is
/// given to anyone, until an operator vouches for them by number (`--seal-log-entries`).
#[tokio::test]
async fn entries_from_before_seals_are_sealed_only_on_proof() {
    let mut server = Server::start(&crate::support::Backend::Sqlite).await;
    register(&server, 1).await;
    let did = crate::support::peek(&server, "SELECT did FROM registry_agents", &[])
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let resolve = |server: &Server| {
        let http = server.http();
        let path = format!("/1.0/identifiers/{did}");
        async move { http.get(&path).await.0 }
    };
    let data = server.dir.path("data");
    let unseal = "UPDATE registry_log SET seal = NULL";
    server.stop().await;
    assert_eq!(tamper(&server, unseal, &[]).await, 1);
    std::fs::remove_file(data.join("log-sealed")).unwrap();
    server.restart().await;
    assert_eq!(
        resolve(&server).await,
        200,
        "covered by the kept checkpoint"
    );
    assert!(data.join("log-sealed").exists());
    server.stop().await;
    tamper(&server, unseal, &[]).await;
    server.restart().await;
    assert_eq!(resolve(&server).await, 500, "sealed after seals began");
    server.stop().await;
    std::fs::remove_file(data.join("log-checkpoint.jws")).unwrap();
    std::fs::remove_file(data.join("log-sealed")).unwrap();
    server.restart().await;
    assert_eq!(resolve(&server).await, 500, "sealed on nobody's word");
    // While the log holds an entry the service did not seal, nobody is given a name.
    let (code, out) = server
        .cli(&[
            "agent",
            "register",
            "--key",
            &key_file(&server).await,
            "--name",
            "newcomer",
        ])
        .await;
    assert_ne!(code, 0, "{out}");
    server.stop().await;
    server.restart_with(&["--accept-restored-log"]).await;
    assert_eq!(
        resolve(&server).await,
        500,
        "accepting the log as it is vouches for no entry"
    );
    server.restart_with(&["--seal-log-entries", "1"]).await;
    assert_eq!(resolve(&server).await, 200, "vouched for by the operator");
    let (code, out) = server
        .cli(&[
            "agent",
            "register",
            "--key",
            &key_file(&server).await,
            "--name",
            "newcomer",
        ])
        .await;
    assert_eq!(code, 0, "{out}");
}

/// A fresh key file for an agent.
async fn key_file(server: &Server) -> String {
    let key = server
        .dir
        .path(&format!("agent-{}.key", uuid::Uuid::new_v4().simple()));
    let key = key.to_str().unwrap().to_owned();
    let (code, out) = server.cli(&["key", "generate", "--out", &key]).await;
    assert_eq!(code, 0, "{out}");
    key
}

/// Finding (fourth attack on the log's decisions): `--accept-restored-log` sealed every entry
/// without a seal, forged ones with the rest: a root operator's reinstatement of a deplatformed
/// agent, written into the database and chained to the log, came back sealed and in force.
/// Accepting a restore now vouches for no entry: the forged one keeps its agent refused and stops
/// every append until the operator drops it (`--drop-log-entries-from`, never over a sealed
/// entry) or vouches for it by number (`--seal-log-entries`, never for an entry that is not what
/// its hash says). A start that refuses either writes nothing.
#[tokio::test]
async fn a_forged_entry_is_not_sealed_by_accepting_a_restore() {
    use agentid_spec::log::{LogEntry, LogRecord};
    for backend in backends().await {
        let mut server = Server::start(&backend).await;
        register(&server, 2).await;
        let did = crate::support::peek(
            &server,
            "SELECT did FROM registry_agents ORDER BY did LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .remove(0);
        let http = server.http();
        let (status, body) = http
            .post(
                &format!("/v1/admin/agents/{did}/deplatform"),
                Some(&server.admin_token),
                &serde_json::json!({ "reason": "fraud" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let resolve = |server: &Server| {
            let http = server.http();
            let path = format!("/1.0/identifiers/{did}");
            async move { http.get(&path).await.0 }
        };
        assert_eq!(resolve(&server).await, 410);
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        server.stop().await;

        // The reinstatement, forged: chained to the last entry, its hash its contents', no seal.
        let last = crate::support::peek(
            &server,
            "SELECT CAST(seq AS TEXT), entry_hash, CAST(created_at AS TEXT) FROM registry_log \
             ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
        let deplatforming: i64 = last[0].parse().unwrap();
        let forged = LogEntry::chain(
            Some((deplatforming, &last[1])),
            LogRecord {
                did: did.clone(),
                kind: "reinstate".into(),
                operation: serde_json::json!({ "type": "reinstate", "did": did }).to_string(),
                actor: "admin".into(),
                reason: Some("appeal upheld".into()),
                created_at: last[2].parse().unwrap(),
            },
        );
        let insert = "INSERT INTO registry_log (seq, did, kind, operation, actor, reason, \
                      prev_hash, entry_hash, created_at) VALUES (CAST($1 AS BIGINT), $2, $3, $4, \
                      $5, $6, $7, $8, CAST($9 AS BIGINT))";
        let binds = [
            forged.seq.to_string(),
            forged.did.clone(),
            forged.kind.clone(),
            forged.operation.clone(),
            forged.actor.clone(),
            forged.reason.clone().unwrap(),
            forged.prev_hash.clone(),
            forged.entry_hash.clone(),
            forged.created_at.to_string(),
        ];
        let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
        assert_eq!(tamper(&server, insert, &binds).await, 1);
        let reinstated = "UPDATE registry_agents SET status = 'active' WHERE did = $1";
        assert_eq!(tamper(&server, reinstated, &[&did]).await, 1);

        for flags in [&[][..], &["--accept-restored-log"][..]] {
            server.restart_with(flags).await;
            assert_ne!(
                resolve(&server).await,
                200,
                "a forged reinstatement in force with {flags:?}"
            );
            let key = server.dir.path("late.key");
            let _ = std::fs::remove_file(&key);
            let key = key.to_str().unwrap();
            assert_eq!(server.cli(&["key", "generate", "--out", key]).await.0, 0);
            let (code, out) = server.cli(&["agent", "register", "--key", key]).await;
            assert_ne!(code, 0, "appended after a forged entry: {out}");
        }
        server.stop().await;

        // Refused, and nothing written: a drop over a sealed entry, a seal for an entry that
        // does not exist, a seal for one that is not what its hash says.
        async fn count(server: &Server) -> String {
            let unsealed = "SELECT CAST(COUNT(*) AS TEXT) FROM registry_log WHERE seal IS NULL";
            crate::support::peek(server, unsealed, &[]).await.unwrap()[0].clone()
        }
        let deplatforming = deplatforming.to_string();
        let forged_seq = forged.seq.to_string();
        for flags in [
            vec!["--drop-log-entries-from", deplatforming.as_str()],
            vec!["--seal-log-entries", "9999"],
            vec!["--drop-log-entries-from", "9999"],
        ] {
            let (out, exit) = serve_once(&server, &flags).await;
            assert_eq!(exit, Some(2), "{flags:?}: {out}");
            assert!(out.contains("log_restored"), "{flags:?}: {out}");
            assert_eq!(count(&server).await, "1", "{flags:?} wrote");
        }
        // A genuine entry whose seal is corrupted in the database is still the service's: the
        // kept checkpoint covers it, so it is never dropped.
        let seal_of = "SELECT seal FROM registry_log WHERE seq = CAST($1 AS BIGINT)";
        let genuine = crate::support::peek(&server, seal_of, &[&deplatforming])
            .await
            .unwrap()
            .remove(0);
        let reseal = "UPDATE registry_log SET seal = $1 WHERE seq = CAST($2 AS BIGINT)";
        tamper(&server, reseal, &["corrupted", &deplatforming]).await;
        let (out, exit) = serve_once(&server, &["--drop-log-entries-from", &deplatforming]).await;
        assert_eq!(exit, Some(2), "{out}");
        assert!(out.contains("covered by the checkpoint"), "{out}");
        tamper(&server, reseal, &[&genuine, &deplatforming]).await;
        let altered = "UPDATE registry_log SET reason = 'altered' WHERE seq = CAST($1 AS BIGINT)";
        assert_eq!(tamper(&server, altered, &[&forged_seq]).await, 1);
        // The kept checkpoint never covered the forged entry (it stops before the first entry
        // without the seal), so the alteration is not a restore: the seal is refused for what
        // the entry is.
        let (out, exit) = serve_once(&server, &["--seal-log-entries", &forged_seq]).await;
        assert_eq!(exit, Some(2), "{out}");
        assert!(out.contains("is not what its hash says"), "{out}");

        // A start refused for another reason after the log was judged (an unusable
        // --trust-registry) drops nothing: the log's amendments come last.
        let (out, exit) = serve_once(
            &server,
            &[
                "--drop-log-entries-from",
                &forged_seq,
                "--trust-registry",
                "ftp://registry.example",
            ],
        )
        .await;
        assert_eq!(exit, Some(2), "{out}");
        assert!(out.contains("--trust-registry"), "{out}");
        assert_eq!(count(&server).await, "1", "a refused start dropped entries");
        // Nor one whose checkpoint could not be written after the drop (something in the way
        // of its new file): the data directory is checked before anything is written.
        let in_the_way = server.dir.path("data").join("log-checkpoint.jws.new");
        std::fs::create_dir_all(in_the_way.join("x")).unwrap();
        let (out, exit) = serve_once(&server, &["--drop-log-entries-from", &forged_seq]).await;
        assert!(exit.is_some_and(|c| c != 0), "{out}");
        assert!(out.contains("log-checkpoint.jws.new"), "{out}");
        assert_eq!(count(&server).await, "1", "a refused start dropped entries");
        std::fs::remove_dir_all(&in_the_way).unwrap();

        // Dropped on the operator's word: the deplatforming stands (the row's "active" is
        // refused, not served), and the log takes entries again.
        server
            .restart_with(&["--drop-log-entries-from", &forged_seq])
            .await;
        assert_eq!(count(&server).await, "0");
        assert_eq!(resolve(&server).await, 500, "the rewritten row is refused");
        register(&server, 1).await;
        let (status, out) = server.cli(&["log", "verify", "--audit"]).await;
        assert_eq!(status, 1, "the agent's row still says active: {out}");
        assert_eq!(code(&out), "state_mismatch", "{out}");
    }
}
