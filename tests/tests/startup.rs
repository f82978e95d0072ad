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

/// What the token of `id` (an operator `op_<name>` or a principal) gets from `server`.
async fn opens(server: &Server, token: &str) -> u16 {
    let path = if token.starts_with("op_") || token.starts_with("admin.") {
        "/v1/admin/log"
    } else {
        "/v1/principals/me"
    };
    server.http().get_auth(path, token).await.0
}

/// A new account of `server`: a named operator's token or a principal's `(id, token)`.
async fn operator(server: &Server, name: &str) -> String {
    let (st, b) = server
        .http()
        .post(
            "/v1/admin/operators",
            Some(&server.admin_token),
            &json!({ "name": name }),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    b["token"].as_str().unwrap().to_owned()
}

async fn principal(server: &Server) -> (String, String) {
    let (st, b) = server.http().post("/v1/principals", None, &json!({})).await;
    assert_eq!(st, 201, "{b}");
    (
        b["principalId"].as_str().unwrap().to_owned(),
        b["token"].as_str().unwrap().to_owned(),
    )
}

/// Finding (database forgery): bearer tokens were stored as bare SHA-256, so whoever could write
/// the database could make an account: insert an operator, replace a principal's hash with one
/// of a token of theirs, undo an operator's revocation, or record a root token of theirs. Tokens
/// are now stored keyed under the master key and bound to the row's facts: each of these opens
/// nothing, and a node with no copy of the root token refuses to start on a root token's bare
/// hash (`legacy_root_token`). On both backends.
#[tokio::test]
async fn a_token_written_into_the_database_opens_nothing() {
    use agentid_store::tokens::legacy_form;
    for backend in backends().await {
        let mut server = Server::start(&backend).await;
        let dave = operator(&server, "dave").await;
        let carol = operator(&server, "carol").await;
        let carol_form = crate::support::peek(
            &server,
            "SELECT token_hash FROM service_operators WHERE name = 'carol'",
            &[],
        )
        .await
        .unwrap()
        .remove(0);
        let (st, _) = server
            .http()
            .post(
                "/v1/admin/operators/carol/revoke",
                Some(&server.admin_token),
                &json!({}),
            )
            .await;
        assert_eq!(st, 200);
        let (victim, victim_token) = principal(&server).await;
        let (mallory, mallory_token) = principal(&server).await;
        assert_eq!(opens(&server, &dave).await, 200);
        assert_eq!(opens(&server, &victim_token).await, 200);
        assert_eq!(opens(&server, &mallory_token).await, 200);

        // An operator inserted with the bare hash of a token of the writer's choosing, and one
        // given a copy of a live operator's stored form.
        let insert = "INSERT INTO service_operators (name, token_hash, created_at, created_by) \
                      VALUES ($1, $2, 0, 'admin')";
        tamper(
            &server,
            insert,
            &["mallory", &legacy_form("op_mallory.chosen")],
        )
        .await;
        let dave_form = crate::support::peek(
            &server,
            "SELECT token_hash FROM service_operators WHERE name = 'dave'",
            &[],
        )
        .await
        .unwrap()
        .remove(0);
        tamper(&server, insert, &["eve", &dave_form]).await;
        let dave_secret = dave.split_once('.').unwrap().1;
        for forged in [
            "op_mallory.chosen".to_owned(),
            format!("op_eve.{dave_secret}"),
        ] {
            assert_eq!(opens(&server, &forged).await, 401, "{forged}");
        }
        // A revocation undone.
        let undo = "UPDATE service_operators SET revoked_at = NULL, revoked_by = NULL \
                    WHERE name = 'carol'";
        assert_eq!(tamper(&server, undo, &[]).await, 1);
        assert_eq!(opens(&server, &carol).await, 401, "a revocation undone");
        // ...with its stored form from before the revocation put back as well: the log's
        // revocation stands.
        let restore = "UPDATE service_operators SET token_hash = $1 WHERE name = 'carol'";
        assert_eq!(tamper(&server, restore, &[&carol_form]).await, 1);
        assert_eq!(
            opens(&server, &carol).await,
            401,
            "a row restored from before"
        );

        // A principal's hash replaced by the bare hash, or a keyed-looking form, of a token of
        // the writer's choosing.
        let chosen = format!("{victim}.chosen");
        for form in [legacy_form(&chosen), format!("k1.{}", legacy_form(&chosen))] {
            let set = "UPDATE wallet_principals SET token_hash = $1 WHERE id = $2";
            assert_eq!(tamper(&server, set, &[&form, &victim]).await, 1);
            assert_eq!(opens(&server, &chosen).await, 401, "{form}");
        }
        // Mallory's row given the victim's DID and sealed key, to sign as the victim.
        let (did, sealed) = {
            let row = crate::support::peek(
                &server,
                "SELECT did, sealed_key FROM wallet_principals WHERE id = $1",
                &[&victim],
            )
            .await
            .unwrap();
            (row[0].clone(), row[1].clone())
        };
        let moved = "UPDATE wallet_principals SET did = 'did:key:moved' WHERE id = $1";
        tamper(&server, moved, &[&victim]).await;
        let take = "UPDATE wallet_principals SET did = $1, sealed_key = $2 WHERE id = $3";
        assert_eq!(tamper(&server, take, &[&did, &sealed, &mallory]).await, 1);
        assert_eq!(
            opens(&server, &mallory_token).await,
            401,
            "a token opens only the DID it was made for"
        );
        assert_eq!(opens(&server, &dave).await, 200, "the genuine stay open");

        // The root token's recorded form replaced by the bare hash of a token of the writer's
        // choosing: the node holding the real token refuses to start, and one without a copy
        // refuses to take the bare hash on faith.
        server.stop().await;
        let data = server.dir.path("data");
        let root = "UPDATE service_settings SET value = $1 WHERE name = 'root_token_hash'";
        assert_eq!(
            tamper(&server, root, &[&legacy_form("admin.chosen")]).await,
            1
        );
        let (code, message) = refused(
            serve_outcome(&backend, &data, &["--public-url", &server.url], &[], None).await,
        );
        assert_eq!(code, "admin_token_mismatch", "{message}");
        std::fs::remove_file(data.join("admin.token")).unwrap();
        let (code, message) = refused(
            serve_outcome(&backend, &data, &["--public-url", &server.url], &[], None).await,
        );
        assert_eq!(code, "legacy_root_token", "{message}");
        // An operator's stored form copied into the root's setting opens nothing either.
        tamper(&server, root, &[&dave_form]).await;
        server.restart().await;
        assert_eq!(opens(&server, &server.admin_token).await, 401);
        assert_eq!(opens(&server, &format!("admin.{dave_secret}")).await, 401);
        assert_eq!(opens(&server, &dave).await, 200);

        // The root's setting deleted: a node with no copy of the token refuses to mint a root
        // of its own (which no other node would accept); one given the token records it again.
        server.stop().await;
        let gone = "DELETE FROM service_settings WHERE name = 'root_token_hash'";
        assert_eq!(tamper(&server, gone, &[]).await, 1);
        let (code, message) = refused(
            serve_outcome(&backend, &data, &["--public-url", &server.url], &[], None).await,
        );
        assert_eq!(code, "root_token_missing", "{message}");
        assert!(
            !data.join("admin.token").exists(),
            "a refused start writes nothing"
        );
        let root = server.admin_token.clone();
        server.restart_with(&["--admin-token", &root]).await;
        assert_eq!(opens(&server, &root).await, 200);
    }
}

/// Stores `server`'s tokens as an earlier release did (bare SHA-256): operator `dave`'s, the
/// principal `id`'s, and the root's if given.
async fn store_bare(server: &Server, dave: &str, (id, token): (&str, &str), root: Option<&str>) {
    use agentid_store::tokens::legacy_form;
    let op = "UPDATE service_operators SET token_hash = $1 WHERE name = 'dave'";
    assert_eq!(tamper(server, op, &[&legacy_form(dave)]).await, 1);
    let p = "UPDATE wallet_principals SET token_hash = $1 WHERE id = $2";
    assert_eq!(tamper(server, p, &[&legacy_form(token), id]).await, 1);
    if let Some(root) = root {
        let r = "UPDATE service_settings SET value = $1 WHERE name = 'root_token_hash'";
        assert_eq!(tamper(server, r, &[&legacy_form(root)]).await, 1);
    }
}

/// A node of an earlier release stored tokens as bare SHA-256. At the start that upgrades it (it
/// has a kept checkpoint but no `tokens-keyed` marker) it converts them to the keyed form, and
/// every token keeps working, the root's even on a node with no copy of it; from then on a bare
/// hash in the database is refused. On both backends.
#[tokio::test]
async fn an_upgrading_node_converts_its_bare_token_hashes() {
    for backend in backends().await {
        let mut server = Server::start(&backend).await;
        let dave = operator(&server, "dave").await;
        let (id, token) = principal(&server).await;
        let root = server.admin_token.clone();
        let data = server.dir.path("data");
        assert!(data.join("tokens-keyed").exists());

        server.stop().await;
        store_bare(&server, &dave, (&id, &token), Some(&root)).await;
        std::fs::remove_file(data.join("tokens-keyed")).unwrap();
        std::fs::remove_file(data.join("admin.token")).unwrap();
        server.restart().await;
        for t in [&dave, &token, &root] {
            assert_eq!(opens(&server, t).await, 200, "converted: {t}");
        }
        for (sql, bind) in [
            (
                "SELECT token_hash FROM service_operators WHERE name = 'dave'",
                None,
            ),
            (
                "SELECT token_hash FROM wallet_principals WHERE id = $1",
                Some(id.as_str()),
            ),
            (
                "SELECT value FROM service_settings WHERE name = 'root_token_hash'",
                None,
            ),
        ] {
            let binds: Vec<&str> = bind.into_iter().collect();
            let form = crate::support::peek(&server, sql, &binds)
                .await
                .unwrap()
                .remove(0);
            assert!(form.starts_with("k1."), "{sql}: {form}");
        }
        assert!(data.join("tokens-keyed").exists());

        // Upgraded: a bare hash written since opens nothing.
        server.stop().await;
        store_bare(&server, &dave, (&id, &token), None).await;
        server.restart().await;
        assert_eq!(opens(&server, &dave).await, 401);
        assert_eq!(opens(&server, &token).await, 401);
        assert_eq!(opens(&server, &root).await, 200);
    }
}
