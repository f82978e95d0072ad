//! The commands.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentid_resolver::http::HttpSource;
use agentid_sdk::keys::KeyPair;
use agentid_sdk::present::order_hash;
use agentid_sdk::verify::{CheckoutContext, TrustPolicy, Verifier};
use agentid_spec::clock::{Clock, SystemClock};
use agentid_spec::credential::{Amount, Category, Currency};
use agentid_spec::id::{AgentDid, Did};
use agentid_spec::presentation::{Nonce, OrderHash};
use agentid_spec::time::format_rfc3339;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::{AdminTokenArg, Cli, Command, Failure, KeyCommand, Output};
use crate::config::ServeConfig;
use agentid_sdk::client::ClientError;

pub(crate) async fn run(cli: Cli) -> Result<Output, Failure> {
    let server = cli.server.clone();
    let pass = cli
        .key_passphrase
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new);
    let pass = pass.as_ref().map(|p| p.as_str());
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Key(cmd) => key(cmd, pass),
        Command::Agent(cmd) => super::agent::agent(&server, cmd, pass).await,
        Command::Zone(cmd) => super::zone::zone(&server, cmd, pass).await,
        Command::Wallet(cmd) => super::wallet::wallet(&server, cmd).await,
        Command::Delegate(args) => super::delegation::delegate(&server, args).await,
        Command::Subdelegate(args) => super::delegation::subdelegate(&server, args, pass).await,
        Command::Present(args) => super::spend::present_cmd(&server, args, pass).await,
        Command::Settle(args) => super::spend::settle_cmd(&server, args, pass).await,
        Command::Verify(args) => verify(&server, args).await,
        Command::Nonce(args) => issue_nonce(&args, pass),
        Command::Revoke(args) => super::wallet::revoke(&server, args).await,
        Command::Suspend(args) => super::wallet::suspension(&server, args, true).await,
        Command::Reinstate(args) => super::wallet::suspension(&server, args, false).await,
        Command::Operator(cmd) => super::moderation::operator(&server, cmd).await,
        Command::Deplatform(args) => super::moderation::deplatform(&server, args).await,
        Command::Moderate(cmd) => super::moderation::moderate(&server, cmd).await,
        Command::Log(super::LogCommand::Verify(args)) => refuted(log_verify(&server, args).await),
        Command::Log(super::LogCommand::Mirror(args)) => refuted(log_mirror(&server, args).await),
        Command::Resolve(args) => super::moderation::resolve(&server, args).await,
    }
}

async fn serve(config: ServeConfig) -> Result<Output, Failure> {
    let data_dir = config.data_dir.clone();
    let running = crate::start::start(config)
        .await
        .map_err(|e| Failure::new(e.code(), e.to_string()))?;
    // One line, before serving, so scripts and tests can read the address (port 0).
    println!(
        "{}",
        json!({
            "listening": running.addr.to_string(),
            "publicUrl": running.public_url,
            "dataDir": data_dir.display().to_string(),
            "adminTokenFile": running.admin_token_file.as_ref().map(|f| f.display().to_string()),
            "maxConnections": running.conn_limits.max_connections,
            "maxEventStreams": running.event_streams.max,
        })
    );
    tracing::info!(addr = %running.addr, "agentid serving");
    running
        .run()
        .await
        .map_err(|e| Failure::new("serve_failed", e.to_string()))?;
    Ok(Output::ok(json!({ "stopped": true })))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Failure::new("io_error", format!("{}: {e}", path.display())))
}

const PASSPHRASE_ENV: &str = "AGENTID_KEY_PASSPHRASE";

/// A public key given as a `did:key` or as a key file.
pub(super) fn public_key(
    value: &str,
    pass: Option<&str>,
) -> Result<agentid_spec::id::DidKey, Failure> {
    if value.starts_with("did:key:") {
        return agentid_spec::id::DidKey::parse(value)
            .map_err(|e| Failure::new("invalid_key", e.to_string()));
    }
    Ok(read_key(Path::new(value), pass)?.did_key())
}

