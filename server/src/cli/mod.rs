//! The `agentid` command line. Every command prints JSON on stdout; failures print a JSON error
//! on stdout and a message on stderr and exit 2; a rejected verification prints the decision and
//! exits 1.

mod agent;
mod commands;
mod delegation;
mod moderation;
mod spend;
mod wallet;
mod zone;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::config::{LimitArgs, ServeConfig};

/// agentid: the trust layer that lets AI agents transact.
#[derive(Parser, Debug)]
#[command(name = "agentid", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Base URL of the agentid service (registry, wallet, verifier).
    #[arg(
        long,
        global = true,
        env = "AGENTID_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) server: String,

    /// The passphrase that encrypts key files (JWE, PBES2-HS512+A256KW).
    #[arg(
        long,
        global = true,
        env = "AGENTID_KEY_PASSPHRASE",
        hide_env_values = true,
        hide = true
    )]
    pub(crate) key_passphrase: Option<String>,

    /// Log filter for stderr, e.g. `info` or `agentid=debug` (default: `info` when serving,
    /// `warn` otherwise).
    #[arg(long, global = true, env = "AGENTID_LOG")]
    pub(crate) log: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run the service: registry, wallet, status lists, resolution and verification.
    Serve(ServeConfig),
    /// Create and inspect Ed25519 keys (files encrypted under AGENTID_KEY_PASSPHRASE, mode 0600).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Register, deactivate and inspect agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Principal accounts in the wallet.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Issue a delegation credential from the principal to an agent.
    Delegate(DelegateArgs),
    /// As an agent, pass a narrower part of your delegation to a sub-agent (signed with your
    /// key; the wallet checks it narrows yours).
    Subdelegate(SubdelegateArgs),
    /// Build a checkout presentation, signed by the agent.
    Present(PresentArgs),
    /// Suspend a delegation: no new purchases until it is reinstated.
    Suspend(DelegationArg),
    /// Reinstate a suspended delegation.
    Reinstate(DelegationArg),
    /// Capture or release a spend hold as the merchant.
    Settle(SettleArgs),
    /// Verify a checkout presentation as a merchant (exit 1 when rejected).
    Verify(VerifyArgs),
    /// As a merchant, issue a checkout nonce signed with your did:key: no one else can make one,
    /// so others' checkouts never fill the replay memory's room for yours.
    Nonce(NonceArgs),
    /// Revoke a delegation credential.
    Revoke(RevokeArgs),
    /// Deplatform an agent (registry operator).
    Deplatform(DeplatformArgs),
    /// Suspend an agent for a time, or reinstate it (registry operator).
    #[command(subcommand)]
    Moderate(ModerateCommand),
    /// Manage named operators (moderators); the root operator's admin token is needed.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Zones: claim one, delegate sub-zones, name agents in it and moderate them (each an
    /// operation signed with the zone owner's key).
    #[command(subcommand)]
    Zone(ZoneCommand),
    /// Resolve a DID or agent name to its DID Resolution Result.
    Resolve(ResolveArgs),
    /// Check the registry's transparency log.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum LogCommand {
    /// Check the current signed checkpoint (its signature under a key of the service's DID
    /// document), and: that the log still extends a checkpoint saved earlier (--saved), that an
    /// entry is in it (--seq), or that every entry recomputes to its root (--audit). Exit 1
    /// when anything does not hold.
    Verify(LogVerifyArgs),
    /// Keep a verified mirror of the log in a directory: read the event stream from where the
    /// mirror stops, check that each entry chains to the one before and that the mirror's tree
    /// has the root of every signed checkpoint, and append. Exits 1 with log_inconsistent when
    /// the service's log does not extend the mirror.
    Mirror(LogMirrorArgs),
}

#[derive(Args, Debug)]
pub(crate) struct LogMirrorArgs {
    /// The mirror: entries.jsonl (canonical public entries) and checkpoint.jwt.
    #[arg(long)]
    pub(crate) dir: std::path::PathBuf,
    /// Keep following after catching up (until interrupted).
    #[arg(long)]
    pub(crate) follow: bool,
}

