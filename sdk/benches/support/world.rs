//! The in-memory world the checkout benchmark and the instruction-count example share: a
//! registered agent, a principal's credential and status list, and a verifier whose caches are
//! warmed from a [`MemorySource`].

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use agentid_resolver::{ResolveError, Source};
use agentid_sdk::clock::FixedClock;
use agentid_sdk::issue::issue;
use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::create;
use agentid_sdk::present::{order_hash, present, CheckoutRequest};
use agentid_sdk::verify::{Limits, TrustPolicy, Verifier};
use agentid_spec::authorization::{credential_hash, SpendAuthorization, SpendSubject};
use agentid_spec::credential::{
    Amount, Category, Currency, DelegationCredential, Grant, Scope, SpendingLimit,
};
use agentid_spec::document::{DidDocument, DocumentMetadata, ResolutionResult};
use agentid_spec::id::Did;
use agentid_spec::jose::{sign_compact, JoseHeader};
use agentid_spec::presentation::{Nonce, Transaction};
use agentid_spec::status_list::{
    Bitstring, BitstringStatusListCredential, BitstringStatusListEntry, MIN_BITS,
};
use agentid_spec::time::Timestamp;

const NOW: i64 = 1_767_225_600;
const STATUS_URL: &str = "https://wallet.example/v1/status/3f1c";

pub struct MemorySource {
    resolutions: HashMap<String, ResolutionResult>,
    status_list: String,
}

pub const REGISTRY: &str = "https://registry.example";
pub const WALLET: &str = "did:web:wallet.example";

