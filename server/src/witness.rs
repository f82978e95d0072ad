//! The log's latest signed checkpoint, kept outside the database (`DATA_DIR/log-checkpoint.jws`,
//! mode 0600): a database restored from an older backup, or a log rewritten behind the
//! service's back, no longer extends it, and the service refuses to start on it rather than
//! silently undo the deplatformings, suspensions and key changes recorded since (and, with the
//! same database, the wallet's revocations and the replay memory). `--accept-restored-log`
//! starts anyway, logged at WARN, and keeps the checkpoint of the log as it is now.

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentid_registry::Registry;
use agentid_spec::jose::{b64u, CompactJws};
use agentid_spec::log::{Checkpoint, CHECKPOINT_TYP, MAX_CHECKPOINT_BYTES};
use agentid_wallet::Wallet;

use crate::start::StartError;

/// The file, in the data directory.
pub const FILE: &str = "log-checkpoint.jws";

/// Written at most this often while the log grows.
const EVERY: Duration = Duration::from_secs(1);

/// The kept checkpoint's path for the data directory `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// What an operator decided about a restored or tampered log, at this start.
#[derive(Clone, Debug, Default)]
pub struct Restore {
    /// Start on a log that no longer extends the kept checkpoint (`--accept-restored-log`).
    pub accept: bool,
    /// Entries without a seal that the operator vouches for (`--seal-log-entries`).
    pub seal: Vec<u64>,
    /// Drop the log's entries from this one on, none of which carries a seal
    /// (`--drop-log-entries-from`).
    pub drop_from: Option<u64>,
}

/// What [`judge`] found of the log against the kept checkpoint, before anything was written.
#[derive(Debug)]
pub struct Judged {
    /// The kept checkpoint's tree size if the log extends it, why not otherwise; `None` when
    /// no checkpoint is kept.
    kept: Option<Result<u64, String>>,
    /// Whether this node has sealed every entry since it began sealing.
    sealing_began: bool,
}

/// Checks that the log extends the checkpoint kept at `path`, if there is one: signed by a key
/// the wallet has had, for this service, and the log's first `treeSize` entries hash to its
/// root. Otherwise the start is refused, unless `restore.accept` (or a drop, which shortens the
/// log on purpose). Writes nothing: [`apply`] does, once every other step that can refuse the
/// start has passed.
pub async fn judge(
    path: &Path,
    registry: &Registry,
    wallet: &Wallet,
    restore: &Restore,
) -> Result<Judged, StartError> {
    let registry_error = |e: agentid_registry::Error| StartError::Registry(e.to_string());
    let (size, _) = registry.log_head().await.map_err(registry_error)?;
    let kept = match std::fs::read_to_string(path) {
        Ok(text) => Some(kept(path, text.trim(), size, registry, wallet).await),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StartError::Io(path.display().to_string(), e)),
    };
    if let Some(Err(why)) = &kept {
        if !restore.accept && restore.drop_from.is_none() {
            return Err(StartError::LogRestored(format!(
                "{why}; start with --accept-restored-log to accept the log as it is (logged)"
            )));
        }
    }
    // The checkpoint will be written once the amendments are applied: a data directory it
    // cannot be written to refuses the start now, before anything is.
    writable(path)?;
    if restore.drop_from.is_some() || !restore.seal.is_empty() {
        // Refused now, if at all, rather than after the start has written anything.
        registry
            .rehearse_amend_log(restore.drop_from, &restore.seal, proven(&kept))
            .await
            .map_err(|e| StartError::LogRestored(e.to_string()))?;
    }
    Ok(Judged {
        kept,
        sealing_began: sealing_began(path),
    })
}

