//! The transparency log's proof costs (spec section 5.2, "The transparency log"), with one leaf hash (SHA-256 of an
//! entry-sized input) as the floor: building the kept tree, proving and verifying inclusion and
//! consistency in a log of a million entries.
//!
//!   cargo bench -p agentid-spec --bench merkle

use std::hint::black_box;

use agentid_spec::merkle::{self, Hash, Tree};
use criterion::{criterion_group, criterion_main, Criterion};

const ENTRIES: usize = 1_000_000;

fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
        .collect()
}

fn bench(c: &mut Criterion) {
    // A public entry is about 600 bytes of JSON.
    let entry = vec![b'x'; 600];
    c.bench_function("leaf hash (600-byte entry), the floor", |b| {
        b.iter(|| merkle::leaf_hash(black_box(&entry)))
    });
    let all = leaves(ENTRIES);
    let mut tree = Tree::new();
    for l in &all {
        tree.push(*l);
    }
    // Appending costs one node hash per leaf, amortized, whatever the tree's size.
    c.bench_function("append 1,024 leaves", |b| {
        b.iter(|| {
            let mut t = Tree::new();
            for l in &all[..1024] {
                t.push(*l);
            }
            t
        })
    });
    let size = ENTRIES - 3; // not a power of two: every shape of the recursion
    let root = tree.root(size).unwrap();
    c.bench_function("root of 1M entries (kept tree)", |b| {
        b.iter(|| tree.root(black_box(size)))
    });
    let index = 123_457;
    let proof = tree.inclusion_proof(index, size).unwrap();
    c.bench_function("inclusion proof in 1M entries", |b| {
        b.iter(|| tree.inclusion_proof(black_box(index), size))
    });
    c.bench_function("verify inclusion in 1M entries", |b| {
        b.iter(|| {
            merkle::verify_inclusion(
                index as u64,
                size as u64,
                &all[index],
                black_box(&proof),
                &root,
            )
        })
    });
    // At the tree's own size, what a resolution's proof is made against: the hashes of the
    // incomplete ranges on the right edge are kept, so nothing is hashed.
    let latest = tree.len();
    c.bench_function("root of 1M entries at the latest size", |b| {
        b.iter(|| tree.root(black_box(latest)))
    });
    c.bench_function("inclusion proof in 1M entries at the latest size", |b| {
        b.iter(|| tree.inclusion_proof(black_box(index), latest))
    });
    let first = 700_001;
    let first_root = tree.root(first).unwrap();
    let consistency = tree.consistency_proof(first, size).unwrap();
    c.bench_function("consistency proof 700k -> 1M entries", |b| {
        b.iter(|| tree.consistency_proof(black_box(first), size))
    });
    c.bench_function("verify consistency 700k -> 1M entries", |b| {
        b.iter(|| {
            merkle::verify_consistency(
                first as u64,
                size as u64,
                &first_root,
                &root,
                black_box(&consistency),
            )
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
