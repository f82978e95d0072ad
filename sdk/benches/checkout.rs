//! Checkout verification in-process with warm caches, beside the bare Ed25519 verifications it
//! needs (two: the presentation's and the credential's), measured in the same run.
//!
//! `cargo bench -p agentid-sdk --bench checkout`

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use agentid_resolver::{ResolveError, Source};
use agentid_sdk::clock::FixedClock;
use agentid_sdk::issue::issue;
use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::create;
use agentid_sdk::present::{order_hash, present, CheckoutRequest};
use agentid_sdk::verify::{CheckoutContext, Limits, Verifier};
use agentid_spec::credential::{
    Amount, Currency, DelegationCredential, DelegationSubject, Scope, SpendingLimit,
    AGENTID_CONTEXT_V1, DELEGATION_TYPE, VC_CONTEXT_V2,
};
use agentid_spec::document::{
    AgentStatus, DidDocument, DocumentMetadata, ResolutionMetadata, ResolutionResult,
    VerificationMethod, DID_CONTEXT, MULTIKEY_CONTEXT,
};
use agentid_spec::jose::{sign_compact, CompactJws, JoseHeader};
use agentid_spec::status_list::{
    Bitstring, BitstringStatusList, BitstringStatusListCredential, BitstringStatusListEntry,
    MIN_BITS,
};
use agentid_spec::time::format_rfc3339;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ed25519_dalek::Verifier as _;

const NOW: i64 = 1_767_225_600;
const STATUS_URL: &str = "https://wallet.example/v1/status/3f1c";

struct MemorySource {
    resolutions: HashMap<String, ResolutionResult>,
    status_list: String,
}

impl Source for MemorySource {
    async fn resolve(&self, id: &str) -> Result<ResolutionResult, ResolveError> {
        self.resolutions
            .get(id)
            .cloned()
            .ok_or(ResolveError::NotFound)
    }
    async fn fetch_status_list(&self, _url: &str) -> Result<String, ResolveError> {
        Ok(self.status_list.clone())
    }
}

struct World {
    agent: KeyPair,
    agent_did: String,
    merchant: String,
    credential: String,
    verifier: Verifier<MemorySource>,
}

fn world() -> World {
    let principal = KeyPair::from_seed(&[1; 32]);
    let agent = KeyPair::from_seed(&[2; 32]);
    let merchant = KeyPair::from_seed(&[3; 32]).did_key().to_string();
    let agent_did = create(&agent, &agent, None, NOW).did.to_string();
    let kid = format!("{agent_did}#key-1");
    let doc = DidDocument {
        context: vec![DID_CONTEXT.into(), MULTIKEY_CONTEXT.into()],
        id: agent_did.clone(),
        also_known_as: vec![],
        verification_method: vec![VerificationMethod {
            id: kid.clone(),
            type_: "Multikey".into(),
            controller: agent_did.clone(),
            public_key_multibase: agent.did_key().multibase().into(),
        }],
        authentication: vec![kid.clone()],
        assertion_method: vec![kid],
    };
    let resolution = ResolutionResult {
        context: None,
        did_document: Some(doc),
        did_resolution_metadata: ResolutionMetadata::default(),
        did_document_metadata: Some(DocumentMetadata {
            created: None,
            updated: None,
            version_id: None,
            deactivated: false,
            agent_status: AgentStatus::Active,
            deplatformed: None,
        }),
    };
    let credential = issue(
        &DelegationCredential {
            context: vec![VC_CONTEXT_V2.into(), AGENTID_CONTEXT_V1.into()],
            id: "urn:uuid:00000000-0000-4000-8000-000000000007".into(),
            type_: vec!["VerifiableCredential".into(), DELEGATION_TYPE.into()],
            issuer: principal.did_key().to_string(),
            valid_from: format_rfc3339(NOW - 3600),
            valid_until: format_rfc3339(NOW + 86_400),
            credential_subject: DelegationSubject {
                id: agent_did.clone(),
                scope: Scope {
                    merchants: Some(vec![merchant.clone()]),
                    categories: Some(vec!["groceries".into()]),
                },
                spending_limit: SpendingLimit {
                    currency: Currency::parse("USD").unwrap(),
                    per_transaction: Amount::new(5_000).unwrap(),
                    total: Amount::new(20_000).unwrap(),
                },
            },
            credential_status: BitstringStatusListEntry {
                id: format!("{STATUS_URL}#7"),
                type_: "BitstringStatusListEntry".into(),
                status_purpose: "revocation".into(),
                status_list_index: "7".into(),
                status_list_credential: STATUS_URL.into(),
            },
        },
        &principal,
    );
    let slc = BitstringStatusListCredential {
        context: vec![VC_CONTEXT_V2.into()],
        id: STATUS_URL.into(),
        type_: vec![
            "VerifiableCredential".into(),
            "BitstringStatusListCredential".into(),
        ],
        issuer: principal.did_key().to_string(),
        valid_from: format_rfc3339(NOW - 60),
        valid_until: None,
        credential_subject: BitstringStatusList {
            id: format!("{STATUS_URL}#list"),
            type_: "BitstringStatusList".into(),
            status_purpose: "revocation".into(),
            encoded_list: Bitstring::new(MIN_BITS).encode(),
            ttl: None,
        },
    };
    let status_list = sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &principal.did_key().key_id()),
        &serde_json::to_vec(&slc).unwrap(),
        principal.signing_key(),
    );
    let source = MemorySource {
        resolutions: HashMap::from([(agent_did.clone(), resolution)]),
        status_list,
    };
    let limits = Limits {
        did_refresh_secs: i64::MAX / 4,
        status_refresh_secs: i64::MAX / 4,
        ..Limits::default()
    };
    let verifier = Verifier::new(source, Arc::new(FixedClock::new(NOW)), limits);
    World {
        agent,
        agent_did,
        merchant,
        credential,
        verifier,
    }
}