/// The agent's operations from the registry, replayed and checked from the genesis.
pub(super) fn read_key(path: &Path, pass: Option<&str>) -> Result<KeyPair, Failure> {
    let text = Zeroizing::new(read_text(path)?);
    crate::keyfile::open(&text, pass).map_err(|e| {
        let code = match e {
            crate::keyfile::KeyFileError::NeedsPassphrase => "passphrase_required",
            crate::keyfile::KeyFileError::WrongPassphrase => "wrong_passphrase",
            _ => "invalid_key",
        };
        Failure::new(code, format!("{}: {e}", path.display()))
    })
}

pub(super) fn parse<T, E: std::fmt::Display>(code: &str, r: Result<T, E>) -> Result<T, Failure> {
    r.map_err(|e| Failure::new(code, e.to_string()))
}

/// A token given inline or as a file holding it.
pub(super) fn token_arg(arg: &str) -> Result<String, Failure> {
    let p = Path::new(arg);
    if arg.starts_with("ey") && arg.contains('.') && !p.exists() {
        return Ok(arg.to_owned());
    }
    read_text(p)
}

pub(super) fn write_out(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure::new("io_error", format!("{}: {e}", path.display())))
}

fn key(cmd: KeyCommand, pass: Option<&str>) -> Result<Output, Failure> {
    match cmd {
        KeyCommand::Generate { out, unencrypted } => {
            let key = KeyPair::generate();
            let text = if unencrypted {
                key.to_private_jwk()
            } else {
                let pass = pass.ok_or_else(|| {
                    Failure::new(
                        "passphrase_required",
                        format!(
                            "set {PASSPHRASE_ENV} to encrypt the key file, or pass --unencrypted"
                        ),
                    )
                })?;
                Zeroizing::new(
                    crate::keyfile::seal(&key, pass)
                        .map_err(|e| Failure::new("encryption_failed", e.to_string()))?,
                )
            };
            crate::start::write_private(&out, text.as_bytes())
                .map_err(|e| Failure::new("io_error", format!("{}: {e}", out.display())))?;
            let mut json = key_json(&key, Some(&out));
            json["encrypted"] = json!(!unencrypted);
            Ok(Output::ok(json))
        }
        KeyCommand::Show { key } => Ok(Output::ok(key_json(&read_key(&key, pass)?, Some(&key)))),
    }
}

/// `agentid nonce`: a nonce issued by the merchant whose key is in `args.key`.
fn issue_nonce(args: &super::NonceArgs, pass: Option<&str>) -> Result<Output, Failure> {
    use agentid_spec::nonce::MAX_ISSUED_NONCE_SECS;
    if !(1..=MAX_ISSUED_NONCE_SECS).contains(&args.ttl_secs) {
        return Err(Failure::new(
            "invalid_request",
            format!("--ttl-secs is 1 to {MAX_ISSUED_NONCE_SECS}"),
        ));
    }
    let key = read_key(&args.key, pass)?;
    let now = SystemClock.now();
    let (nonce, expires) = agentid_sdk::present::issued_nonce(&key, now, args.ttl_secs);
    Ok(Output::ok(json!({
        "nonce": nonce.as_str(),
        "merchant": key.did_key().as_str(),
        "expiresAt": agentid_spec::time::format_rfc3339(expires),
    })))
}

fn key_json(key: &KeyPair, file: Option<&Path>) -> Value {
    let did = key.did_key();
    json!({
        "did": did.as_str(),
        "publicKeyMultibase": did.multibase(),
        "publicKeyJwk": agentid_spec::jose::public_jwk(&key.public()),
        "file": file.map(|f| f.display().to_string()),
    })
}

/// `7d`, `12h`, `30m`, `45s` to seconds.
pub(super) fn parse_duration(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return None,
    };
    n.checked_mul(mult)
}

pub(super) fn order_hash_arg(
    order: Option<&Path>,
    hash: Option<&str>,
) -> Result<Option<OrderHash>, Failure> {
    match (order, hash) {
        (Some(p), _) => {
            Ok(Some(order_hash(&std::fs::read(p).map_err(|e| {
                Failure::new("io_error", format!("{}: {e}", p.display()))
            })?)))
        }
        (None, Some(h)) => parse("invalid_order_hash", OrderHash::parse(h)).map(Some),
        (None, None) => Ok(None),
    }
}

