//! Checkout verification in-process with warm caches, beside the bare Ed25519 verifications it
//! needs (three: the presentation's, the credential's and the wallet's authorization's),
//! measured in the same run. Runs on jemalloc, the allocator of `agentid serve` (whose
//! `POST /v1/verify` is this check).
//!
//! `cargo bench -p agentid-sdk --bench checkout`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentid_sdk::keys::KeyPair;
use agentid_sdk::verify::CheckoutContext;
use agentid_spec::credential::DelegationCredential;
use agentid_spec::jose::CompactJws;
use agentid_spec::presentation::CheckoutPresentation;
use agentid_spec::presentation::Nonce;
use criterion::{criterion_group, criterion_main, Criterion};
use ed25519_dalek::Verifier as _;

#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "support/world.rs"]
mod world;

use world::{presentation, presentation_deep, world};

/// Every signature of a presentation, with what it signs: the presentation's, then each
/// enveloped credential's in order.
fn all_signatures(vp: &str) -> Vec<(Vec<u8>, ed25519_dalek::Signature)> {
    let p = CompactJws::parse(vp, 1 << 16, "vp+jwt").unwrap();
    let pres: CheckoutPresentation = serde_json::from_slice(&p.payload).unwrap();
    let mut out = vec![(p.signing_input().as_bytes().to_vec(), *p.signature())];
    for e in &pres.verifiable_credential {
        let c = CompactJws::parse(e.jws().unwrap(), 1 << 16, "vc+jwt").unwrap();
        out.push((c.signing_input().as_bytes().to_vec(), *c.signature()));
    }
    out
}