impl Source for MemorySource {
    fn registry(&self) -> &str {
        REGISTRY
    }

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

pub struct World {
    pub wallet: KeyPair,
    pub agent: KeyPair,
    pub agent_did: Did,
    pub merchant: Did,
    pub credential: String,
    pub verifier: Verifier<MemorySource>,
    /// A depth-3 chain: the principal delegates to `agent` (maxDepth 2), which delegates to a
    /// second agent, which delegates to `deep_agent`.
    pub deep: Deep,
}

/// The sub-agent at the end of a depth-3 chain, and its chain (the principal's delegation first).
pub struct Deep {
    pub agent: KeyPair,
    pub did: Did,
    pub chain: Vec<String>,
    /// Every signer's key in the order of a presentation's signatures: the sub-agent, the
    /// principal, the two delegating agents, the wallet.
    pub keys: Vec<ed25519_dalek::VerifyingKey>,
}

/// A registered agent's DID and resolution.
fn registered(key: &KeyPair) -> (Did, ResolutionResult) {
    let genesis = create(key, key, None, NOW);
    let methods = BTreeMap::from([("key-1".to_owned(), key.did_key().multibase().to_owned())]);
    let resolution = ResolutionResult::found(
        DidDocument::agent(&genesis.did, None, &methods),
        DocumentMetadata::registered(
            NOW,
            NOW,
            agentid_spec::id::hash_b32(genesis.operation.as_bytes()),
            agentid_spec::document::AgentStatus::Active,
            None,
        ),
    );
    (genesis.did.into(), resolution)
}

/// A sub-delegation from `by` (holding `parent`) to `to`: half the parent's total, one level
/// less, status bit `index`.
fn link(parent: &str, by: (&KeyPair, &Did), to: &Did, index: usize) -> String {
    let p: DelegationCredential = serde_json::from_slice(
        &agentid_spec::jose::b64u_decode(parent.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    let s = &p.credential_subject;
    let c = DelegationCredential::link(
        format!("urn:uuid:00000000-0000-4000-8000-{index:012}"),
        by.1.clone(),
        Grant {
            agent: to.clone(),
            scope: s.scope.clone(),
            spending_limit: SpendingLimit::new(
                s.spending_limit.currency(),
                s.spending_limit.per_transaction(),
                Amount::new(s.spending_limit.total().get() / 2).unwrap(),
            )
            .unwrap(),
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            max_depth: agentid_spec::credential::Depth::new(s.max_depth.get() - 1).unwrap(),
        },
        BitstringStatusListEntry::revocation(STATUS_URL, index),
        agentid_spec::credential::ParentLink {
            id: p.id.clone(),
            digest: credential_hash(parent),
        },
    );
    sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{}#key-1", by.1)),
        &serde_json::to_vec(&c).unwrap(),
        by.0.signing_key(),
    )
}

pub fn world() -> World {
    let principal = KeyPair::from_seed(&[1; 32]);
    let agent = KeyPair::from_seed(&[2; 32]);
    let merchant: Did = KeyPair::from_seed(&[3; 32]).did_key().into();
    let genesis = create(&agent, &agent, None, NOW);
    let agent_did: Did = genesis.did.clone().into();
    let methods = BTreeMap::from([("key-1".to_owned(), agent.did_key().multibase().to_owned())]);
    let resolution = ResolutionResult::found(
        DidDocument::agent(&genesis.did, None, &methods),
        DocumentMetadata::registered(
            NOW,
            NOW,
            agentid_spec::id::hash_b32(genesis.operation.as_bytes()),
            agentid_spec::document::AgentStatus::Active,
            None,
        ),
    );
    let grant = Grant {
        agent: agent_did.clone(),
        scope: Scope::new(
            Some(vec![merchant.to_string()]),
            Some(vec!["groceries".into()]),
        )
        .unwrap(),
        spending_limit: SpendingLimit::new(
            Currency::parse("USD").unwrap(),
            Amount::new(5_000).unwrap(),
            Amount::new(20_000).unwrap(),
        )
        .unwrap(),
        valid_from: Timestamp::from_unix(NOW - 3600).unwrap(),
        valid_until: Timestamp::from_unix(NOW + 86_400).unwrap(),
        max_depth: agentid_spec::credential::Depth::ZERO,
    };
    let credential = issue(
        &DelegationCredential::new(
            "urn:uuid:00000000-0000-4000-8000-000000000007".into(),
            principal.did_key().into(),
            grant,
            BitstringStatusListEntry::revocation(STATUS_URL, 7),
        ),
        &principal,
    );
    let slc = BitstringStatusListCredential::revocation(
        STATUS_URL,
        principal.did_key().into(),
        &Bitstring::new(MIN_BITS),
        Timestamp::from_unix(NOW - 60).unwrap(),
        None,
        None,
    );
    let status_list = sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &principal.did_key().key_id()),
        &serde_json::to_vec(&slc).unwrap(),
        principal.signing_key(),
    );
    // The depth-3 chain: principal -> agent (maxDepth 2) -> second -> deep.
    let root = {
        let mut c: DelegationCredential = serde_json::from_slice(
            &agentid_spec::jose::b64u_decode(credential.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap();
        c.id = "urn:uuid:00000000-0000-4000-8000-000000000030".into();
        c.credential_subject.max_depth = agentid_spec::credential::Depth::new(2).unwrap();
        c.credential_status = BitstringStatusListEntry::revocation(STATUS_URL, 30);
        issue(&c, &principal)
    };
    let second = KeyPair::from_seed(&[5; 32]);
    let deep = KeyPair::from_seed(&[6; 32]);
    let (second_did, second_resolution) = registered(&second);
    let (deep_did, deep_resolution) = registered(&deep);
    let l1 = link(&root, (&agent, &agent_did), &second_did, 31);
    let l2 = link(&l1, (&second, &second_did), &deep_did, 32);
    let wallet = KeyPair::from_seed(&[10; 32]);
    let deep = Deep {
        keys: vec![
            deep.public(),
            principal.public(),
            agent.public(),
            second.public(),
            wallet.public(),
        ],
        agent: deep,
        did: deep_did.clone(),
        chain: vec![root, l1, l2],
    };
    let mut wallet_doc = DidDocument::new(
        WALLET,
        Vec::new(),
        [("key-1", wallet.did_key().multibase())],
    );
    wallet_doc.authentication.clear();
    let source = MemorySource {
        resolutions: HashMap::from([
            (agent_did.to_string(), resolution),
            (second_did.to_string(), second_resolution),
            (deep_did.to_string(), deep_resolution),
            (
                WALLET.to_owned(),
                ResolutionResult::found(wallet_doc, DocumentMetadata::unregistered()),
            ),
        ]),
        status_list,
    };
    // One agent checks out at one merchant hundreds of thousands of times at a fixed clock:
    // the replay memory (still written every check) holds them all.
    let limits = Limits {
        did_refresh_secs: i64::MAX / 4,
        status_refresh_secs: i64::MAX / 4,
        max_nonces: 10_000_000,
        max_nonces_per_merchant: 10_000_000,
        max_nonces_per_agent: 10_000_000,
        ..Limits::default()
    };
    let policy = TrustPolicy::new()
        .trust_registry(REGISTRY)
        .trust_wallet(Did::parse(WALLET).unwrap());
    let verifier = Verifier::new(source, policy, Arc::new(FixedClock::new(NOW)), limits);
    World {
        wallet,
        agent,
        agent_did,
        merchant,
        credential,
        verifier,
        deep,
    }
}

/// The wallet's authorization of 42.00 USD at the merchant for `nonce`.
pub fn authorization(w: &World, nonce: &str) -> String {
    authorize(w, std::slice::from_ref(&w.credential), &w.agent_did, nonce)
}

/// The wallet's authorization of 42.00 USD for `agent` under `chain` for `nonce`.
fn authorize(w: &World, chain: &[String], agent: &Did, nonce: &str) -> String {
    let payload = |jws: &str| -> DelegationCredential {
        serde_json::from_slice(
            &agentid_spec::jose::b64u_decode(jws.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap()
    };
    let leaf = chain.last().unwrap();
    let delegation = payload(leaf);
    let principal = payload(&chain[0]).issuer;
    let a = SpendAuthorization::new(
        "6c1a7d1e-0000-4000-8000-000000000001",
        Did::parse(WALLET).unwrap(),
        Timestamp::from_unix(NOW).unwrap(),
        Timestamp::from_unix(NOW + 900).unwrap(),
        SpendSubject {
            id: agent.clone(),
            principal,
            delegation: delegation.id,
            delegation_hash: credential_hash(leaf),
            merchant: w.merchant.clone(),
            nonce: Nonce::parse(nonce).unwrap(),
            transaction: Transaction {
                amount: Amount::new(4_200).unwrap(),
                currency: Currency::parse("USD").unwrap(),
                order_hash: order_hash(b"order"),
                category: Some(Category::parse("groceries").unwrap()),
            },
        },
    );
    sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{WALLET}#key-1")),
        &serde_json::to_vec(&a).unwrap(),
        w.wallet.signing_key(),
    )
}

pub fn presentation(w: &World, nonce: &str) -> String {
    let auth = authorization(w, nonce);
    present(
        &CheckoutRequest {
            agent: &w.agent_did,
            key_fragment: "key-1",
            credential: &w.credential,
            links: &[],
            merchant: &w.merchant,
            nonce: &Nonce::parse(nonce).unwrap(),
            amount: Amount::new(4_200).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            order_hash: order_hash(b"order"),
            category: Some(Category::parse("groceries").unwrap()),
            now: NOW,
            lifetime: 120,
            authorization: Some(&auth),
        },
        &w.agent,
    )
}

/// A presentation by the depth-3 chain's sub-agent, with the wallet's authorization.
pub fn presentation_deep(w: &World, nonce: &str) -> String {
    let d = &w.deep;
    let auth = authorize(w, &d.chain, &d.did, nonce);
    present(
        &CheckoutRequest {
            agent: &d.did,
            key_fragment: "key-1",
            credential: &d.chain[0],
            links: &d.chain[1..],
            merchant: &w.merchant,
            nonce: &Nonce::parse(nonce).unwrap(),
            amount: Amount::new(4_200).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            order_hash: order_hash(b"order"),
            category: Some(Category::parse("groceries").unwrap()),
            now: NOW,
            lifetime: 120,
            authorization: Some(&auth),
        },
        &d.agent,
    )
}