#[derive(Args, Debug)]
pub(crate) struct LogVerifyArgs {
    /// A checkpoint saved earlier (by --save): the log must extend it.
    #[arg(long)]
    pub(crate) saved: Option<std::path::PathBuf>,
    /// An entry (its seq, from 1) whose inclusion in the current log to check.
    #[arg(long)]
    pub(crate) seq: Option<u64>,
    /// Fetch every entry, recompute every leaf and the root, and compare with the checkpoint.
    #[arg(long)]
    pub(crate) audit: bool,
    /// Save the current checkpoint (once verified) to this file.
    #[arg(long)]
    pub(crate) save: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Generate a key and write it as a private JWK file (mode 0600).
    Generate {
        /// Where to write the key (a JWE encrypted under AGENTID_KEY_PASSPHRASE).
        #[arg(long)]
        out: PathBuf,
        /// Write the private key as a plaintext JWK instead (mode 0600 still).
        #[arg(long)]
        unencrypted: bool,
    },
    /// Show a key's public parts.
    Show {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AgentCommand {
    /// Register an agent with a genesis operation signed by its rotation key.
    Register {
        /// The agent's signing key (verification method key-1).
        #[arg(long)]
        key: PathBuf,
        /// The rotation key that signs operations (default: the signing key).
        #[arg(long)]
        rotation_key: Option<PathBuf>,
        /// A name to claim, e.g. shopper.alice.
        #[arg(long)]
        name: Option<String>,
    },
    /// Deactivate an agent, permanently, with its rotation key.
    Deactivate {
        /// The agent's DID.
        #[arg(long)]
        did: String,
        /// The rotation key.
        #[arg(long)]
        key: PathBuf,
    },
    /// Change an agent's keys or services with an operation signed by a rotation key; with
    /// --prev, recover: undo the operations after that one (a higher-priority key, within 72
    /// hours). What is not given stays as it is (was, at --prev). The agent's history is
    /// replayed and checked first.
    Update {
        /// The agent's DID.
        #[arg(long)]
        did: String,
        /// The rotation key that signs the operation (a key file).
        #[arg(long)]
        key: PathBuf,
        /// The new signing keys, key-1, key-2, ... in order (key files or did:key).
        #[arg(long = "signing-key")]
        signing_keys: Vec<String>,
        /// The new rotation keys, highest priority first (key files or did:key).
        #[arg(long = "rotation-key")]
        rotation_keys: Vec<String>,
        /// A service, FRAGMENT=TYPE=URL (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Remove every service.
        #[arg(long, conflicts_with = "services")]
        no_services: bool,
        /// Recover from this operation (its versionId): the operations after it are undone.
        #[arg(long)]
        prev: Option<String>,
    },
    /// Show an agent's operations, replayed and checked from its genesis: its keys, services
    /// and which operations are in force.
    History {
        /// The agent's DID.
        #[arg(long)]
        did: String,
    },
    /// Show an agent's log of operations and decisions.
    Log {
        /// The agent's DID.
        #[arg(long)]
        did: String,
    },
}

#[derive(Args, Debug)]
pub(crate) struct TokenArg {
    /// The principal's bearer token.
    #[arg(long, env = "AGENTID_TOKEN", hide_env_values = true)]
    pub(crate) token: String,
}

#[derive(Subcommand, Debug)]
pub(crate) enum WalletCommand {
    /// Create a principal account: a key, a did:key and a bearer token (shown once).
    Create,
    /// Show the principal.
    Show(TokenArg),
    /// List the principal's delegations.
    List(TokenArg),
    /// Show what is left of a delegation's budget.
    Budget {
        #[command(flatten)]
        token: TokenArg,
        /// The credential id (urn:uuid:...).
        #[arg(long)]
        credential_id: String,
    },
    /// List the purchases waiting for your approval (step-up).
    Approvals(TokenArg),
    /// Approve a purchase waiting for approval: the wallet signs its one-time authorization.
    Approve {
        #[command(flatten)]
        token: TokenArg,
        /// The hold id.
        #[arg(long)]
        hold: String,
    },
    /// Deny a purchase waiting for approval.
    Deny {
        #[command(flatten)]
        token: TokenArg,
        /// The hold id.
        #[arg(long)]
        hold: String,
    },
    /// List the holds on a delegation: held, captured, released, expired.
    Holds {
        #[command(flatten)]
        token: TokenArg,
        /// The credential id (urn:uuid:...).
        #[arg(long)]
        credential_id: String,
    },
}

/// What a delegation grants, on the command line: where, how much, how long, how deep. For a
/// sub-delegation every member must be within the parent's (spec 6.4); the lists and the
/// validity default to the parent's there.
#[derive(Args, Debug)]
pub(crate) struct GrantArgs {
    /// A merchant DID the agent may buy from (repeat; omit for any merchant, or for the
    /// parent's in a sub-delegation).
    #[arg(long = "merchant")]
    pub(crate) merchants: Vec<String>,
    /// A purchase category the agent may buy in (repeat; omit for any category, or for the
    /// parent's in a sub-delegation).
    #[arg(long = "category")]
    pub(crate) categories: Vec<String>,
    /// ISO 4217 currency of the limit.
    #[arg(long)]
    pub(crate) currency: String,
    /// Largest single purchase, in minor units (cents).
    #[arg(long)]
    pub(crate) per_transaction: u64,
    /// Largest total, in minor units.
    #[arg(long)]
    pub(crate) total: u64,
    /// Also a budget per calendar period (UTC): day, week or month.
    #[arg(long, value_parser = ["day", "week", "month"], requires = "per_period")]
    pub(crate) period: Option<String>,
    /// The budget per period, in minor units.
    #[arg(long, requires = "period")]
    pub(crate) per_period: Option<u64>,
    /// Purchases above this amount wait for the principal's approval (step-up).
    #[arg(long)]
    pub(crate) approval_above: Option<u64>,
    /// End of validity, RFC 3339 (in a sub-delegation: no later than the parent's, and the
    /// parent's by default).
    #[arg(long, conflicts_with = "valid_for")]
    pub(crate) valid_until: Option<String>,
    /// Validity from now, e.g. 7d, 12h, 30m.
    #[arg(long)]
    pub(crate) valid_for: Option<String>,
    /// How many sub-delegations may follow this one (0 to 3; below the parent's in a
    /// sub-delegation).
    #[arg(long, default_value_t = 0)]
    pub(crate) max_depth: u8,
}

#[derive(Args, Debug)]
pub(crate) struct DelegateArgs {
    #[command(flatten)]
    pub(crate) token: TokenArg,
    /// The agent's DID.
    #[arg(long)]
    pub(crate) agent: String,
    #[command(flatten)]
    pub(crate) grant: GrantArgs,
    /// Also write the credential (vc+jwt) to this file.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct SubdelegateArgs {
    /// The delegating agent's signing key.
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The delegating agent's DID.
    #[arg(long = "as")]
    pub(crate) agent: String,
    /// Fragment of the signing key's verification method.
    #[arg(long, default_value = "key-1")]
    pub(crate) key_fragment: String,
    /// The delegating agent's own delegation (the parent): a file, or the vc+jwt itself.
    #[arg(long)]
    pub(crate) credential: String,
    /// The sub-agent's DID.
    #[arg(long)]
    pub(crate) to: String,
    #[command(flatten)]
    pub(crate) grant: GrantArgs,
    /// Also write the credential (vc+jwt) to this file.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct PresentArgs {
    /// The agent's signing key.
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The agent's DID.
    #[arg(long)]
    pub(crate) agent: String,
    /// Fragment of the signing key's verification method.
    #[arg(long, default_value = "key-1")]
    pub(crate) key_fragment: String,
    /// The delegation credential: a file, or the vc+jwt itself. A sub-agent repeats it for
    /// its chain: the principal's delegation first, its own last.
    #[arg(long, required = true)]
    pub(crate) credential: Vec<String>,
    /// The merchant's DID (audience).
    #[arg(long)]
    pub(crate) merchant: String,
    /// The merchant's nonce.
    #[arg(long)]
    pub(crate) nonce: String,
    /// Amount in minor units.
    #[arg(long)]
    pub(crate) amount: u64,
    /// ISO 4217 currency.
    #[arg(long)]
    pub(crate) currency: String,
    /// The order document whose SHA-256 binds the presentation.
    #[arg(long, conflicts_with = "order_hash")]
    pub(crate) order: Option<PathBuf>,
    /// The order hash, if computed elsewhere (base64url SHA-256).
    #[arg(long)]
    pub(crate) order_hash: Option<String>,
    /// Purchase category.
    #[arg(long)]
    pub(crate) category: Option<String>,
    /// Seconds until the presentation expires.
    #[arg(long, default_value_t = agentid_sdk::present::DEFAULT_LIFETIME_SECS)]
    pub(crate) lifetime: i64,
    /// Also write the presentation (vp+jwt) to this file.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Only sign the spend request (a presentation without the wallet's authorization); do
    /// not ask the wallet to hold the amount.
    #[arg(long)]
    pub(crate) request_only: bool,
    /// Idempotency-Key for the wallet's authorization (a retry with the same key never holds
    /// twice).
    #[arg(long)]
    pub(crate) idempotency_key: Option<String>,
    /// Seconds to wait for the principal when the purchase needs approval.
    #[arg(long, default_value_t = 120)]
    pub(crate) wait: u64,
}

#[derive(Args, Debug)]
pub(crate) struct SettleArgs {
    /// Capture (the order shipped) or release (the order was cancelled).
    #[arg(value_parser = ["capture", "release"])]
    pub(crate) action: String,
    /// The hold id.
    #[arg(long)]
    pub(crate) hold: String,
    /// The merchant's signing key.
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The merchant's DID (default: the key's did:key).
    #[arg(long)]
    pub(crate) merchant: Option<String>,
    /// Fragment of the merchant's verification method, when --merchant is not a did:key.
    #[arg(long, default_value = "key-1")]
    pub(crate) key_fragment: String,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The presentation: a file, or the vp+jwt itself.
    #[arg(long)]
    pub(crate) presentation: String,
    /// The merchant's DID.
    #[arg(long)]
    pub(crate) merchant: String,
    /// The nonce the merchant issued.
    #[arg(long)]
    pub(crate) nonce: String,
    /// Expected amount in minor units.
    #[arg(long)]
    pub(crate) amount: Option<u64>,
    /// Expected currency.
    #[arg(long)]
    pub(crate) currency: Option<String>,
    /// The order document (its hash must match).
    #[arg(long, conflicts_with = "order_hash")]
    pub(crate) order: Option<PathBuf>,
    /// Expected order hash.
    #[arg(long)]
    pub(crate) order_hash: Option<String>,
    /// The merchant's category for this purchase.
    #[arg(long)]
    pub(crate) category: Option<String>,
    /// Ask the service's /v1/verify endpoint instead of verifying in-process with the SDK.
    #[arg(long)]
    pub(crate) remote: bool,
    /// Also fetch status lists from this origin (repeat); by default only the server's.
    #[arg(long = "allow-status-origin")]
    pub(crate) allow_status_origins: Vec<String>,
    /// Also trust spend authorizations from the wallet with this DID (repeat); the server's
    /// own wallet (the did:web of --url) is always trusted.
    #[arg(long = "trust-wallet")]
    pub(crate) trust_wallets: Vec<String>,
    /// Accept agents identified by a bare did:key.
    #[arg(long)]
    pub(crate) allow_did_key_agents: bool,
    #[command(flatten)]
    pub(crate) limits: LimitArgs,
}

#[derive(Args, Debug)]
pub(crate) struct NonceArgs {
    /// The merchant's key file (its did:key is the merchant DID presentations name).
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// How long the nonce is accepted, in seconds (at most 3600).
    #[arg(long, default_value_t = 600)]
    pub(crate) ttl_secs: i64,
}

#[derive(Args, Debug)]
pub(crate) struct DelegationArg {
    #[command(flatten)]
    pub(crate) token: TokenArg,
    /// The credential id (urn:uuid:...).
    #[arg(long)]
    pub(crate) credential_id: String,
}

#[derive(Args, Debug)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    pub(crate) token: TokenArg,
    /// The credential id (urn:uuid:...).
    #[arg(long)]
    pub(crate) credential_id: String,
    /// Why.
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct DeplatformArgs {
    /// The agent's DID.
    #[arg(long)]
    pub(crate) did: String,
    /// The operator's reason, recorded in the log and shown in resolution.
    #[arg(long)]
    pub(crate) reason: String,
    #[command(flatten)]
    pub(crate) admin: AdminTokenArg,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ZoneCommand {
    /// Claim a zone: a top-level name nobody holds, or a DNS domain whose
    /// `_agentid.<domain>` TXT record is `agentid-zone=<your did:key>`.
    Claim {
        /// The zone, e.g. acme or shop.example.com.
        #[arg(long)]
        zone: String,
        /// The owner's key file (it signs, and owns the zone).
        #[arg(long)]
        key: PathBuf,
    },
    /// Delegate a sub-zone to another owner, signed by the owner of the zone above it.
    Delegate {
        /// The sub-zone, e.g. alice.acme.
        #[arg(long)]
        zone: String,
        /// Its owner: a did:key or a key file.
        #[arg(long)]
        owner: String,
        /// The key file of the owner of the zone above.
        #[arg(long)]
        key: PathBuf,
    },
    /// As an agent, consent to be named in a zone by its owner (and so moderated by it):
    /// prints the consent the zone's owner binds the name with. Valid for 5 minutes.
    Consent {
        /// The name, e.g. shopper.acme.
        #[arg(long)]
        name: String,
        /// The agent's DID.
        #[arg(long)]
        did: String,
        /// The zone's owner: a did:key or a key file.
        #[arg(long)]
        zone_owner: String,
        /// The key file of one of the agent's rotation keys.
        #[arg(long)]
        key: PathBuf,
    },
    /// Bind a name in your zone to an agent (which has none), with the agent's consent.
    Bind {
        /// The name, e.g. shopper.acme.
        #[arg(long)]
        name: String,
        /// The agent's DID.
        #[arg(long)]
        did: String,
        /// The agent's consent (`agentid zone consent`).
        #[arg(long)]
        consent: String,
        /// The zone owner's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Remove a name in your zone from the agent it is bound to.
    Unbind {
        /// The name.
        #[arg(long)]
        name: String,
        /// The zone owner's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Suspend the agent named in your zone, for a time, with a reason code and a reason.
    Suspend {
        /// The agent's name in the zone.
        #[arg(long)]
        name: String,
        /// fraud, abuse, impersonation, compromised_key, spam, legal, policy or other.
        #[arg(long)]
        reason_code: String,
        /// The reason (in the log by its hash).
        #[arg(long)]
        reason: String,
        /// How long: 30s, 15m, 12h, 7d (at most 366d).
        #[arg(long = "for")]
        duration: String,
        /// base64url SHA-256 of the evidence.
        #[arg(long)]
        evidence_hash: Option<String>,
        /// The zone owner's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Deplatform the agent named in your zone.
    Deplatform {
        /// The agent's name in the zone.
        #[arg(long)]
        name: String,
        /// The reason (in the log by its hash).
        #[arg(long)]
        reason: String,
        /// The zone owner's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Reinstate the agent named in your zone (after your own decision).
    Reinstate {
        /// The agent's name in the zone.
        #[arg(long)]
        name: String,
        /// The reason (in the log by its hash).
        #[arg(long)]
        reason: String,
        /// The zone owner's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Show who owns a zone.
    Show {
        /// The zone.
        #[arg(long)]
        zone: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ModerateCommand {
    /// Suspend an agent: every credential it holds is refused (`agent_suspended`) until the
    /// suspension ends or it is reinstated.
    Suspend {
        /// The agent's DID.
        #[arg(long)]
        did: String,
        /// fraud, abuse, impersonation, compromised_key, spam, legal, policy or other.
        #[arg(long)]
        reason_code: String,
        /// The moderator's reason, recorded in the log (publicly by its hash) and shown in
        /// resolution.
        #[arg(long)]
        reason: String,
        /// How long: 30s, 15m, 12h, 7d (at most 366d).
        #[arg(long = "for")]
        duration: String,
        /// base64url SHA-256 of the evidence the decision rests on.
        #[arg(long)]
        evidence_hash: Option<String>,
        #[command(flatten)]
        admin: AdminTokenArg,
    },
    /// Reinstate a suspended or deplatformed agent.
    Reinstate {
        /// The agent's DID.
        #[arg(long)]
        did: String,
        /// The moderator's reason.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        admin: AdminTokenArg,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum OperatorCommand {
    /// Create a named operator; prints its token, shown this once.
    Add {
        /// 1 to 32 of a-z, 0-9 and -.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        admin: AdminTokenArg,
    },
    /// List the operator accounts.
    List {
        #[command(flatten)]
        admin: AdminTokenArg,
    },
    /// Revoke a named operator's token.
    Revoke {
        /// The operator.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        admin: AdminTokenArg,
    },
}

/// An operator's token: the root admin token or a named operator's.
#[derive(Args, Debug)]
pub(crate) struct AdminTokenArg {
    /// The operator token (the admin token, or a named operator's).
    #[arg(
        long,
        env = "AGENTID_ADMIN_TOKEN",
        hide_env_values = true,
        conflicts_with = "admin_token_file"
    )]
    pub(crate) admin_token: Option<String>,
    /// A file holding the admin token (default ./data/admin.token).
    #[arg(long)]
    pub(crate) admin_token_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct ResolveArgs {
    /// A did:agentid, did:key or agent name.
    pub(crate) id: String,
}

/// A failure: a stable code and a message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// What a command produced: JSON to print, and whether it counts as success.
pub(crate) struct Output {
    pub(crate) json: Value,
    pub(crate) ok: bool,
}

impl Output {
    pub(crate) fn ok(json: Value) -> Self {
        Self { json, ok: true }
    }
}

/// How much lower than the process's own priority `agentid serve` runs its HTTP workers (a
/// nice value). The threads that run database statements and commit the ledger's groups keep
/// the process's priority: on a busy machine, a group in flight, which every authorization of
/// the next group waits behind, is not queued behind the parsing of new requests.
#[cfg(target_os = "linux")]
const WORKER_NICE: i32 = 5;

/// Lowers the calling runtime thread's priority by [`WORKER_NICE`] (Linux; elsewhere nothing).
fn lower_worker_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        if let Ok(nice) = getpriority_process(me) {
            // Lowering one's own priority needs no privilege; a failure leaves it as it was.
            let _ = setpriority_process(me, nice.saturating_add(WORKER_NICE).min(19));
        }
    }
}

/// Runs the `agentid` command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let serve = matches!(cli.command, Command::Serve(_));
    init_tracing(serve, cli.log.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            if serve {
                lower_worker_priority();
            }
        })
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agentid: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(out) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&out.json).unwrap_or_default()
            );
            if out.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(f) => {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({ "error": { "code": f.code, "message": f.message } })
                )
                .unwrap_or_default()
            );
            eprintln!("agentid: {}: {}", f.code, f.message);
            ExitCode::from(2)
        }
    }
}

fn init_tracing(serve: bool, log: Option<&str>) {
    let default = if serve {
        "info,tower_http=warn,sqlx=warn"
    } else {
        "warn"
    };
    let filter = log
        .and_then(|l| tracing_subscriber::EnvFilter::try_new(l).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