fn bench(c: &mut Criterion) {
    let w = world();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let counter = AtomicU64::new(0);
    let next = || {
        let n = format!("n-{}", counter.fetch_add(1, Ordering::Relaxed));
        let vp = presentation(&w, &n);
        let ctx = CheckoutContext::new(w.merchant.clone(), Nonce::parse(&n).unwrap());
        (vp, ctx)
    };
    // Warm the caches.
    let (vp, ctx) = next();
    assert!(rt.block_on(w.verifier.verify(&vp, &ctx)).is_accepted());

    // The two signatures a checkout needs, as bare dalek verifications: once on a fixed, hot
    // token, and once, like the real check below, on a freshly signed token per iteration.
    let agent_key = w.agent.public();
    let principal_key = KeyPair::from_seed(&[1; 32]).public();
    let wallet_key = w.wallet.public();
    let signatures = |vp: &str| {
        let p = CompactJws::parse(vp, 1 << 16, "vp+jwt").unwrap();
        let v = CompactJws::parse(&w.credential, 1 << 16, "vc+jwt").unwrap();
        let pres: CheckoutPresentation = serde_json::from_slice(&p.payload).unwrap();
        let a = CompactJws::parse(
            pres.verifiable_credential[1].jws().unwrap(),
            1 << 16,
            "vc+jwt",
        )
        .unwrap();
        (
            p.signing_input().as_bytes().to_vec(),
            *p.signature(),
            v.signing_input().as_bytes().to_vec(),
            *v.signature(),
            a.signing_input().as_bytes().to_vec(),
            *a.signature(),
        )
    };
    let (m1, s1, m2, s2, m3, s3) = signatures(&next().0);

    let mut g = c.benchmark_group("checkout");
    g.bench_function("bare_ed25519_verify_x3", |b| {
        b.iter(|| {
            agent_key.verify(&m1, &s1).unwrap();
            principal_key.verify(&m2, &s2).unwrap();
            wallet_key.verify(&m3, &s3).unwrap();
        })
    });
    // Both sides of the comparison verify presentations from a pool signed in bulk outside the
    // timed region, each presentation once (its nonce is then spent), as a merchant receives them.
    const POOL: usize = 2048;
    let pool = |n: usize| (0..n).map(|_| next()).collect::<Vec<_>>();
    g.bench_function("bare_ed25519_verify_x3_fresh_token", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch: Vec<_> = pool(left.min(POOL))
                    .iter()
                    .map(|(vp, _)| signatures(vp))
                    .collect();
                left -= batch.len();
                let t = Instant::now();
                for (m1, s1, m2, s2, m3, s3) in &batch {
                    agent_key.verify(m1, s1).unwrap();
                    principal_key.verify(m2, s2).unwrap();
                    wallet_key.verify(m3, s3).unwrap();
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("bare_ed25519_verify_batch_x3_fresh_token", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch: Vec<_> = pool(left.min(POOL))
                    .iter()
                    .map(|(vp, _)| signatures(vp))
                    .collect();
                left -= batch.len();
                let t = Instant::now();
                for (m1, s1, m2, s2, m3, s3) in &batch {
                    ed25519_dalek::verify_batch(
                        &[m1, m2, m3],
                        &[*s1, *s2, *s3],
                        &[agent_key, principal_key, wallet_key],
                    )
                    .unwrap();
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("bare_ed25519_verify_strict_x3", |b| {
        b.iter(|| {
            agent_key.verify_strict(&m1, &s1).unwrap();
            principal_key.verify_strict(&m2, &s2).unwrap();
            wallet_key.verify_strict(&m3, &s3).unwrap();
        })
    });
    g.bench_function("bare_ed25519_verify_batch_x3", |b| {
        b.iter(|| {
            ed25519_dalek::verify_batch(
                &[&m1, &m2, &m3],
                &[s1, s2, s3],
                &[agent_key, principal_key, wallet_key],
            )
            .unwrap();
        })
    });
    let (token, _) = next();
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            let p = CompactJws::parse(&token, 1 << 16, "vp+jwt").unwrap();
            let mut pres: CheckoutPresentation = serde_json::from_slice(&p.payload).unwrap();
            let env = pres.verifiable_credential.remove(0);
            let v = CompactJws::parse(env.jws().unwrap(), 1 << 16, "vc+jwt").unwrap();
            let c: DelegationCredential = serde_json::from_slice(&v.payload).unwrap();
            c.validate().unwrap()
        })
    });
    // The signatures new at every checkout (the presentation's and the authorization's): what
    // a repeat check of the same delegation must verify.
    g.bench_function("bare_ed25519_verify_x2_new", |b| {
        b.iter(|| {
            agent_key.verify(&m1, &s1).unwrap();
            wallet_key.verify(&m3, &s3).unwrap();
        })
    });
    g.bench_function("bare_ed25519_verify_batch_x2_new", |b| {
        b.iter(|| {
            ed25519_dalek::verify_batch(&[&m1, &m3], &[s1, s3], &[agent_key, wallet_key]).unwrap();
        })
    });
    // A repeat check: the delegation's bytes verified before under the issuer's current key.
    g.bench_function("verify_checkout_repeat", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch = pool(left.min(POOL));
                left -= batch.len();
                let t = Instant::now();
                for (vp, ctx) in &batch {
                    let d = rt.block_on(w.verifier.verify(vp, ctx));
                    assert!(d.is_accepted());
                }
                total += t.elapsed();
            }
            total
        })
    });
    // A first check: all three signatures (the remembered credential forgotten before each).
    g.bench_function("verify_checkout_first", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch = pool(left.min(POOL));
                left -= batch.len();
                let mut elapsed = Duration::ZERO;
                for (vp, ctx) in &batch {
                    w.verifier.forget_verified_credentials();
                    let t = Instant::now();
                    let d = rt.block_on(w.verifier.verify(vp, ctx));
                    elapsed += t.elapsed();
                    assert!(d.is_accepted());
                }
                total += elapsed;
            }
            total
        })
    });

    // Depth 3: the principal's delegation and two sub-delegations, and the authorization.
    let deep_next = || {
        let n = format!("d-{}", counter.fetch_add(1, Ordering::Relaxed));
        let vp = presentation_deep(&w, &n);
        let ctx = CheckoutContext::new(w.merchant.clone(), Nonce::parse(&n).unwrap());
        (vp, ctx)
    };
    let (vp, ctx) = deep_next();
    assert!(rt.block_on(w.verifier.verify(&vp, &ctx)).is_accepted());
    let keys = &w.deep.keys;
    let sigs = all_signatures(&deep_next().0);
    assert_eq!(sigs.len(), keys.len());
    // The same batch over freshly signed presentations from a pool, each once, as the real
    // check below sees them (not one hot token in cache).
    g.bench_function("bare_ed25519_verify_batch_x5_depth3_fresh_token", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch: Vec<_> = (0..left.min(POOL))
                    .map(|_| all_signatures(&deep_next().0))
                    .collect();
                left -= batch.len();
                let t = Instant::now();
                for sigs in &batch {
                    let messages: Vec<&[u8]> = sigs.iter().map(|(m, _)| m.as_slice()).collect();
                    let signatures: Vec<_> = sigs.iter().map(|(_, s)| *s).collect();
                    ed25519_dalek::verify_batch(&messages, &signatures, keys).unwrap();
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("bare_ed25519_verify_x2_new_depth3_fresh_token", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch: Vec<_> = (0..left.min(POOL))
                    .map(|_| all_signatures(&deep_next().0))
                    .collect();
                left -= batch.len();
                let t = Instant::now();
                for sigs in &batch {
                    keys[0].verify(&sigs[0].0, &sigs[0].1).unwrap();
                    keys[4].verify(&sigs[4].0, &sigs[4].1).unwrap();
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("bare_ed25519_verify_x5_depth3", |b| {
        b.iter(|| {
            for ((m, s), k) in sigs.iter().zip(keys) {
                k.verify(m, s).unwrap();
            }
        })
    });
    g.bench_function("bare_ed25519_verify_batch_x5_depth3", |b| {
        let messages: Vec<&[u8]> = sigs.iter().map(|(m, _)| m.as_slice()).collect();
        let signatures: Vec<_> = sigs.iter().map(|(_, s)| *s).collect();
        b.iter(|| ed25519_dalek::verify_batch(&messages, &signatures, keys).unwrap())
    });
    // New at every checkout of the sub-agent: its presentation's and the authorization's.
    g.bench_function("bare_ed25519_verify_x2_new_depth3", |b| {
        b.iter(|| {
            keys[0].verify(&sigs[0].0, &sigs[0].1).unwrap();
            keys[4].verify(&sigs[4].0, &sigs[4].1).unwrap();
        })
    });
    let deep_pool = |n: usize| (0..n).map(|_| deep_next()).collect::<Vec<_>>();
    g.bench_function("verify_checkout_depth3_repeat", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch = deep_pool(left.min(POOL));
                left -= batch.len();
                let t = Instant::now();
                for (vp, ctx) in &batch {
                    let d = rt.block_on(w.verifier.verify(vp, ctx));
                    assert!(d.is_accepted());
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("verify_checkout_depth3_first", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let batch = deep_pool(left.min(POOL));
                left -= batch.len();
                let mut elapsed = Duration::ZERO;
                for (vp, ctx) in &batch {
                    w.verifier.forget_verified_credentials();
                    let t = Instant::now();
                    let d = rt.block_on(w.verifier.verify(vp, ctx));
                    elapsed += t.elapsed();
                    assert!(d.is_accepted());
                }
                total += elapsed;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
