//! Starting on a database that holds security state: the root admin token shared by every node,
//! migrations a newer binary wrote, the public URL credentials name, a start that fails part
//! way, and the master key kept outside the data directory. Each against the real
//! `agentid serve`, on SQLite and PostgreSQL.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::{backends, serve_outcome, tamper, Backend, Scratch, Server};

/// The code and message of a refused start; asserts it exited 2.
fn refused(outcome: Result<Value, (i32, Value)>) -> (String, String) {
    let (status, out) = match outcome {
        Ok(info) => panic!("the start was not refused: {info}"),
        Err(e) => e,
    };
    assert_eq!(status, 2, "{out}");
    (
        out["error"]["code"].as_str().unwrap_or_default().to_owned(),
        out["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The names of the files in `dir` (none when it does not exist).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Two nodes on one PostgreSQL database: the second, with no token file of its own, writes
/// none, and accepts the first node's root admin token; started with another token, or with
/// another token file in its data directory, it is refused (`admin_token_mismatch`). On both
/// backends a node restarted with a wrong `--admin-token` is refused the same way.
#[tokio::test]
async fn every_node_accepts_the_one_root_token() {
    for backend in backends().await {
        let a = Server::start(&backend).await;
        let data = a.dir.path("data");
        let (code, message) = refused(
            serve_outcome(
                &backend,
                &data,
                &[
                    "--public-url",
                    &a.url,
                    "--admin-token",
                    "admin.not-the-token",
                ],
                &[],
                None,
            )
            .await,
        );
        assert_eq!(code, "admin_token_mismatch", "{message}");
        assert!(message.contains("--admin-token"), "{message}");
        let Backend::Postgres(_) = backend else {
            continue;
        };
        let b = Server::joining(&a, &[]).await;
        let (status, out) = b
            .http()
            .post(
                "/v1/admin/operators",
                Some(&a.admin_token),
                &json!({ "name": "carol" }),
            )
            .await;
        assert_eq!(status, 201, "node A's root token works on node B: {out}");
        let (status, _) = a
            .http()
            .get_auth("/v1/admin/operators", &a.admin_token)
            .await;
        assert_eq!(status, 200);

        // A node with a token file of its own (say, from before the token was shared).
        let c = Scratch::new();
        let c_data = c.path("data");
        std::fs::create_dir_all(&c_data).unwrap();
        std::fs::write(c_data.join("admin.token"), "admin.minted-by-another-node").unwrap();
        let master = std::fs::read_to_string(data.join("master.key")).unwrap();
        let (code, message) = refused(
            serve_outcome(
                &backend,
                &c_data,
                &["--public-url", &a.url],
                &[("AGENTID_MASTER_KEY", master.trim())],
                None,
            )
            .await,
        );
        assert_eq!(code, "admin_token_mismatch", "{message}");
        assert!(message.contains("admin.token"), "{message}");
    }
}

/// A database holding a migration this binary does not know (a newer agentid wrote it) stops
/// the start, naming the version; the database is left as it was.
#[tokio::test]
async fn an_unknown_migration_stops_the_start() {
    for backend in backends().await {
        let mut server = Server::start(&backend).await;
        let url = server.url.clone();
        server.stop().await;
        let insert = match backend {
            Backend::Sqlite => {
                "INSERT INTO _sqlx_migrations \
                 (version, description, success, checksum, execution_time) \
                 VALUES (9001, 'from a newer agentid', TRUE, x'00', 0)"
            }
            Backend::Postgres(_) => {
                "INSERT INTO _sqlx_migrations \
                 (version, description, success, checksum, execution_time) \
                 VALUES (9001, 'from a newer agentid', TRUE, '\\x00'::bytea, 0)"
            }
        };
        assert_eq!(tamper(&server, insert, &[]).await, 1);
        let (code, message) = refused(
            serve_outcome(
                &backend,
                &server.dir.path("data"),
                &["--public-url", &url],
                &[],
                None,
            )
            .await,
        );
        assert_eq!(code, "unknown_migration", "{}: {message}", backend.name());
        assert!(message.contains("9001"), "{message}");
        assert!(message.contains("from a newer agentid"), "{message}");
    }
}

/// The public URL is recorded at first start: a start with another is refused
/// (`public_url_changed`, naming both), since every credential names the recorded one;
/// `--move-public-url` records the new one, which later starts then need.
#[tokio::test]
async fn a_changed_public_url_is_refused() {
    for backend in backends().await {
        let mut server = Server::start(&backend).await;
        let url = server.url.clone();
        server.stop().await;
        let data = server.dir.path("data");
        let moved = "http://agentid.moved.test";
        let (code, message) =
            refused(serve_outcome(&backend, &data, &["--public-url", moved], &[], None).await);
        assert_eq!(code, "public_url_changed", "{message}");
        assert!(
            message.contains(&url) && message.contains(moved),
            "{message}"
        );
        assert!(message.contains("--move-public-url"), "{message}");
        // The default, the listen address, is another URL too.
        let (code, _) = refused(serve_outcome(&backend, &data, &[], &[], None).await);
        assert_eq!(code, "public_url_changed");

        let info = serve_outcome(
            &backend,
            &data,
            &["--public-url", moved, "--move-public-url"],
            &[],
            None,
        )
        .await
        .expect("the move is taken");
        assert_eq!(info["publicUrl"], moved);
        serve_outcome(&backend, &data, &["--public-url", moved], &[], None)
            .await
            .expect("the moved URL is the recorded one");
        let (code, _) =
            refused(serve_outcome(&backend, &data, &["--public-url", &url], &[], None).await);
        assert_eq!(code, "public_url_changed");
    }
}

/// A start refused part way (a DNS server that is not an address, checked after the database
/// is opened) writes no `master.key`, no `admin.token` and records nothing: the next start, with
/// another public URL, is a first start.
#[tokio::test]
async fn a_failing_start_writes_nothing() {
    for backend in backends().await {
        let dir = Scratch::new();
        let data = dir.path("data");
        let (code, message) = refused(
            serve_outcome(
                &backend,
                &data,
                &[
                    "--public-url",
                    "http://first.test",
                    "--dns-server",
                    "not-an-address",
                ],
                &[],
                None,
            )
            .await,
        );
        assert_eq!(code, "invalid_config", "{message}");
        let written = files(&data);
        assert!(
            !written
                .iter()
                .any(|f| f == "master.key" || f == "admin.token"),
            "{written:?}"
        );
        let (code, _) =
            refused(serve_outcome(&backend, &data, &["--hold-secs", "0"], &[], None).await);
        assert_eq!(code, "invalid_config");
        let info = serve_outcome(
            &backend,
            &data,
            &["--public-url", "http://second.test"],
            &[],
            None,
        )
        .await
        .expect("nothing recorded by the failed starts");
        assert_eq!(info["publicUrl"], "http://second.test");
        assert!(data.join("master.key").exists() && data.join("admin.token").exists());
    }
}

/// The master key kept outside the data directory (a file, then a file descriptor): nothing is
/// written to the data directory, a copy of the data directory alone starts nowhere
/// (`master_key_missing`, without writing a key), a wrong key is refused (`master_key_wrong`),
/// and the right one, from a descriptor, opens what the first start sealed.
#[tokio::test]
async fn the_master_key_lives_outside_the_data_directory() {
    let backend = Backend::Sqlite;
    let secrets = Scratch::new();
    let key_file = secrets.path("master.key");
    std::fs::write(
        &key_file,
        agentid_wallet::vault::Vault::generate_master_key().as_bytes(),
    )
    .unwrap();
    let key_arg = key_file.display().to_string();
    let mut server = Server::start_with(&backend, &["--master-key-file", &key_arg]).await;
    let url = server.url.clone();
    let data = server.dir.path("data");
    assert!(!data.join("master.key").exists(), "{:?}", files(&data));
    // A principal: a key sealed under the master key.
    let (status, principal) = server.http().post("/v1/principals", None, &json!({})).await;
    assert_eq!(status, 201, "{principal}");
    let token = principal["token"].as_str().unwrap().to_owned();
    server.stop().await;

    // The data directory alone, copied elsewhere.
    let copy = Scratch::new();
    let copied = copy.path("data");
    std::fs::create_dir_all(&copied).unwrap();
    for f in files(&data) {
        std::fs::copy(data.join(&f), copied.join(&f)).unwrap();
    }
    let (code, message) =
        refused(serve_outcome(&backend, &copied, &["--public-url", &url], &[], None).await);
    assert_eq!(code, "master_key_missing", "{message}");
    assert!(message.contains("--master-key-file"), "{message}");
    assert!(
        !copied.join("master.key").exists(),
        "no key is made for a sealed database"
    );

    let other = agentid_wallet::vault::Vault::generate_master_key();
    let (code, message) = refused(
        serve_outcome(
            &backend,
            &copied,
            &["--public-url", &url],
            &[("AGENTID_MASTER_KEY", other.as_str())],
            None,
        )
        .await,
    );
    assert_eq!(code, "master_key_wrong", "{message}");

    // The right key on descriptor 3.
    let wrapper = format!("exec \"$0\" \"$@\" 3<'{key_arg}'");
    let info = serve_outcome(
        &backend,
        &copied,
        &["--public-url", &url, "--master-key-fd", "3"],
        &[],
        Some(&wrapper),
    )
    .await
    .expect("the key from a descriptor opens the copy");
    assert_eq!(info["publicUrl"], url.as_str());
    assert!(!copied.join("master.key").exists());

    // And the principal's sealed key still serves, on the original data with the key file.
    server.restart_with(&["--master-key-file", &key_arg]).await;
    let (status, me) = server.http().get_auth("/v1/principals/me", &token).await;
    assert_eq!(status, 200, "{me}");
}
