//! Starting real `agentid serve` processes and running the real CLI against them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where a server stores its data.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// The environment variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "AGENTID_TEST_POSTGRES_URL";

/// SQLite always; PostgreSQL too when `AGENTID_TEST_POSTGRES_URL` is set. A set but
/// unreachable server fails the test: it never silently skips.
pub async fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if let Ok(url) = std::env::var(PG_ENV) {
        v.push(Backend::Postgres(fresh_pg_database(&url).await));
    }
    v
}

/// Creates an empty database on the server at `url` and returns its URL.
async fn fresh_pg_database(url: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set to {url} but PostgreSQL is unreachable: {e}"));
    let name = format!("agentid_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// A connection to `server`'s database, as someone with access to it has behind the
/// service's back.
async fn database(server: &Server) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = match &server.backend {
        Backend::Sqlite => format!(
            "sqlite://{}",
            server.dir.path("data").join("agentid.db").display()
        ),
        Backend::Postgres(url) => url.clone(),
    };
    sqlx::AnyConnection::connect(&url).await.unwrap()
}

/// `sql` with `binds` (text).
fn query<'q>(
    sql: &'q str,
    binds: &[&'q str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    binds.iter().fold(sqlx::query(sql), |q, b| q.bind(*b))
}

/// Runs `sql` with `binds` (text) on `server`'s database, as someone with write access to it
/// could behind the service's back: the rows it changed.
pub async fn tamper(server: &Server, sql: &str, binds: &[&str]) -> u64 {
    let mut c = database(server).await;
    query(sql, binds)
        .execute(&mut c)
        .await
        .unwrap()
        .rows_affected()
}

/// The first row `sql` (whose columns are all text) reads from `server`'s database, as someone
/// with access to it could.
pub async fn peek(server: &Server, sql: &str, binds: &[&str]) -> Option<Vec<String>> {
    use sqlx::Row;
    let mut c = database(server).await;
    let row = query(sql, binds).fetch_optional(&mut c).await.unwrap()?;
    Some(
        (0..row.len())
            .map(|i| row.try_get::<String, _>(i).unwrap())
            .collect(),
    )
}

/// The `agentid` binary built by `cargo build --bin agentid`, next to this test binary's
/// directory.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("AGENTID_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("agentid");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bin agentid` first",
        bin.display()
    );
    bin
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("agentid-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `agentid serve` on 127.0.0.1 with a free port.
pub struct Server {
    child: Child,
    pub url: String,
    pub admin_token: String,
    pub backend: Backend,
    pub dir: Scratch,
    /// The line `agentid serve` printed when it started listening.
    pub info: Value,
}

impl Server {
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    pub async fn start_with(backend: &Backend, extra: &[&str]) -> Self {
        Self::start_with_env(backend, extra, &[]).await
    }

    /// [`Server::start_with`] with environment variables set for the process (e.g. a second
    /// node sharing the first one's master key).
    pub async fn start_with_env(backend: &Backend, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_in(backend, Scratch::new(), extra, env, None).await
    }

    /// [`Server::start_with`] under an open-file limit: `(soft, hard)`, set by the shell
    /// (`ulimit`) before it runs the binary.
    pub async fn start_with_open_files(
        backend: &Backend,
        extra: &[&str],
        open_files: (u64, u64),
    ) -> Self {
        Self::start_in(backend, Scratch::new(), extra, &[], Some(open_files)).await
    }

    async fn start_in(
        backend: &Backend,
        dir: Scratch,
        extra: &[&str],
        env: &[(&str, &str)],
        open_files: Option<(u64, u64)>,
    ) -> Self {
        let spawned = spawn(backend, &dir, "127.0.0.1:0", extra, env, open_files).await;
        Self {
            child: spawned.child,
            url: spawned.url,
            admin_token: spawned.admin_token,
            backend: backend.clone(),
            dir,
            info: spawned.info,
        }
    }

    /// A second node on `first`'s database, behind the same public URL, with its master key
    /// (given in the environment, not written to the new node's data directory) and
    /// `extra` flags: it accepts `first`'s admin token, of which it keeps no copy.
    pub async fn joining(first: &Server, extra: &[&str]) -> Self {
        let master = std::fs::read_to_string(first.dir.path("data").join("master.key")).unwrap();
        let mut flags = vec!["--public-url", first.url.as_str()];
        flags.extend_from_slice(extra);
        let mut b = Self::start_with_env(
            &first.backend,
            &flags,
            &[("AGENTID_MASTER_KEY", master.trim())],
        )
        .await;
        assert!(
            b.info["adminTokenFile"].is_null(),
            "a joining node writes no admin token: {}",
            b.info
        );
        assert!(
            !b.dir.path("data").join("master.key").exists(),
            "a master key given in the environment is not written to the data directory"
        );
        b.admin_token = first.admin_token.clone();
        b
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Kills the process (SIGKILL) and starts it again on the same address and data.
    pub async fn restart(&mut self) {
        self.restart_with(&[]).await;
    }

    /// [`Server::restart`] with `extra` flags.
    pub async fn restart_with(&mut self, extra: &[&str]) {
        self.stop().await;
        let listen = self.url.trim_start_matches("http://").to_owned();
        let spawned = spawn(&self.backend, &self.dir, &listen, extra, &[], None).await;
        (self.child, self.url, self.info) = (spawned.child, spawned.url, spawned.info);
    }

    /// [`Server::cli`] with owned arguments.
    pub async fn cli_owned(&self, args: &[String]) -> (i32, Value) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli(&args).await
    }

    /// Asks the server to stop (SIGTERM) and waits until it has; panics after 10 s.
    pub async fn terminate(&mut self) {
        let pid = self.child.id().expect("running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the server stops within 10 s of SIGTERM")
            .unwrap();
        assert!(exit.success(), "{exit:?}");
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The SDK's typed client for this server.
    pub fn client(&self) -> agentid_sdk::client::Client {
        agentid_sdk::client::Client::with_timeout(&self.url, Duration::from_secs(20)).unwrap()
    }

    pub fn http(&self) -> Http {
        Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: self.url.clone(),
        }
    }

    /// A client whose connections come from `local` (another loopback address: another
    /// client, as the server counts them).
    pub fn http_from(&self, local: std::net::IpAddr) -> Http {
        Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .local_address(local)
                .build()
                .unwrap(),
            base: self.url.clone(),
        }
    }

    /// Runs `agentid <args>` against this server; returns the exit code and stdout as JSON.
    pub async fn cli(&self, args: &[&str]) -> (i32, Value) {
        run_cli(&self.url, args, &[]).await
    }
}

