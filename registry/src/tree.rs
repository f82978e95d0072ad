//! The log as a Merkle tree (spec section 5.2, "The transparency log"): the leaf of entry `seq` is the RFC 8785 form of
//! its public entry, at index `seq - 1`. Leaf hashes are recomputed from the stored entries (never
//! stored beside them: a rewritten entry changes its leaf, so the root), kept in memory as a
//! [`Tree`] of every complete subtree's hash and extended with the entries appended since, by
//! any node.

use agentid_spec::log::PublicEntry;
use agentid_spec::merkle::{Hash, Tree};

use crate::{log, Error, Registry};

/// Entries read per query while catching up.
const CATCH_UP_PAGE: i64 = 10_000;

/// Who holds each name and zone, as the log's sealed entries say, read with the tree: the one
/// place the registry learns that a name or a zone is free (an index in the database can be
/// made to miss an entry; this is built from every entry's contents). Entries without this
/// service's seal are counted, and while there are any, names and zones are given to nobody.
#[derive(Default)]
pub(crate) struct Names {
    /// Name -> (kind, DID) of its latest entry (`create`, `bind-name`, `unbind-name`,
    /// `release-name`).
    held: std::collections::HashMap<String, (String, String)>,
    /// The names held now, labels reversed (`bot.acme` as `acme.bot`): the names under a zone
    /// are a range.
    held_reversed: std::collections::BTreeSet<String>,
    /// Zone -> its first claim's or delegation's owner, and whether it was delegated.
    zones: std::collections::HashMap<String, (String, bool)>,
    /// The first entry read that does not carry this service's seal over its contents.
    first_unproven: Option<i64>,
    /// Every agent's entries read, by DID: an entry gone from the database since is noticed.
    by_agent: std::collections::HashMap<String, Vec<i64>>,
    /// The zone operations of the entries written within [`RECENT_ZONE_OPS_SECS`]: hash of the
    /// signed operation -> entry. A zone operation is accepted only within the registry's skew
    /// of its `createdAt`, so an older one can never be replayed; a recent one is known a replay
    /// from the log, whatever the table of answers says.
    recent_ops: std::collections::HashMap<String, i64>,
    /// The same, in the order read, with when each entry was written: pruned from the front.
    recent_order: std::collections::VecDeque<(i64, String)>,
    /// The service's own decisions (revocations) the log records.
    decisions: crate::decisions::Decisions,
    /// Whether the log stopped being readable (an entry out of sequence): what follows is
    /// unknown.
    unreadable: bool,
}

/// How long a zone operation's hash is kept in memory: twice the skew a zone operation's
/// `createdAt` may have, so every operation that could still be accepted is known.
pub(crate) const RECENT_ZONE_OPS_SECS: i64 = 2 * agentid_spec::zone::ZONE_OP_SKEW_SECS;

impl Names {
    fn read(&mut self, r: &log::Sealed, sealer: &agentid_store::Sealer, now: i64) {
        let e = &r.entry;
        self.by_agent.entry(e.did.clone()).or_default().push(e.seq);
        if e.created_at >= now.saturating_sub(RECENT_ZONE_OPS_SECS) {
            if let Some(op) = crate::zones::zone_operation_of(e) {
                let hash = agentid_spec::id::hash_b32(op.as_bytes());
                self.recent_ops.insert(hash.clone(), e.seq);
                self.recent_order.push_back((e.created_at, hash));
            }
        }
        let subject = crate::zones::light_subject(e);
        let sealed = r.holds(sealer) && r.name == subject.as_ref().map(|(n, _)| n.clone());
        // A decision is read even without the seal where it is stricter: stripping a seal
        // drops nothing.
        self.decisions.read(e, sealed);
        if !sealed {
            tracing::error!(
                seq = e.seq,
                kind = %e.kind,
                stored = ?r.name,
                read = ?subject,
                sealed = r.holds(sealer),
                "a log entry does not carry this service's seal: no name or zone is given to \
                 anyone until an operator drops it or vouches for it (--drop-log-entries-from, \
                 --seal-log-entries)"
            );
            self.first_unproven.get_or_insert(e.seq);
            return;
        }
        let Some((name, owner)) = subject else {
            return;
        };
        match e.kind.as_str() {
            "claim-zone" | "delegate-zone" => {
                let delegated = e.kind == "delegate-zone";
                self.zones
                    .entry(name)
                    .or_insert((owner.unwrap_or_default(), delegated));
            }
            kind => {
                if matches!(kind, "create" | "bind-name") {
                    self.held_reversed.insert(reversed(&name));
                } else {
                    self.held_reversed.remove(&reversed(&name));
                }
                self.held.insert(name, (kind.to_owned(), e.did.clone()));
            }
        }
    }