async fn verify(server: &str, args: super::VerifyArgs) -> Result<Output, Failure> {
    let presentation = token_arg(&args.presentation)?;
    let ctx = CheckoutContext {
        merchant: parse("invalid_did", Did::parse(&args.merchant))?,
        nonce: parse("invalid_nonce", Nonce::parse(&args.nonce))?,
        amount: args
            .amount
            .map(|a| {
                Amount::new(a)
                    .ok_or_else(|| Failure::new("invalid_amount", "amount must be positive"))
            })
            .transpose()?,
        currency: args
            .currency
            .as_deref()
            .map(|c| {
                Currency::parse(c)
                    .ok_or_else(|| Failure::new("invalid_currency", "use an ISO 4217 code"))
            })
            .transpose()?,
        order_hash: order_hash_arg(args.order.as_deref(), args.order_hash.as_deref())?,
        category: args
            .category
            .as_deref()
            .map(|c| parse("invalid_category", Category::parse(c)))
            .transpose()?,
    };
    let decision = if args.remote {
        let request = agentid_spec::api::VerifyRequest {
            presentation,
            merchant: ctx.merchant,
            nonce: ctx.nonce,
            amount: ctx.amount,
            currency: ctx.currency,
            order_hash: ctx.order_hash,
            category: ctx.category,
        };
        let answer = super::wallet::client(server)?.verify(&request).await?;
        serde_json::to_value(answer).map_err(|e| Failure::new("internal", e.to_string()))?
    } else {
        let mut source = HttpSource::new(server, Duration::from_secs(10))
            .map_err(|e| Failure::new("client_error", e.to_string()))?;
        for o in &args.allow_status_origins {
            source = source.allow_status_origin(o);
        }
        let mut policy = TrustPolicy::new()
            .trust_registry(server)
            .allow_did_key_agents(args.allow_did_key_agents);
        if let Some(own) = agentid_spec::id::did_web_for_url(server) {
            policy = policy.trust_wallet(own);
        }
        for w in &args.trust_wallets {
            policy = policy.trust_wallet(parse("invalid_did", Did::parse(w))?);
        }
        let verifier = Verifier::new(source, policy, Arc::new(SystemClock), (&args.limits).into());
        serde_json::to_value(verifier.verify(&presentation, &ctx).await)
            .map_err(|e| Failure::new("internal", e.to_string()))?
    };
    let ok = decision["decision"] == "accepted";
    Ok(Output { json: decision, ok })
}

/// The operator token from `--admin-token` (or `AGENTID_ADMIN_TOKEN`), or from a file (default
/// `./data/admin.token`).
pub(super) fn admin_token(a: AdminTokenArg) -> Result<String, Failure> {
    match (a.admin_token, a.admin_token_file) {
        (Some(t), _) => Ok(t),
        (None, file) => read_text(&file.unwrap_or_else(|| "./data/admin.token".into())),
    }
}

/// The codes of `agentid log verify` that say the log does not hold.
const LOG_REFUTED: [&str; 5] = [
    "state_mismatch",
    "checkpoint_invalid",
    "log_inconsistent",
    "inclusion_failed",
    "proof_invalid",
];

/// A log check's outcome: what does not hold is the answer (exit 1, `verified: false`), not a
/// failure to get one (exit 2).
fn refuted(result: Result<Output, Failure>) -> Result<Output, Failure> {
    match result {
        Err(f) if LOG_REFUTED.contains(&f.code.as_str()) => Ok(Output {
            json: json!({
                "verified": false,
                "error": { "code": f.code, "message": f.message },
            }),
            ok: false,
        }),
        other => other,
    }
}

/// An Ed25519 key of the service's DID document `doc` listed under `assertionMethod` as `kid`.
fn current_key(
    doc: &agentid_spec::document::DidDocument,
    kid: &str,
) -> Option<ed25519_dalek::VerifyingKey> {
    let method = doc
        .verification_method
        .iter()
        .find(|m| m.id == kid && doc.assertion_method.iter().any(|a| a == kid))?;
    decode_key(&method.public_key_multibase)
}