pub async fn run_cli(server: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    run_cli_env(server, args, env).await
}

/// Runs the CLI with extra environment variables (set after the defaults, so they win).
pub async fn run_cli_env(server: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env("AGENTID_SERVER", server)
        .env_remove("AGENTID_TOKEN")
        .env("AGENTID_KEY_PASSPHRASE", PASSPHRASE)
        .env_remove("AGENTID_ADMIN_TOKEN")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("CLI finished within 60 s")
        .expect("run CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "agentid {args:?} printed non-JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// The passphrase the CLI encrypts key files with in these tests.
pub const PASSPHRASE: &str = "test passphrase, long enough";

/// Opens a key file the CLI wrote.
pub fn read_key(path: &Path) -> agentid_sdk::keys::KeyPair {
    let text = std::fs::read_to_string(path).expect("key file");
    agentid_server::keyfile::open(&text, Some(PASSPHRASE)).expect("key file opens")
}

/// A process `spawn` started.
struct Spawned {
    child: Child,
    url: String,
    admin_token: String,
    info: Value,
}

/// Starts `agentid serve` on `listen` with its data in `dir` (under the open-file limit
/// `(soft, hard)` if given); its process, the URL it listens at and the admin token.
async fn spawn(
    backend: &Backend,
    dir: &Scratch,
    listen: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    open_files: Option<(u64, u64)>,
) -> Spawned {
    let data = dir.path("data");
    let mut cmd = match open_files {
        None => Command::new(binary()),
        Some((soft, hard)) => {
            // The soft limit first: it may not exceed the hard one at any moment.
            let mut c = Command::new("bash");
            c.arg("-c")
                .arg(format!(
                    "ulimit -Sn {soft} && ulimit -Hn {hard} && exec \"$0\" \"$@\""
                ))
                .arg(binary());
            c
        }
    };
    cmd.arg("serve")
        .arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(&data)
        .args(extra)
        .env_remove("AGENTID_ADMIN_TOKEN")
        .env_remove("AGENTID_MASTER_KEY")
        .env_remove("AGENTID_DATABASE_URL")
        .env(
            "AGENTID_LOG",
            std::env::var("AGENTID_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Backend::Postgres(url) = backend {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd.spawn().expect("spawn agentid serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("agentid serve did not report its address within 60 s")
        .expect("read stdout")
        .expect("agentid serve exited before listening");
    let info: Value = serde_json::from_str(&first).expect("first line is JSON");
    // The address this process listens on (its public URL may be another node's).
    let url = format!("http://{}", info["listening"].as_str().expect("listening"));
    // A node joining a database another node set up keeps no copy of the root token: empty
    // here, the caller knows it (see `Server::joining`).
    let admin_token = info["adminTokenFile"]
        .as_str()
        .map(|f| {
            std::fs::read_to_string(f)
                .expect("admin token file")
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Spawned {
        child,
        url,
        admin_token,
        info,
    }
}

/// A JSON HTTP client for one server.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        decode(r).await
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    pub async fn get_auth(&self, path: &str, bearer: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("GET");
        decode(r).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        decode(req.send().await.expect("POST")).await
    }

    pub async fn post_with_header(
        &self,
        path: &str,
        header: (&str, &str),
        body: &Value,
    ) -> (u16, Value) {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header.0, header.1)
            .json(body);
        decode(req.send().await.expect("POST")).await
    }
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        decode(req.send().await.expect("POST")).await
    }
}

async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "HTTP {status} body is not JSON: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, json)
}

/// Asserts the uniform error shape and returns its code.
pub fn error_code(status: u16, body: &Value) -> String {
    assert!(
        (400..500).contains(&status),
        "expected 4xx, got {status}: {body}"
    );
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code in {body}"));
    assert!(
        body["error"]["message"].is_string(),
        "no error.message in {body}"
    );
    code.to_owned()
}

/// The codes of a decision.
pub fn codes(decision: &Value) -> Vec<String> {
    decision["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no reasons in {decision}"))
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// Runs the README's shell block after `<!-- {marker} -->` with bash, the `agentid` binary on the
/// `PATH` and `env` set; asserts it succeeded and answers what it printed.
pub async fn run_readme_block(marker: &str, env: &[(&str, &str)]) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let script = readme
        .split(&format!("<!-- {marker} -->"))
        .nth(1)
        .and_then(|after| after.split("```sh\n").nth(1))
        .and_then(|block| block.split("\n```").next())
        .unwrap_or_else(|| panic!("no {marker} block in README.md"));
    let bin_dir = binary().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .env("PATH", path)
        .env_remove("AGENTID_TOKEN")
        .env_remove("AGENTID_KEY_PASSPHRASE")
        .env_remove("AGENTID_SERVER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{marker} failed:\n{stdout}\n{stderr}");
    stdout
}

/// How `agentid serve` ended its start: the line it printed once listening (the process is
/// killed then), or its exit code and the error it printed.
pub async fn serve_outcome(
    backend: &Backend,
    data: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    wrapper: Option<&str>,
) -> Result<Value, (i32, Value)> {
    let mut cmd = match wrapper {
        None => Command::new(binary()),
        Some(script) => {
            let mut c = Command::new("bash");
            c.arg("-c").arg(script).arg(binary());
            c
        }
    };
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .env_remove("AGENTID_ADMIN_TOKEN")
        .env_remove("AGENTID_MASTER_KEY")
        .env_remove("AGENTID_DATABASE_URL")
        .env("AGENTID_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Backend::Postgres(url) = backend {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd.spawn().expect("spawn agentid serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if printed.is_empty() {
                if let Ok(info) = serde_json::from_str::<Value>(&line) {
                    if info.get("listening").is_some() {
                        return Some(info);
                    }
                }
            }
            printed.push_str(&line);
            printed.push('\n');
        }
        None
    };
    let started = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("agentid serve started or failed within 60 s");
    if let Some(info) = started {
        let _ = child.kill().await;
        return Ok(info);
    }
    let status = child.wait().await.expect("wait");
    let json = serde_json::from_str(&printed)
        .unwrap_or_else(|e| panic!("agentid serve printed non-JSON ({e}): {printed}"));
    Err((status.code().unwrap_or(-1), json))
}

/// A typed client call's outcome as the wire gave it: the status and the body (an answer, or
/// the service's `{"error": ...}`), for tests that assert on either.
pub fn answered<T: serde::Serialize>(
    r: Result<agentid_sdk::client::Answer<T>, agentid_sdk::client::ClientError>,
) -> (u16, Value) {
    use agentid_sdk::client::ClientError;
    match r {
        Ok(a) => (a.status, serde_json::to_value(a.value).unwrap()),
        Err(ClientError::Refused { status, detail }) => {
            (status, serde_json::json!({ "error": detail }))
        }
        Err(e) => panic!("the service did not answer: {e}"),
    }
}
