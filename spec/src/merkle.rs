//! The registry's Merkle tree (spec section 5.2, "The transparency log"), as RFC 9162 section 2.1 defines it: SHA-256,
//! leaves hashed as `SHA-256(0x00 || leaf)`, interior nodes as `SHA-256(0x01 || left || right)`,
//! a tree of `n` leaves split at the largest power of two below `n`. Inclusion and consistency
//! proofs are generated from the leaves' hashes and verified with the algorithms of RFC 9162
//! sections 2.1.3.2 and 2.1.4.2, so any RFC 9162 (or RFC 6962) verifier agrees with them.

use sha2::{Digest, Sha256};

/// A node of the tree.
pub type Hash = [u8; 32];

/// Most hashes a proof may carry: a tree of at most 2^63 leaves is 63 levels deep, and a
/// consistency proof has at most one more.
pub const MAX_PROOF_HASHES: usize = 64;

/// The hash of a leaf whose bytes are `leaf`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root of the tree whose leaves hash to `leaves` (the empty tree: SHA-256 of nothing).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree of `leaves` (RFC 9162 2.1.3.1), or `None`
/// when there is no such leaf.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
        if d.len() <= 1 {
            return;
        }
        let k = split(d.len());
        if m < k {
            path(m, &d[..k], out);
            out.push(root(&d[k..]));
        } else {
            path(m - k, &d[k..], out);
            out.push(root(&d[..k]));
        }
    }
    if index >= leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    path(index, leaves, &mut out);
    Some(out)
}

/// The consistency proof between the tree of the first `first` of `leaves` and the tree of
/// all of them (RFC 9162 2.1.4.1), or `None` when `first` is larger than the tree.
pub fn consistency_proof(first: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = d.len();
        if m == n {
            if !complete {
                out.push(root(d));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, &d[..k], complete, out);
            out.push(root(&d[k..]));
        } else {
            subproof(m - k, &d[k..], false, out);
            out.push(root(&d[..k]));
        }
    }
    if first > leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    if first > 0 {
        subproof(first, leaves, true, &mut out);
    }
    Some(out)
}