/// Applies the operator's decisions about entries without a seal to the log [`judge`]d: a tail
/// of them dropped, named ones sealed (each logged at WARN), then the entries from before seals
/// existed that the kept checkpoint vouches for sealed. No entry without a seal is ever sealed
/// on the word of `--accept-restored-log` alone: a forged entry (an operator's reinstatement, a
/// lifted revocation, written into the database) would be sealed with the rest. Answers the
/// tree size the kept checkpoint proves, the floor of the next one kept.
pub async fn apply(
    judged: Judged,
    registry: &Registry,
    restore: &Restore,
) -> Result<u64, StartError> {
    let Judged {
        kept,
        sealing_began,
    } = judged;
    let dropping = restore.drop_from.is_some();
    if dropping || !restore.seal.is_empty() {
        let (dropped, sealed) = registry
            .amend_log(restore.drop_from, &restore.seal, proven(&kept))
            .await
            .map_err(|e| StartError::LogRestored(e.to_string()))?;
        for e in &dropped {
            tracing::warn!(entry = %e, "dropped from the log on the operator's word (--drop-log-entries-from)");
        }
        for e in &sealed {
            tracing::warn!(entry = %e, "sealed on the operator's word (--seal-log-entries)");
        }
        registry
            .reread_log()
            .await
            .map_err(|e| StartError::Registry(format!("reading the log: {e}")))?;
    }
    let proven = match &kept {
        Some(Ok(tree_size)) if restore.drop_from.is_none_or(|from| from > *tree_size) => *tree_size,
        _ => 0,
    };
    match kept {
        // A second node on the database, or a first start: nothing vouches for an entry.
        None => seal_earlier(registry, 0, "").await?,
        // Every entry since seals began was sealed as it was written: none is sealed now.
        Some(Ok(_)) if sealing_began => seal_earlier(registry, 0, "").await?,
        Some(Ok(tree_size)) if restore.drop_from.is_none_or(|from| from > tree_size) => {
            seal_earlier(registry, tree_size, "the kept checkpoint").await?
        }
        Some(Ok(_)) => seal_earlier(registry, 0, "").await?,
        Some(Err(why)) => {
            tracing::warn!(%why, "starting on a restored log (--accept-restored-log)");
            seal_earlier(registry, 0, "").await?
        }
    }
    Ok(proven)
}

/// How many of the log's first entries the kept checkpoint covers (0 without one that holds).
fn proven(kept: &Option<Result<u64, String>>) -> u64 {
    match kept {
        Some(Ok(tree_size)) => *tree_size,
        _ => 0,
    }
}

/// The kept checkpoint `text`'s tree size, if it is this service's and the log of `size`
/// entries extends it; otherwise why not.
async fn kept(
    path: &Path,
    text: &str,
    size: u64,
    registry: &Registry,
    wallet: &Wallet,
) -> Result<u64, String> {
    let saved = verified(text, wallet)
        .await
        .map_err(|why| format!("the kept checkpoint {} {why}", path.display()))?;
    let root = if size >= saved.tree_size {
        registry.log_root(saved.tree_size).await.ok()
    } else {
        None
    };
    match root {
        Some(r) if b64u(&r) == saved.root_hash => Ok(saved.tree_size),
        _ => Err(format!(
            "the log ({size} entries) no longer extends the checkpoint kept in {} ({} entries, \
             {}): the database was restored from an older backup, or the log rewritten",
            path.display(),
            saved.tree_size,
            agentid_spec::time::format_rfc3339(saved.timestamp),
        )),
    }
}

/// Seals the log's first `upto` entries that carry no seal (written before seals existed),
/// which `why` vouches for; reports, at WARN, each entry left without a seal that verifies:
/// their agents are refused, and no name or zone is given, until the operator vouches for them
/// (`--seal-log-entries`) or drops them (`--drop-log-entries-from`).
async fn seal_earlier(registry: &Registry, upto: u64, why: &str) -> Result<(), StartError> {
    let (sealed, left) = registry
        .seal_earlier(upto)
        .await
        .map_err(|e| StartError::Registry(format!("sealing the log: {e}")))?;
    if sealed > 0 {
        registry
            .reread_log()
            .await
            .map_err(|e| StartError::Registry(format!("reading the log: {e}")))?;
        tracing::warn!(
            sealed,
            by = why,
            "sealed log entries written before seals existed"
        );
    }
    if left > 0 {
        let (listed, total) = registry
            .unsealed_entries()
            .await
            .map_err(|e| StartError::Registry(format!("reading the log: {e}")))?;
        for e in &listed {
            tracing::warn!(entry = %e, "a log entry carries no seal of this service that verifies");
        }
        tracing::warn!(
            entries = total,
            listed = listed.len(),
            "log entries carry no seal of this service that verifies: their agents are \
             refused, and no name or zone is given to anyone. Read them (agentid agent log, or \
             GET /v1/log/entries), then start with --seal-log-entries SEQ,... for those this \
             service wrote, or --drop-log-entries-from SEQ for a tail written behind its back"
        );
    }
    Ok(())
}

/// The file, beside the kept checkpoint, recording that this node has started with seals: from
/// then on no entry without a seal is ever sealed at a start (only `--accept-restored-log` does),
/// however far the kept checkpoint reaches.
fn sealing_marker(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name("log-sealed")
}

/// Whether this node has started with seals before (see [`sealing_marker`]).
fn sealing_began(checkpoint: &Path) -> bool {
    sealing_marker(checkpoint).exists()
}

/// The file, beside the kept checkpoint, recording that this node has started with tokens
/// stored in the keyed form: written by every start's [`keep`].
fn tokens_marker(checkpoint: &Path) -> PathBuf {
    checkpoint.with_file_name("tokens-keyed")
}

