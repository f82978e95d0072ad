//! Configuration, in one place: every setting of `agentid serve` and of the verifier, read from
//! flags and the environment by clap, with defaults taken from the code's own `Default`s. The
//! README's configuration table documents this file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use agentid_sdk::verify::Limits;
use clap::Args;

/// How to run the service.
#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "AGENTID_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the SQLite database, the master key and the admin token.
    #[arg(long, env = "AGENTID_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Store in PostgreSQL instead (postgres://...).
    #[arg(long, env = "AGENTID_DATABASE_URL")]
    pub database_url: Option<String>,
    /// URL clients reach this service at (default http://LISTEN, the --listen address).
    #[arg(long, env = "AGENTID_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Let /v1/verify fetch status lists from this origin too (repeat); by default only this
    /// service's own, which it reads in memory.
    #[arg(long = "allow-status-origin")]
    pub allow_status_origins: Vec<String>,
    /// Trust agents resolved through the registry at this URL too (repeat); this service's own
    /// registry is always trusted.
    #[arg(
        long = "trust-registry",
        env = "AGENTID_TRUST_REGISTRIES",
        value_delimiter = ','
    )]
    pub trust_registries: Vec<String>,
    /// Trust spend authorizations signed by the wallet with this DID too (repeat); this
    /// service's own wallet is always trusted.
    #[arg(
        long = "trust-wallet",
        env = "AGENTID_TRUST_WALLETS",
        value_delimiter = ','
    )]
    pub trust_wallets: Vec<String>,
    /// Accept agents identified by a bare did:key, which no registry vouches for and nobody can
    /// deplatform.
    #[arg(long, env = "AGENTID_ALLOW_DID_KEY_AGENTS")]
    pub allow_did_key_agents: bool,
    /// How long a spend hold lasts unless the merchant captures it, in seconds.
    #[arg(long, env = "AGENTID_HOLD_SECS", default_value_t = 900)]
    pub hold_secs: i64,
    /// How long a purchase above the delegation's approval threshold waits for the principal,
    /// in seconds.
    #[arg(long, env = "AGENTID_APPROVAL_SECS", default_value_t = 600)]
    pub approval_secs: i64,
    /// How long a deactivated agent's name stays bound to it before another agent may register
    /// it, in seconds (default 30 days).
    #[arg(long, env = "AGENTID_NAME_GRACE_SECS", default_value_t = agentid_registry::DEFAULT_NAME_GRACE_SECS)]
    pub name_grace_secs: i64,
    /// How long resolution answers are served from memory, in seconds (0 to 60; 0: the
    /// database every time). Changes made through this process, or announced by the
    /// PostgreSQL change feed, clear them at once.
    #[arg(long, env = "AGENTID_RESOLUTION_CACHE_SECS", default_value_t = 5)]
    pub resolution_cache_secs: i64,
    /// The DNS server that proves DNS zone claims (`_agentid.<domain>` TXT records), as
    /// `IP:PORT`; default: the system's resolvers (/etc/resolv.conf). `off` refuses DNS claims.
    #[arg(long, env = "AGENTID_DNS_SERVER")]
    pub dns_server: Option<String>,
    /// Writes that create (agents, principals, sub-delegations) allowed per second per client.
    #[arg(long, env = "AGENTID_WRITE_RATE", default_value_t = 10)]
    pub write_rate: u32,
    /// How many such writes a client may make at once before the rate applies.
    #[arg(long, env = "AGENTID_WRITE_BURST", default_value_t = 60)]
    pub write_burst: u32,
    /// Most live nonces the `/v1/verify` requests of one client (an address; IPv6 by its /64)
    /// record in the replay memory, on this node: a client over it is `nonce_memory_full`, and
    /// filling the whole memory (`--max-nonces`) takes that many addresses over this.
    #[arg(long, env = "AGENTID_MAX_NONCES_PER_CLIENT", default_value_t = crate::nonces::DEFAULT_MAX_NONCES_PER_CLIENT)]
    pub max_nonces_per_client: usize,
    /// Most client connections open at once; lowered at start to fit under the open-file limit
    /// (raised to its hard limit) less what the service keeps for its own files. At the cap, a
    /// new connection closes the least recently active one.
    #[arg(long, env = "AGENTID_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most event streams (`GET /v1/events`) open at once; never more than half the
    /// connections. More are 429 `rate_limited`.
    #[arg(long, env = "AGENTID_MAX_EVENT_STREAMS", default_value_t = 1024)]
    pub max_event_streams: usize,
    /// A request's head must arrive within this many seconds, else the connection is closed.
    #[arg(long, env = "AGENTID_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// A request's body must arrive within this many seconds of its head, else 408
    /// `request_timeout` and the connection is closed.
    #[arg(long, env = "AGENTID_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Start even though the log no longer extends the checkpoint kept in
    /// DATA_DIR/log-checkpoint.jws (a database restored from an older backup): logged.
    #[arg(long, env = "AGENTID_ACCEPT_RESTORED_LOG")]
    pub accept_restored_log: bool,
    /// Seal these log entries (numbers, comma-separated), which carry no seal of this service
    /// that verifies, on your word that this service wrote them: read them first (the start
    /// lists them at WARN). Each must be what its hash says and follow the entry before it.
    #[arg(long, env = "AGENTID_SEAL_LOG_ENTRIES", value_delimiter = ',')]
    pub seal_log_entries: Vec<u64>,
    /// Drop the log's entries from this number on, when none of them carries this service's
    /// seal (entries written behind its back end the log and stop every write); logged. Implies
    /// --accept-restored-log for the shortened log.
    #[arg(long, env = "AGENTID_DROP_LOG_ENTRIES_FROM")]
    pub drop_log_entries_from: Option<u64>,
    /// A connection with nothing read or written for this many seconds is closed (2 or more;
    /// event streams write a comment line every third of it, at most every 15 s).
    #[arg(long, env = "AGENTID_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// The master key sealing principals' keys, base64url (default: DATA_DIR/master.key,
    /// created on first start). Prefer the environment or a file to the command line.
    #[arg(long, env = "AGENTID_MASTER_KEY", hide_env_values = true, hide = true)]
    pub master_key: Option<String>,
    /// Read the master key from this file (kept outside the data directory, so that a copy of
    /// the data directory alone unseals nothing); nothing is written to the data directory.
    #[arg(
        long,
        env = "AGENTID_MASTER_KEY_FILE",
        conflicts_with_all = ["master_key", "master_key_fd"]
    )]
    pub master_key_file: Option<PathBuf>,
    /// Read the master key from this inherited file descriptor (e.g. `3<key-file`, or a pipe
    /// from a secret manager); nothing is written to the data directory.
    #[arg(long, env = "AGENTID_MASTER_KEY_FD", conflicts_with = "master_key")]
    pub master_key_fd: Option<u32>,
    /// Record --public-url as the database's public URL, replacing the one recorded at first
    /// start. Every delegation, status list URL and spend authorization issued under the old URL
    /// names it: they stop verifying (status_unavailable, an untrusted wallet) and must be
    /// issued again.
    #[arg(long, env = "AGENTID_MOVE_PUBLIC_URL")]
    pub move_public_url: bool,
    /// The root operator's admin token (default: DATA_DIR/admin.token, created by the first
    /// node to start on the database; its hash is recorded there and every node accepts it).
    #[arg(long, env = "AGENTID_ADMIN_TOKEN", hide_env_values = true, hide = true)]
    pub admin_token: Option<String>,
    /// The limits of `/v1/verify`.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Longest timeout of a connection, in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