/// A log's tree kept for serving proofs: every complete subtree's hash, level by level, so the
/// root of any size and any proof cost O(log² n) hashes rather than O(n). Appending a leaf
/// costs at most log n node hashes. Its answers are those of [`root`], [`inclusion_proof`]
/// and [`consistency_proof`] over the same leaves.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// `levels[k][i]`: the hash of leaves `i * 2^k .. (i + 1) * 2^k`.
    levels: Vec<Vec<Hash>>,
    /// For the tree as it stands, the hash of every range the RFC 9162 recursion visits that is
    /// not a complete subtree: each ends at the last leaf (`(start, hash)`, longest first).
    /// Computed at the first proof after a push (O(log n) hashes), so that proofs against the
    /// latest tree size, what resolution serves, hash nothing.
    edge: std::sync::OnceLock<Vec<(usize, Hash)>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves in the tree.
    pub fn len(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Whether it has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash of leaf `index`.
    pub fn leaf(&self, index: usize) -> Option<&Hash> {
        self.levels.first()?.get(index)
    }

    /// Appends the leaf whose hash is `leaf`.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        self.edge = std::sync::OnceLock::new();
        let (mut k, mut i) = (0, self.levels[0].len() - 1);
        while i % 2 == 1 {
            let parent = node_hash(&self.levels[k][i - 1], &self.levels[k][i]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(parent);
            k += 1;
            i /= 2;
        }
    }

    /// The root of leaves `start .. start + len`, a range the RFC 9162 recursion visits (its
    /// start a multiple of the power of two at or above its length).
    fn range(&self, start: usize, len: usize) -> Hash {
        match len {
            0 => Sha256::digest([]).into(),
            n if n.is_power_of_two() => self.complete(start, n),
            n => {
                if start + n == self.len() {
                    if let Some((_, hash)) = self.edge().iter().find(|(s, _)| *s == start) {
                        return *hash;
                    }
                }
                let k = split(n);
                node_hash(&self.range(start, k), &self.range(start + k, n - k))
            }
        }
    }

    /// The hash of the complete subtree of `n` (a power of two) leaves from `start`.
    fn complete(&self, start: usize, n: usize) -> Hash {
        let k = n.trailing_zeros() as usize;
        self.levels[k][start >> k]
    }

    /// The incomplete ranges ending at the last leaf, with their hashes (see `edge`).
    fn edge(&self) -> &[(usize, Hash)] {
        self.edge.get_or_init(|| {
            // Down the right edge: each incomplete range is a complete left subtree and the
            // rest, until the rest is complete.
            let mut splits = Vec::new();
            let (mut start, mut n) = (0, self.len());
            while n > 1 && !n.is_power_of_two() {
                let k = split(n);
                splits.push((start, k));
                start += k;
                n -= k;
            }
            if n == 0 {
                return Vec::new();
            }
            let mut hash = self.complete(start, n);
            let mut edge: Vec<(usize, Hash)> = splits
                .iter()
                .rev()
                .map(|&(s, k)| {
                    hash = node_hash(&self.complete(s, k), &hash);
                    (s, hash)
                })
                .collect();
            edge.reverse();
            edge
        })
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root(&self, size: usize) -> Option<Hash> {
        (size <= self.len()).then(|| self.range(0, size))
    }

    /// [`inclusion_proof`] of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: usize, size: usize) -> Option<Vec<Hash>> {
        if index >= size || size > self.len() {
            return None;
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Some(out)
    }

    fn path(&self, m: usize, start: usize, n: usize, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.range(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.range(start, k));
        }
    }

    /// [`consistency_proof`] between the first `first` and the first `size` leaves.
    pub fn consistency_proof(&self, first: usize, size: usize) -> Option<Vec<Hash>> {
        if first > size || size > self.len() {
            return None;
        }
        let mut out = Vec::new();
        if first > 0 {
            self.subproof(first, 0, size, true, &mut out);
        }
        Some(out)
    }

    fn subproof(&self, m: usize, start: usize, n: usize, complete: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !complete {
                out.push(self.range(start, n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, k, complete, out);
            out.push(self.range(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.range(start, k));
        }
    }
}

/// Why a proof does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// The index or sizes are impossible (an index past the tree, a smaller second tree).
    OutOfRange,
    /// The proof has the wrong number of hashes for those sizes.
    WrongLength,
    /// The hashes do not lead to the root (or roots) given.
    RootMismatch,
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProofError::OutOfRange => "index or tree size out of range",
            ProofError::WrongLength => "wrong number of hashes in the proof",
            ProofError::RootMismatch => "the proof does not lead to the root",
        })
    }
}

impl std::error::Error for ProofError {}