    /// The latest entry about `name`: its kind and DID.
    pub(crate) fn holder(&self, name: &str) -> Option<&(String, String)> {
        self.held.get(name)
    }

    /// A name held now that is `zone` or below it, if any.
    pub(crate) fn held_under(&self, zone: &str) -> Option<String> {
        let zone = reversed(zone);
        if self.held_reversed.contains(&zone) {
            return Some(reversed(&zone));
        }
        let below = format!("{zone}.");
        self.held_reversed
            .range(below.clone()..)
            .next()
            .filter(|n| n.starts_with(&below))
            .map(|n| reversed(n))
    }

    /// The owner the log gave `zone` to, and whether by delegation.
    pub(crate) fn zone_owner(&self, zone: &str) -> Option<(&str, bool)> {
        self.zones.get(zone).map(|(o, d)| (o.as_str(), *d))
    }

    /// The entries of `did` this process has read, in order.
    pub(crate) fn entries_of(&self, did: &str) -> &[i64] {
        self.by_agent.get(did).map_or(&[], Vec::as_slice)
    }

    /// The service's decisions the log records.
    pub(crate) fn decisions(&self) -> &crate::decisions::Decisions {
        &self.decisions
    }

    /// Whether reading the log stopped at an entry out of sequence.
    pub(crate) fn unreadable(&self) -> bool {
        self.unreadable
    }

    /// Marks the log untrusted until it is read again.
    pub(crate) fn distrust(&mut self) {
        self.unreadable = true;
    }

    /// The first entry without this service's seal, if any.
    pub(crate) fn first_unproven(&self) -> Option<i64> {
        self.first_unproven
    }

    /// The entry that applied the zone operation whose hash is `hash`, if it was written
    /// within [`RECENT_ZONE_OPS_SECS`] of `now`; older ones are forgotten.
    pub(crate) fn applied_zone_op(&mut self, hash: &str, now: i64) -> Option<i64> {
        let horizon = now.saturating_sub(RECENT_ZONE_OPS_SECS);
        while let Some((at, _)) = self.recent_order.front() {
            if *at >= horizon {
                break;
            }
            if let Some((_, old)) = self.recent_order.pop_front() {
                self.recent_ops.remove(&old);
            }
        }
        self.recent_ops.get(hash).copied()
    }
}

/// `name` with its labels in reverse order.
fn reversed(name: &str) -> String {
    name.rsplit('.').collect::<Vec<_>>().join(".")
}

/// This process's copy of the log's tree.
#[derive(Default)]
pub(crate) struct Leaves(tokio::sync::RwLock<Tree>);

/// An inclusion proof (RFC 9162 2.1.3), as served.
#[derive(Clone, Debug)]
pub struct Inclusion {
    /// The entry.
    pub entry: PublicEntry,
    /// The tree size it is proved against.
    pub tree_size: u64,
    /// The audit path, leaf to root.
    pub hashes: Vec<Hash>,
}

impl Registry {
    /// Runs `f` on the log's leaf hashes, brought up to date with the database.
    async fn with_leaves<T>(&self, f: impl FnOnce(&Tree) -> T) -> Result<T, Error> {
        self.with_leaves_from(u64::MAX, f).await
    }

    /// Runs `f` on the log's leaf hashes, read from the database only when this process holds
    /// fewer than `at_least` of them.
    pub(crate) async fn with_leaves_from<T>(
        &self,
        at_least: u64,
        f: impl FnOnce(&Tree) -> T,
    ) -> Result<T, Error> {
        // Proofs from the tree as it stands are served side by side; catching up is alone.
        {
            let leaves = self.0.leaves.0.read().await;
            if leaves.len() as u64 >= at_least {
                return Ok(f(&leaves));
            }
        }
        let mut leaves = self.0.leaves.0.write().await;
        if leaves.len() as u64 >= at_least {
            return Ok(f(&leaves));
        }
        loop {
            let after = leaves.len() as i64;
            let rows: Vec<log::SealedRow> = sqlx::query_as(&format!(
                "{} WHERE seq > $1 ORDER BY seq LIMIT $2",
                log::SELECT_SEALED
            ))
            .bind(after)
            .bind(CATCH_UP_PAGE)
            .fetch_all(&self.0.pool)
            .await?;
            let done = (rows.len() as i64) < CATCH_UP_PAGE;
            let now = self.0.clock.now();
            let mut names = self.0.names.write().unwrap_or_else(|e| e.into_inner());
            for row in rows {
                let sealed = log::sealed_entry(row);
                let entry = &sealed.entry;
                if entry.seq != leaves.len() as i64 + 1 {
                    names.unreadable = true;
                    tracing::error!(
                        seq = entry.seq,
                        "the log has an entry out of sequence (written behind the service's \
                         back): nothing after it is read, and the wallet refuses what depends on \
                         the log's decisions"
                    );
                    return Err(Error::Internal(format!(
                        "the log has a gap before entry {}",
                        entry.seq
                    )));
                }
                leaves.push(entry.public().leaf_hash());
                names.read(&sealed, &self.0.sealer, now);
            }
            if done {
                return Ok(f(&leaves));
            }
        }
    }