/// Whether this node ran an earlier release, which stored bearer tokens as bare hashes: it has
/// kept a checkpoint but never started with keyed tokens. Such a node vouches for the bare
/// hashes in the database once, converting them; no other node ever does (a fresh node on an
/// existing database, or this one from its next start), so a bare hash written into the
/// database opens nothing.
pub fn keeps_bare_tokens(checkpoint: &Path) -> bool {
    checkpoint.exists() && !tokens_marker(checkpoint).exists()
}

/// The checkpoint `token`, if a key the wallet has had signed it.
async fn verified(token: &str, wallet: &Wallet) -> Result<Checkpoint, String> {
    let jws = CompactJws::parse(token, MAX_CHECKPOINT_BYTES, CHECKPOINT_TYP)
        .map_err(|e| format!("does not parse: {e}"))?;
    // By the key's fragment: the service's DID follows its public URL, which may have moved
    // (`--move-public-url`) since the checkpoint was kept; the key is what proves it.
    let fragment = |id: &str| id.rsplit_once('#').map(|(_, f)| f.to_owned());
    let kid = jws.header.kid.as_deref().unwrap_or_default();
    let keys = wallet
        .key_history()
        .await
        .map_err(|e| format!("cannot be checked: {e}"))?;
    let key = keys
        .iter()
        .find(|(id, _, _)| fragment(id).is_some() && fragment(id) == fragment(kid))
        .and_then(|(_, mb, _)| agentid_spec::id::parse_multibase_ed25519(mb).ok())
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| "is signed by a key this service never had".to_owned())?;
    if !jws.verify(&key) {
        return Err("has a signature that does not verify".into());
    }
    let checkpoint: Checkpoint =
        serde_json::from_slice(&jws.payload).map_err(|e| format!("does not read: {e}"))?;
    Ok(checkpoint)
}

/// Whether the checkpoint's new file, beside `path`, can be written (and is not in the way):
/// written empty and removed.
fn writable(path: &Path) -> Result<(), StartError> {
    let fresh = path.with_extension("jws.new");
    let io = |e| StartError::Io(fresh.display().to_string(), e);
    match std::fs::remove_file(&fresh) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    crate::start::write_private(&fresh, b"").map_err(io)?;
    std::fs::remove_file(&fresh).map_err(io)
}

/// Signs the log's checkpoint now and writes it to `path` (a new file renamed over the old).
async fn keep_once(
    path: &Path,
    registry: &Registry,
    wallet: &Wallet,
    floor: u64,
) -> Result<u64, String> {
    // Only entries that carry the seal, and never fewer than the checkpoint kept already: a
    // seal corrupted in the database does not take an entry out of what the service proves it
    // wrote.
    let (tree_size, root) = registry.proven_head().await.map_err(|e| e.to_string())?;
    if tree_size < floor {
        return Ok(floor);
    }
    let statement = Checkpoint {
        iss: wallet.did().to_string(),
        tree_size,
        root_hash: b64u(&root),
        timestamp: registry.now(),
    };
    let payload = serde_json::to_vec(&statement).map_err(|e| e.to_string())?;
    let signed = wallet
        .sign_statement(CHECKPOINT_TYP, &payload)
        .map_err(|e| e.to_string())?;
    let fresh = path.with_extension("jws.new");
    let _ = std::fs::remove_file(&fresh);
    crate::start::write_private(&fresh, format!("{signed}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    std::fs::rename(&fresh, path).map_err(|e| e.to_string())?;
    Ok(tree_size)
}

/// Keeps the checkpoint at `path` current: now, and after the log grows (at most every
/// second), until the process ends; never over an entry without the seal, and never below
/// `floor` entries (the checkpoint [`apply`] found kept).
pub async fn keep(
    path: PathBuf,
    registry: Registry,
    wallet: Wallet,
    floor: u64,
) -> Result<(), StartError> {
    let mut floor = keep_once(&path, &registry, &wallet, floor)
        .await
        .map_err(|e| StartError::Registry(format!("keeping the log's checkpoint: {e}")))?;
    for (marker, says) in [
        (
            sealing_marker(&path),
            &b"log entries are sealed as they are written\n"[..],
        ),
        (
            tokens_marker(&path),
            b"bearer tokens are stored in the keyed form\n",
        ),
    ] {
        if !marker.exists() {
            crate::start::write_private(&marker, says)
                .map_err(|e| StartError::Registry(format!("{}: {e}", marker.display())))?;
        }
    }
    let mut appends = registry.log_appends();
    tokio::spawn(async move {
        while appends.changed().await.is_ok() {
            tokio::time::sleep(EVERY).await;
            appends.borrow_and_update();
            match keep_once(&path, &registry, &wallet, floor).await {
                Ok(kept) => floor = kept,
                Err(e) => tracing::error!(error = %e, "the log's checkpoint could not be kept"),
            }
        }
    });
    Ok(())
}