fn decode_key(multibase: &str) -> Option<ed25519_dalek::VerifyingKey> {
    agentid_spec::id::parse_multibase_ed25519(multibase)
        .ok()
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
}

/// The service's earlier checkpoint keys (`GET /v1/log/keys`), checked: signed by a key of its
/// current DID document `doc`, for that service.
async fn earlier_keys(
    client: &agentid_sdk::client::Client,
    doc: &agentid_spec::document::DidDocument,
) -> Result<Vec<agentid_spec::log::LogKey>, Failure> {
    use agentid_spec::jose::CompactJws;
    use agentid_spec::log::{LogKeys, LOG_KEYS_TYP, MAX_LOG_KEYS_BYTES};
    let bad = |m: String| Failure::new("checkpoint_invalid", m);
    let served = client.log_keys().await?;
    let jws = CompactJws::parse(&served.keys, MAX_LOG_KEYS_BYTES, LOG_KEYS_TYP)
        .map_err(|e| bad(format!("key list: {e}")))?;
    let kid = jws.header.kid.as_deref().unwrap_or_default();
    let key = current_key(doc, kid).ok_or_else(|| {
        bad(format!(
            "the key list is signed by {kid}, not a current key"
        ))
    })?;
    if !jws.verify(&key) {
        return Err(bad("the key list's signature does not verify".into()));
    }
    let list: LogKeys =
        serde_json::from_slice(&jws.payload).map_err(|e| bad(format!("key list: {e}")))?;
    if list.iss != doc.id {
        return Err(bad(format!("the key list names {}", list.iss)));
    }
    Ok(list.keys)
}

/// The payload of the signed checkpoint `token`, if it names the service of DID document `doc`
/// and its signature verifies under a key of that document, or under one of the service's
/// `earlier` keys (section 5.2) it was signed before that key was retired.
fn verified_checkpoint(
    doc: &agentid_spec::document::DidDocument,
    earlier: &[agentid_spec::log::LogKey],
    token: &str,
) -> Result<agentid_spec::log::Checkpoint, Failure> {
    use agentid_spec::jose::CompactJws;
    use agentid_spec::log::{Checkpoint, CHECKPOINT_TYP, MAX_CHECKPOINT_BYTES};
    let bad = |m: String| Failure::new("checkpoint_invalid", m);
    let jws = CompactJws::parse(token.trim(), MAX_CHECKPOINT_BYTES, CHECKPOINT_TYP)
        .map_err(|e| bad(format!("checkpoint: {e}")))?;
    let kid = jws.header.kid.as_deref().unwrap_or_default();
    let (key, retired_at) = match current_key(doc, kid) {
        Some(key) => (key, None),
        None => {
            let old = earlier
                .iter()
                .find(|k| k.id == kid)
                .ok_or_else(|| bad(format!("the service does not publish the key {kid}")))?;
            let key = decode_key(&old.public_key_multibase)
                .ok_or_else(|| bad("the service's key does not decode".into()))?;
            (key, old.retired_at)
        }
    };
    if !jws.verify(&key) {
        return Err(bad("the checkpoint's signature does not verify".into()));
    }
    let checkpoint: Checkpoint = serde_json::from_slice(&jws.payload)
        .map_err(|e| bad(format!("checkpoint payload: {e}")))?;
    if checkpoint.iss != doc.id {
        return Err(bad(format!("the checkpoint names {}", checkpoint.iss)));
    }
    if retired_at.is_some_and(|at| checkpoint.timestamp > at) {
        return Err(bad(format!(
            "the checkpoint is dated after its key {kid} was retired"
        )));
    }
    Ok(checkpoint)
}