impl ServeConfig {
    /// The connection timeouts, checked: each 1 to [`MAX_TIMEOUT_SECS`] seconds, the idle
    /// timeout at least 2 (so that an event stream's comment line, every third of it, comes
    /// well within it). The cap is filled in at start, from the open-file limit.
    pub fn timeouts(&self) -> Result<(Duration, Duration, Duration), String> {
        let secs = |name: &str, v: u64, min: u64| {
            if (min..=MAX_TIMEOUT_SECS).contains(&v) {
                Ok(Duration::from_secs(v))
            } else {
                Err(format!("--{name} must be {min} to {MAX_TIMEOUT_SECS}"))
            }
        };
        Ok((
            secs("header-timeout-secs", self.header_timeout_secs, 1)?,
            secs("body-timeout-secs", self.body_timeout_secs, 1)?,
            secs("idle-timeout-secs", self.idle_timeout_secs, 2)?,
        ))
    }

    /// Defaults for a service on `listen` keeping its data in `data_dir`, as if given no flags.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            database_url: None,
            public_url: None,
            allow_status_origins: Vec::new(),
            trust_registries: Vec::new(),
            trust_wallets: Vec::new(),
            allow_did_key_agents: false,
            hold_secs: 900,
            approval_secs: 600,
            name_grace_secs: agentid_registry::DEFAULT_NAME_GRACE_SECS,
            resolution_cache_secs: 5,
            dns_server: None,
            write_rate: 10,
            write_burst: 60,
            max_nonces_per_client: crate::nonces::DEFAULT_MAX_NONCES_PER_CLIENT,
            max_connections: 10_000,
            max_event_streams: 1024,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            idle_timeout_secs: 60,
            accept_restored_log: false,
            seal_log_entries: Vec::new(),
            drop_log_entries_from: None,
            master_key: None,
            master_key_file: None,
            master_key_fd: None,
            move_public_url: false,
            admin_token: None,
            limits: LimitArgs::default(),
        }
    }
}