/// Checks that the leaf hashing to `leaf` is at `index` in the tree of `size` leaves whose root
/// is `root` (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::WrongLength);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `first` leaves with root `first_root` is a prefix of the tree of
/// `second` leaves with root `second_root` (RFC 9162 2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::OutOfRange);
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if first_root != second_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if first == 0 {
        // The empty tree is a prefix of every tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    if proof.is_empty() || proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *first_root || sr != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hash(v: &Value) -> Hash {
        hex(v.as_str().unwrap()).try_into().unwrap()
    }

    fn hashes(v: &Value) -> Vec<Hash> {
        v.as_array().unwrap().iter().map(hash).collect()
    }

    fn vectors() -> Value {
        serde_json::from_str(include_str!(
            "../vectors/external/transparency-dev-merkle/rfc6962.json"
        ))
        .unwrap()
    }

    /// The reference tree's roots for every size, and its proofs, generated and verified.
    #[test]
    fn rfc6962_reference_vectors() {
        let v = vectors();
        let leaves: Vec<Hash> = v["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| leaf_hash(&hex(l.as_str().unwrap())))
            .collect();
        let roots = hashes(&v["roots"]);
        for (n, want) in roots.iter().enumerate() {
            assert_eq!(root(&leaves[..n]), *want, "size {n}");
        }
        for p in v["inclusion"].as_array().unwrap() {
            let (index, size) = (p["index"].as_u64().unwrap(), p["size"].as_u64().unwrap());
            let proof = hashes(&p["proof"]);
            let tree = &leaves[..size as usize];
            assert_eq!(inclusion_proof(index as usize, tree).unwrap(), proof);
            verify_inclusion(
                index,
                size,
                &leaves[index as usize],
                &proof,
                &roots[size as usize],
            )
            .unwrap();
        }
        for p in v["consistency"].as_array().unwrap() {
            let (first, second) = (p["first"].as_u64().unwrap(), p["second"].as_u64().unwrap());
            let proof = hashes(&p["proof"]);
            let tree = &leaves[..second as usize];
            assert_eq!(consistency_proof(first as usize, tree).unwrap(), proof);
            verify_consistency(
                first,
                second,
                &roots[first as usize],
                &roots[second as usize],
                &proof,
            )
            .unwrap();
        }
    }

    /// Every proof of every leaf and every prefix of trees up to 40 leaves verifies, and every
    /// corruption of it (another index or size, a flipped bit, a hash added or dropped) fails.
    #[test]
    fn proofs_hold_and_corruptions_fail() {
        let leaves: Vec<Hash> = (0..40u8).map(|i| leaf_hash(&[i, i ^ 0x5a])).collect();
        for n in 1..=leaves.len() {
            let tree = &leaves[..n];
            let r = root(tree);
            let size = n as u64;
            for i in 0..n {
                let proof = inclusion_proof(i, tree).unwrap();
                let idx = i as u64;
                verify_inclusion(idx, size, &tree[i], &proof, &r).unwrap();
                assert!(verify_inclusion(idx + 1, size, &tree[i], &proof, &r).is_err());
                // Another tree height (the path's shape is bound to the size; a size of the
                // same shape and root is the same tree).
                assert!(verify_inclusion(idx, size * 2, &tree[i], &proof, &r).is_err());
                assert!(verify_inclusion(idx, size / 2, &tree[i], &proof, &r).is_err());
                assert!(verify_inclusion(idx, size, &leaves[(i + 1) % 40], &proof, &r).is_err());
                let mut longer = proof.clone();
                longer.push(r);
                assert!(verify_inclusion(idx, size, &tree[i], &longer, &r).is_err());
                for k in 0..proof.len() {
                    let mut flipped = proof.clone();
                    flipped[k][0] ^= 8;
                    assert!(verify_inclusion(idx, size, &tree[i], &flipped, &r).is_err());
                    let mut shorter = proof.clone();
                    shorter.remove(k);
                    assert!(verify_inclusion(idx, size, &tree[i], &shorter, &r).is_err());
                }
            }
            for m in 0..=n {
                let first = root(&tree[..m]);
                let proof = consistency_proof(m, tree).unwrap();
                let m64 = m as u64;
                verify_consistency(m64, size, &first, &r, &proof).unwrap();
                if m == 0 || m == n {
                    continue;
                }
                assert!(verify_consistency(m64, size, &r, &first, &proof).is_err());
                assert!(verify_consistency(m64 + 1, size, &first, &r, &proof).is_err());
                assert!(verify_consistency(m64, size * 2, &first, &r, &proof).is_err());
                assert!(verify_consistency(m64, size, &first, &r, &[]).is_err());
                for k in 0..proof.len() {
                    let mut flipped = proof.clone();
                    flipped[k][0] ^= 16;
                    assert!(verify_consistency(m64, size, &first, &r, &flipped).is_err());
                }
                // A tree that differs in one leaf of the first part is not an extension.
                let mut rewritten = tree.to_vec();
                rewritten[m - 1][0] ^= 1;
                let forged = consistency_proof(m, &rewritten).unwrap();
                assert!(verify_consistency(m64, size, &first, &root(&rewritten), &forged).is_err());
            }
        }
        // The kept tree answers as the reference functions, for every size and every proof.
        let mut tree = Tree::new();
        assert_eq!(tree.root(0), Some(root(&[])));
        for (n, leaf) in leaves.iter().enumerate() {
            tree.push(*leaf);
            let size = n + 1;
            assert_eq!(tree.len(), size);
            for s in 0..=size {
                assert_eq!(tree.root(s), Some(root(&leaves[..s])));
                assert_eq!(
                    tree.consistency_proof(s, size),
                    consistency_proof(s, &leaves[..size])
                );
                for i in 0..s {
                    assert_eq!(tree.inclusion_proof(i, s), inclusion_proof(i, &leaves[..s]));
                }
            }
            assert_eq!(tree.root(size + 1), None);
            assert_eq!(tree.inclusion_proof(size, size), None);
            assert_eq!(tree.consistency_proof(1, size + 1), None);
        }
        assert_eq!(
            verify_inclusion(0, 0, &leaves[0], &[], &leaves[0]),
            Err(ProofError::OutOfRange)
        );
        assert_eq!(inclusion_proof(3, &leaves[..3]), None);
        assert_eq!(consistency_proof(4, &leaves[..3]), None);
    }
}