/// Checks that every agent's current state, as the service resolves it, is what its entries in
/// the log prove (spec 5.3): its document and its standing. The number of agents checked.
async fn audit_agents(
    client: &agentid_sdk::client::Client,
    entries: &[agentid_spec::log::PublicEntry],
) -> Result<usize, Failure> {
    use agentid_spec::document::AgentStatus;
    use agentid_spec::standing::{prove, EntryRef};
    let mut by_agent: std::collections::BTreeMap<&str, Vec<&agentid_spec::log::PublicEntry>> =
        std::collections::BTreeMap::new();
    for e in entries {
        if e.did.starts_with(agentid_spec::id::AGENTID_METHOD_PREFIX) {
            by_agent.entry(e.did.as_str()).or_default().push(e);
        }
    }
    let mismatch = |did: &str, what: &str| {
        Failure::new(
            "state_mismatch",
            format!("{did}: {what} is not what its log proves"),
        )
    };
    for (did, mine) in &by_agent {
        let agent = AgentDid::parse(did).map_err(|_| mismatch(did, "its DID"))?;
        let refs = mine.iter().map(|e| EntryRef {
            kind: &e.kind,
            operation: &e.operation,
            created_at: e.created_at,
            reason: None,
        });
        let proved = prove(&agent, refs).map_err(|why| mismatch(did, &why))?;
        // Deactivated and deplatformed agents answer 410 with the full result; anything else
        // (the service refusing a row its log does not prove) is a mismatch.
        let served = match client.resolution(did).await {
            Ok(answer) => answer.value,
            Err(ClientError::Refused { status, .. }) => {
                return Err(mismatch(
                    did,
                    &format!("the service's answer (HTTP {status})"),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if served.did_document.as_ref() != Some(&proved.document) {
            return Err(mismatch(did, "the document the service serves"));
        }
        let status = served.did_document_metadata.map(|m| m.agent_status);
        let expected = match (&proved.status, &proved.suspension) {
            (AgentStatus::Suspended, Some(s)) if s.until <= SystemClock.now() => {
                AgentStatus::Active
            }
            (s, _) => *s,
        };
        if status != Some(expected) {
            return Err(mismatch(did, "the standing the service serves"));
        }
    }
    Ok(by_agent.len())
}

/// Checks that the service shows every zone in `entries` as owned by whoever its first claim
/// or delegation there names (a zone is never given to another): how many zones.
async fn audit_zones(
    client: &agentid_sdk::client::Client,
    entries: &[agentid_spec::log::PublicEntry],
) -> Result<usize, Failure> {
    use agentid_spec::zone::ZoneOperation;
    let mut owners: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for e in entries {
        if e.kind != "claim-zone" && e.kind != "delegate-zone" {
            continue;
        }
        let Ok((op, _)) = agentid_spec::zone::open(&e.operation) else {
            return Err(Failure::new(
                "state_mismatch",
                format!("log entry {}: its zone operation does not verify", e.seq),
            ));
        };
        if let ZoneOperation::ClaimZone { zone, owner, .. }
        | ZoneOperation::DelegateZone { zone, owner, .. } = op
        {
            owners
                .entry(zone.to_string())
                .or_insert_with(|| owner.to_string());
        }
    }
    for (zone, owner) in &owners {
        let served = match client.zone(zone).await {
            Ok(z) => z,
            Err(ClientError::Refused { status, .. }) => {
                return Err(Failure::new(
                    "state_mismatch",
                    format!(
                    "zone {zone}: the service's answer (HTTP {status}) is not what its log proves"
                ),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if served.owner != *owner {
            return Err(Failure::new(
                "state_mismatch",
                format!("zone {zone}: the owner the service shows is not what its log proves"),
            ));
        }
    }
    Ok(owners.len())
}

/// Hashes as served (base64url), decoded.
fn served_hashes(served: &[String]) -> Result<Vec<agentid_spec::merkle::Hash>, Failure> {
    let bad = || Failure::new("proof_invalid", "the proof's hashes do not decode");
    served
        .iter()
        .map(|h| {
            agentid_spec::jose::b64u_decode(h)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)
        })
        .collect()
}

async fn log_verify(server: &str, args: super::LogVerifyArgs) -> Result<Output, Failure> {
    use agentid_spec::log::PublicEntry;
    use agentid_spec::merkle;
    let client = super::wallet::client(server)?;
    let doc = client.service_document().await?;
    let token = client.checkpoint().await?.checkpoint;
    let current = verified_checkpoint(&doc, &[], &token)?;
    let root = current
        .root()
        .ok_or_else(|| Failure::new("checkpoint_invalid", "the root does not decode"))?;
    let mut report = json!({
        "verified": true,
        "treeSize": current.tree_size,
        "rootHash": current.root_hash,
        "timestamp": format_rfc3339(current.timestamp),
    });

    if let Some(path) = &args.saved {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new("io_error", format!("{}: {e}", path.display())))?;
        // Saved before a key change, it names a key the service has since rotated or retired.
        let earlier = earlier_keys(&client, &doc).await?;
        let saved = verified_checkpoint(&doc, &earlier, &text)?;
        let saved_root = saved
            .root()
            .ok_or_else(|| Failure::new("checkpoint_invalid", "the saved root does not decode"))?;
        if saved.tree_size > current.tree_size {
            return Err(Failure::new(
                "log_inconsistent",
                format!(
                    "the log shrank: {} entries, {} saved",
                    current.tree_size, saved.tree_size
                ),
            ));
        }
        let proof = client
            .consistency_proof(saved.tree_size, current.tree_size)
            .await?;
        let hashes = served_hashes(&proof.hashes)?;
        merkle::verify_consistency(
            saved.tree_size,
            current.tree_size,
            &saved_root,
            &root,
            &hashes,
        )
        .map_err(|e| {
            Failure::new(
                "log_inconsistent",
                format!(
                    "the log of {} entries does not extend the saved one of {}: {e}",
                    current.tree_size, saved.tree_size
                ),
            )
        })?;
        report["consistentWith"] =
            json!({ "treeSize": saved.tree_size, "rootHash": saved.root_hash });
    }

    if let Some(seq) = args.seq {
        let proof = client.inclusion_proof(seq, current.tree_size).await?;
        let entry = proof.entry;
        if u64::try_from(entry.seq).ok() != Some(seq) {
            return Err(Failure::new(
                "proof_invalid",
                "the proof is for another entry",
            ));
        }
        let hashes = served_hashes(&proof.hashes)?;
        merkle::verify_inclusion(
            seq - 1,
            current.tree_size,
            &entry.leaf_hash(),
            &hashes,
            &root,
        )
        .map_err(|e| {
            Failure::new(
                "inclusion_failed",
                format!("entry {seq} is not in the log as checkpointed: {e}"),
            )
        })?;
        report["included"] = json!({ "seq": seq, "entryHash": entry.entry_hash });
    }

    if args.audit {
        let mut leaves = Vec::new();
        let mut all: Vec<PublicEntry> = Vec::new();
        let mut prev: Option<String> = None;
        while (leaves.len() as u64) < current.tree_size {
            let entries = client.log_entries(leaves.len() as u64, 1000).await?;
            if entries.is_empty() {
                break;
            }
            for e in entries {
                if e.seq != leaves.len() as i64 + 1
                    || prev.as_ref().is_some_and(|p| *p != e.prev_hash)
                {
                    return Err(Failure::new(
                        "log_inconsistent",
                        format!("entry {} does not follow the one before it", e.seq),
                    ));
                }
                prev = Some(e.entry_hash.clone());
                leaves.push(e.leaf_hash());
                all.push(e);
            }
        }
        leaves.truncate(current.tree_size as usize);
        if merkle::root(&leaves) != root {
            return Err(Failure::new(
                "log_inconsistent",
                "the entries served do not hash to the checkpoint's root",
            ));
        }
        report["audited"] = json!(leaves.len());
        all.truncate(current.tree_size as usize);
        report["agentsAudited"] = json!(audit_agents(&client, &all).await?);
        report["zonesAudited"] = json!(audit_zones(&client, &all).await?);
    }

    if let Some(path) = &args.save {
        std::fs::write(path, format!("{token}\n"))
            .map_err(|e| Failure::new("io_error", format!("{}: {e}", path.display())))?;
    }
    Ok(Output::ok(report))
}

/// `agentid log mirror`: the mirror's entries, extended from the event stream and checked
/// against every signed checkpoint on the way.
async fn log_mirror(server: &str, args: super::LogMirrorArgs) -> Result<Output, Failure> {
    use std::io::Write;

    use agentid_resolver::events::{EventParser, RegistryEvent};
    use agentid_spec::log::PublicEntry;
    use agentid_spec::merkle::Tree;

    let io = |e: std::io::Error| Failure::new("io_error", e.to_string());
    let broken = |m: String| Failure::new("log_inconsistent", m);
    std::fs::create_dir_all(&args.dir).map_err(io)?;
    let path = args.dir.join("entries.jsonl");
    // The mirror as it stands, checked as it is read.
    let (mut tree, mut last_hash) = (Tree::new(), None::<String>);
    if let Ok(text) = std::fs::read_to_string(&path) {
        for line in text.lines() {
            let e: PublicEntry = serde_json::from_str(line)
                .map_err(|e| broken(format!("the mirror holds a malformed entry: {e}")))?;
            if e.seq != tree.len() as i64 + 1
                || last_hash.as_ref().is_some_and(|h| *h != e.prev_hash)
            {
                return Err(broken(format!("mirror entry {} does not chain", e.seq)));
            }
            last_hash = Some(e.entry_hash.clone());
            tree.push(e.leaf_hash());
        }
    }
    let start = tree.len();
    let doc = super::wallet::client(server)?.service_document().await?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    let mut response = reqwest::Client::new()
        .get(format!("{}/v1/events", server.trim_end_matches('/')))
        .header("last-event-id", tree.len().to_string())
        .send()
        .await
        .map_err(|e| Failure::new("unreachable", e.without_url().to_string()))?;
    if response.status() != 200 {
        return Err(Failure::new(
            "unreachable",
            format!("the event stream answered HTTP {}", response.status()),
        ));
    }
    let (mut parser, mut pending, mut verified) = (EventParser::default(), None, None);
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .map_err(|_| Failure::new("unreachable", "the event stream went silent"))?
            .map_err(|e| Failure::new("unreachable", e.without_url().to_string()))?
            .ok_or_else(|| Failure::new("unreachable", "the event stream ended"))?;
        let events = parser
            .push(&chunk)
            .map_err(|e| Failure::new("invalid_response", e.to_string()))?;
        for event in events {
            match event {
                RegistryEvent::Entry(e) => {
                    if e.seq != tree.len() as i64 + 1
                        || last_hash.as_ref().is_some_and(|h| *h != e.prev_hash)
                    {
                        return Err(broken(format!(
                            "entry {} does not follow the mirror's {}",
                            e.seq,
                            tree.len()
                        )));
                    }
                    let leaf = e.leaf();
                    file.write_all(&leaf).map_err(io)?;
                    file.write_all(b"\n").map_err(io)?;
                    last_hash = Some(e.entry_hash.clone());
                    tree.push(e.leaf_hash());
                }
                RegistryEvent::Checkpoint(c) => {
                    let token = c["checkpoint"].as_str().unwrap_or_default().to_owned();
                    let checkpoint = verified_checkpoint(&doc, &[], &token)?;
                    pending = Some((checkpoint, token));
                }
                _ => {}
            }
            // A checkpoint is checked once the mirror holds all it covers.
            if let Some((c, token)) = pending.take() {
                let size = usize::try_from(c.tree_size).unwrap_or(usize::MAX);
                if size > tree.len() {
                    pending = Some((c, token));
                    continue;
                }
                if tree.root(size) != c.root() {
                    return Err(broken(format!(
                        "the mirror's first {size} entries do not have the signed root"
                    )));
                }
                file.sync_data().map_err(io)?;
                std::fs::write(args.dir.join("checkpoint.jwt"), format!("{token}\n"))
                    .map_err(io)?;
                verified = Some(c);
            }
        }
        if let Some(c) = &verified {
            if !args.follow && c.tree_size as usize == tree.len() {
                return Ok(Output::ok(json!({
                    "verified": true, "treeSize": c.tree_size, "rootHash": c.root_hash,
                    "added": tree.len() - start,
                })));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("30m"), Some(1_800));
        for bad in ["", "d", "0d", "-1h", "5w", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