/// The verifier's limits that can be set from the command line; the others keep
/// [`Limits::default`].
#[derive(Args, Clone, Debug)]
pub struct LimitArgs {
    /// Allowed clock skew in seconds.
    #[arg(long, default_value_t = Limits::default().clock_skew_secs)]
    pub clock_skew: i64,
    /// Refresh a cached status list once older than this many seconds.
    #[arg(long, default_value_t = Limits::default().status_refresh_secs)]
    pub status_refresh: i64,
    /// Never use a status list older than this many seconds (fail closed).
    #[arg(long, default_value_t = Limits::default().status_max_staleness_secs)]
    pub status_max_staleness: i64,
    /// Refresh a cached DID resolution once older than this many seconds.
    #[arg(long, default_value_t = Limits::default().did_refresh_secs)]
    pub did_refresh: i64,
    /// Never use a DID resolution older than this many seconds.
    #[arg(long, default_value_t = Limits::default().did_max_staleness_secs)]
    pub did_max_staleness: i64,
    /// Answer an unknown DID as unknown from cache for this many seconds (negative caching).
    #[arg(long, default_value_t = Limits::default().did_negative_secs)]
    pub did_negative: i64,
    /// Most live nonces remembered for replay detection; a full memory refuses
    /// (`nonce_memory_full`).
    #[arg(long, default_value_t = Limits::default().max_nonces)]
    pub max_nonces: usize,
    /// Most live nonces remembered for one merchant that it did not issue (on this node).
    #[arg(long, default_value_t = Limits::default().max_nonces_per_merchant)]
    pub max_nonces_per_merchant: usize,
    /// Most live nonces remembered for one agent, at every merchant together (on this node).
    #[arg(long, default_value_t = Limits::default().max_nonces_per_agent)]
    pub max_nonces_per_agent: usize,
}

impl Default for LimitArgs {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            clock_skew: l.clock_skew_secs,
            status_refresh: l.status_refresh_secs,
            status_max_staleness: l.status_max_staleness_secs,
            did_refresh: l.did_refresh_secs,
            did_max_staleness: l.did_max_staleness_secs,
            did_negative: l.did_negative_secs,
            max_nonces: l.max_nonces,
            max_nonces_per_merchant: l.max_nonces_per_merchant,
            max_nonces_per_agent: l.max_nonces_per_agent,
        }
    }
}

impl From<&LimitArgs> for Limits {
    fn from(a: &LimitArgs) -> Limits {
        Limits {
            clock_skew_secs: a.clock_skew,
            status_refresh_secs: a.status_refresh,
            status_max_staleness_secs: a.status_max_staleness,
            did_refresh_secs: a.did_refresh,
            did_max_staleness_secs: a.did_max_staleness,
            did_negative_secs: a.did_negative,
            max_nonces: a.max_nonces,
            max_nonces_per_merchant: a.max_nonces_per_merchant,
            max_nonces_per_agent: a.max_nonces_per_agent,
            ..Limits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line's defaults are the library's.
    #[test]
    fn defaults_come_from_the_code() {
        assert_eq!(Limits::from(&LimitArgs::default()), Limits::default());
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            limits: LimitArgs,
        }
        let parsed = <Cli as clap::Parser>::parse_from(["agentid"]);
        assert_eq!(Limits::from(&parsed.limits), Limits::default());
    }
}
