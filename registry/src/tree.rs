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
            let rows: Vec<log::Row> = sqlx::query_as(&format!(
                "{} WHERE seq > $1 ORDER BY seq LIMIT $2",
                log::SELECT
            ))
            .bind(after)
            .bind(CATCH_UP_PAGE)
            .fetch_all(&self.0.pool)
            .await?;
            let done = (rows.len() as i64) < CATCH_UP_PAGE;
            for row in rows {
                let entry = log::entry(row);
                if entry.seq != leaves.len() as i64 + 1 {
                    return Err(Error::Internal(format!(
                        "the log has a gap before entry {}",
                        entry.seq
                    )));
                }
                leaves.push(entry.public().leaf_hash());
            }
            if done {
                return Ok(f(&leaves));
            }
        }
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