fn presentation(w: &World, nonce: &str) -> String {
    present(
        &CheckoutRequest {
            agent: &w.agent_did,
            key_fragment: "key-1",
            credential: &w.credential,
            merchant: &w.merchant,
            nonce,
            amount: Amount::new(4_200).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            order_hash: order_hash(b"order"),
            category: Some("groceries".into()),
            now: NOW,
            lifetime: 120,
        },
        &w.agent,
    )
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
        let ctx = CheckoutContext {
            merchant: w.merchant.clone(),
            nonce: n,
            ..Default::default()
        };
        (vp, ctx)
    };
    // Warm the caches.
    let (vp, ctx) = next();
    assert!(rt.block_on(w.verifier.verify(&vp, &ctx)).is_accepted());

    // The two signatures a checkout needs, as bare dalek verifications.
    let (vp, _) = next();
    let p = CompactJws::parse(&vp, 1 << 16, "vp+jwt").unwrap();
    let v = CompactJws::parse(&w.credential, 1 << 16, "vc+jwt").unwrap();
    let agent_key = w.agent.public();
    let principal_key = KeyPair::from_seed(&[1; 32]).public();
    let (m1, s1) = (p.signing_input().as_bytes().to_vec(), *p.signature());
    let (m2, s2) = (v.signing_input().as_bytes().to_vec(), *v.signature());

    let mut g = c.benchmark_group("checkout");
    g.bench_function("bare_ed25519_verify_x2", |b| {
        b.iter(|| {
            agent_key.verify(&m1, &s1).unwrap();
            principal_key.verify(&m2, &s2).unwrap();
        })
    });
    g.bench_function("bare_ed25519_verify_strict_x2", |b| {
        b.iter(|| {
            agent_key.verify_strict(&m1, &s1).unwrap();
            principal_key.verify_strict(&m2, &s2).unwrap();
        })
    });
    g.bench_function("bare_ed25519_verify_batch_x2", |b| {
        b.iter(|| {
            ed25519_dalek::verify_batch(&[&m1, &m2], &[s1, s2], &[agent_key, principal_key])
                .unwrap();
        })
    });
    g.bench_function("verify_checkout_warm", |b| {
        b.iter_batched(
            next,
            |(vp, ctx)| {
                let d = rt.block_on(w.verifier.verify(&vp, &ctx));
                assert!(d.is_accepted());
                d
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