    /// Reads the entry this process just committed into its tree at once, so that it is in the
    /// tree (and so in the next kept checkpoint, and checked against the database from then on)
    /// before anyone could delete it.
    pub(crate) async fn read_own_append(&self) {
        if let Err(e) = self.catch_up().await {
            tracing::error!(error = %e, "reading the log after an append");
        }
    }

    /// Reads the entries appended since this process last did (here or on another node).
    pub(crate) async fn catch_up(&self) -> Result<(), Error> {
        self.with_leaves(|_| ()).await
    }

    /// Reads the entries other nodes appended since this process last did: on their change
    /// notice, so their decisions apply here before anything cached is served again.
    pub async fn read_appended(&self) -> Result<(), Error> {
        self.catch_up().await
    }

    /// Reads the whole log again, its leaves and who holds each name and zone: after entries
    /// were sealed at a start.
    pub async fn reread_log(&self) -> Result<(), Error> {
        {
            let mut leaves = self.0.leaves.0.write().await;
            *leaves = Tree::default();
            *self.0.names.write().unwrap_or_else(|e| e.into_inner()) = Names::default();
        }
        self.catch_up().await
    }

    /// The log's size and root as far as every entry carries this service's seal: up to the
    /// entry before the first without one. What a checkpoint kept outside the database covers,
    /// so that it proves the service wrote every entry it covers.
    pub async fn proven_head(&self) -> Result<(u64, Hash), Error> {
        let (size, _) = self.log_head().await?;
        let first = self
            .0
            .names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .first_unproven();
        let proven = first
            .and_then(|seq| u64::try_from(seq.saturating_sub(1)).ok())
            .map_or(size, |p| p.min(size));
        Ok((proven, self.log_root(proven).await?))
    }

    /// The log's size and root now.
    pub async fn log_head(&self) -> Result<(u64, Hash), Error> {
        self.with_leaves(|t| (t.len() as u64, t.root(t.len()).unwrap_or_default()))
            .await
    }

    /// The proof that entry `seq` is in the log of `tree_size` entries.
    pub async fn log_inclusion(&self, seq: u64, tree_size: u64) -> Result<Inclusion, Error> {
        let index = seq
            .checked_sub(1)
            .filter(|i| *i < tree_size)
            .ok_or(Error::InvalidLogRange("seq must be from 1 to treeSize"))?;
        let hashes = self
            .with_leaves(|t| t.inclusion_proof(index as usize, usize::try_from(tree_size).ok()?))
            .await?
            .ok_or(Error::InvalidLogRange("treeSize is past the log's end"))?;
        let entry = self
            .log_since(index as i64, 1)
            .await?
            .pop()
            .ok_or(Error::InvalidLogRange("no such entry"))?
            .public();
        Ok(Inclusion {
            entry,
            tree_size,
            hashes,
        })
    }

    /// The inclusion proof of entry `seq` in the tree this process holds (at least `seq`
    /// entries; read from the database only when it holds fewer), for resolution results.
    pub(crate) async fn latest_inclusion(
        &self,
        seq: u64,
    ) -> Result<Option<agentid_spec::document::LogInclusion>, Error> {
        use agentid_spec::jose::b64u;
        let Some(index) = seq.checked_sub(1) else {
            return Ok(None);
        };
        self.with_leaves_from(seq, |t| {
            let size = t.len();
            let i = usize::try_from(index).ok()?;
            let hashes = t.inclusion_proof(i, size)?;
            Some(agentid_spec::document::LogInclusion {
                seq,
                leaf_hash: b64u(t.leaf(i)?),
                tree_size: size as u64,
                root_hash: b64u(&t.root(size)?),
                hashes: hashes.iter().map(|h| b64u(h)).collect(),
            })
        })
        .await
    }

    /// The proof that the log of `first` entries is a prefix of the log of `second`.
    pub async fn log_consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, Error> {
        if first > second {
            return Err(Error::InvalidLogRange("first must not exceed second"));
        }
        self.with_leaves(|t| t.consistency_proof(first as usize, usize::try_from(second).ok()?))
            .await?
            .ok_or(Error::InvalidLogRange("second is past the log's end"))
    }

    /// The root of the log's first `tree_size` entries.
    pub async fn log_root(&self, tree_size: u64) -> Result<Hash, Error> {
        self.with_leaves(|t| t.root(usize::try_from(tree_size).ok()?))
            .await?
            .ok_or(Error::InvalidLogRange("treeSize is past the log's end"))
    }
}
