//! Runs N checkout verifications, or N bare verifications of the same signatures, over a pool of
//! presentations signed first, for counting instructions with callgrind (repeatable, unlike time
//! on a shared machine):
//!
//! ```sh
//! for mode in setup bare batch bare_new batch_new full first deep_full deep_first; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$mode \
//!     target/release/examples/count_checkout $mode 500
//! done
//! ```
//! `full` is a repeat check (the delegation verified before): (full - setup) / (bare_new - setup)
//! is its cost relative to the two signatures new at each checkout (the presentation's and the
//! authorization's). `first` verifies all three: (first - setup) / (bare - setup).

#[path = "../benches/support/world.rs"]
mod world;

use agentid_sdk::keys::KeyPair;
use agentid_sdk::verify::CheckoutContext;
use agentid_spec::jose::CompactJws;
use agentid_spec::presentation::Nonce;
use ed25519_dalek::Verifier as _;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "full".into());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let w = world::world();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool: Vec<(String, CheckoutContext)> = (0..=n)
        .map(|i| {
            let nonce = format!("n-{i}");
            let vp = world::presentation(&w, &nonce);
            (
                vp,
                CheckoutContext::new(w.merchant.clone(), Nonce::parse(&nonce).unwrap()),
            )
        })
        .collect();
    // Warm the caches with the first presentation in every mode.
    assert!(rt
        .block_on(w.verifier.verify(&pool[0].0, &pool[0].1))
        .is_accepted());
    let agent = w.agent.public();
    let principal = KeyPair::from_seed(&[1; 32]).public();
    let wallet = w.wallet.public();
    let sigs: Vec<_> = pool[1..]
        .iter()
        .map(|(vp, _)| {
            let p = CompactJws::parse(vp, 1 << 16, "vp+jwt").unwrap();
            let v = CompactJws::parse(&w.credential, 1 << 16, "vc+jwt").unwrap();
            let pres: agentid_spec::presentation::CheckoutPresentation =
                serde_json::from_slice(&p.payload).unwrap();
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
        })
        .collect();
    match mode.as_str() {
        "setup" => {}
        "bare" => {
            for (m1, s1, m2, s2, m3, s3) in &sigs {
                agent.verify(m1, s1).unwrap();
                principal.verify(m2, s2).unwrap();
                wallet.verify(m3, s3).unwrap();
            }
        }
        "batch" => {
            for (m1, s1, m2, s2, m3, s3) in &sigs {
                ed25519_dalek::verify_batch(
                    &[m1, m2, m3],
                    &[*s1, *s2, *s3],
                    &[agent, principal, wallet],
                )
                .unwrap();
            }
        }
        "batch_new" => {
            for (m1, s1, _, _, m3, s3) in &sigs {
                ed25519_dalek::verify_batch(&[m1, m3], &[*s1, *s3], &[agent, wallet]).unwrap();
            }
        }
        "bare_new" => {
            for (m1, s1, _, _, m3, s3) in &sigs {
                agent.verify(m1, s1).unwrap();
                wallet.verify(m3, s3).unwrap();
            }
        }
        "full" => {
            for (vp, ctx) in &pool[1..] {
                assert!(rt.block_on(w.verifier.verify(vp, ctx)).is_accepted());
            }
        }
        "first" => {
            for (vp, ctx) in &pool[1..] {
                w.verifier.forget_verified_credentials();
                assert!(rt.block_on(w.verifier.verify(vp, ctx)).is_accepted());
            }
        }
        "deep_full" | "deep_first" => {
            let deep: Vec<(String, CheckoutContext)> = (0..n)
                .map(|i| {
                    let nonce = format!("d-{i}");
                    (
                        world::presentation_deep(&w, &nonce),
                        CheckoutContext::new(w.merchant.clone(), Nonce::parse(&nonce).unwrap()),
                    )
                })
                .collect();
            assert!(rt
                .block_on(w.verifier.verify(&deep[0].0, &deep[0].1))
                .is_accepted());
            let mut spent = std::time::Duration::ZERO;
            for (vp, ctx) in &deep[1..] {
                if mode == "deep_first" {
                    w.verifier.forget_verified_credentials();
                }
                let t = std::time::Instant::now();
                assert!(rt.block_on(w.verifier.verify(vp, ctx)).is_accepted());
                spent += t.elapsed();
            }
            eprintln!("{mode}: {:?} per check", spent / (n as u32 - 1).max(1));
        }
        other => panic!("unknown mode {other}"),
    }
}
