//! The verification vectors (section 8): one world of agents, wallets and status lists, and
//! one checkout presentation per case with the decision the verifier reaches.

use std::collections::BTreeMap;
use std::sync::Arc;

use agentid_resolver::{ResolveError, Source};
use agentid_spec::authorization::{credential_hash, SpendAuthorization, SpendSubject};
use agentid_spec::credential::{
    Amount, Category, Currency, DelegationCredential, Depth, Grant, ParentLink, Scope,
    SpendingLimit,
};
use agentid_spec::document::{
    AgentStatus, Deplatforming, DidDocument, DocumentMetadata, ResolutionResult,
};
use agentid_spec::id::{AgentDid, AgentName, Did};
use agentid_spec::jose::{b64u, sign_compact, JoseHeader};
use agentid_spec::operation::Operation;
use agentid_spec::presentation::{CheckoutPresentation, Nonce, Transaction};
use agentid_spec::status_list::{
    Bitstring, BitstringStatusListCredential, BitstringStatusListEntry, MIN_BITS,
};
use agentid_spec::time::{format_rfc3339, Timestamp};
use serde_json::{json, Value};

use crate::clock::FixedClock;
use crate::issue::issue;
use crate::keys::KeyPair;
use crate::operation::create;
use crate::present::{order_hash, present, CheckoutRequest};
use crate::verify::{CheckoutContext, Limits, TrustPolicy, Verifier};

use super::{dir, pretty, NOW};

const STATUS_URL: &str = "https://wallet.example/v1/status/3f1c";
const MISSING_STATUS_URL: &str = "https://wallet.example/v1/status/gone";
const ORDER: &[u8] = br#"{"items":[{"sku":"milk-1l","qty":2}],"total":4200}"#;
const REGISTRY: &str = "https://registry.example";
const WALLET: &str = "did:web:wallet.example";
const ROGUE_WALLET: &str = "did:web:rogue-wallet.example";

struct Agent {
    key: KeyPair,
    did: Did,
    genesis: String,
}

fn agent(seed: u8, name: Option<&str>) -> Agent {
    let key = KeyPair::from_seed(&[seed; 32]);
    let g = create(
        &key,
        &key,
        name.map(|n| AgentName::parse(n).unwrap()),
        NOW - 86_400,
    );
    Agent {
        key,
        did: g.did.into(),
        genesis: g.operation,
    }
}

/// The document the registry derives from a genesis operation (spec section 4.1).
fn document(a: &Agent, name: Option<&str>) -> DidDocument {
    let did = AgentDid::parse(a.did.as_str()).unwrap();
    let name = name.map(|n| AgentName::parse(n).unwrap());
    let methods = BTreeMap::from([("key-1".to_owned(), a.key.did_key().multibase().to_owned())]);
    DidDocument::agent(&did, name.as_ref(), &methods)
}

fn resolution(a: &Agent, status: AgentStatus) -> ResolutionResult {
    ResolutionResult::found(
        document(a, None),
        DocumentMetadata::registered(
            NOW - 86_400,
            NOW - 3_600,
            agentid_spec::id::hash_b32(a.genesis.as_bytes()),
            status,
            (status == AgentStatus::Deplatformed).then(|| Deplatforming {
                reason: "card testing fraud".into(),
                at: format_rfc3339(NOW - 3_600),
            }),
        ),
    )
}

/// `a`'s resolution while suspended until `until`.
fn suspended(a: &Agent, until: i64) -> ResolutionResult {
    let mut r = resolution(a, AgentStatus::Suspended);
    if let Some(m) = r.did_document_metadata.as_mut() {
        m.suspended = Some(agentid_spec::document::Suspension {
            reason_code: "fraud".into(),
            reason: "chargebacks under review".into(),
            evidence_hash: None,
            at: format_rfc3339(NOW - 600),
            until: format_rfc3339(until),
        });
    }
    r
}

fn credential(
    principal: &KeyPair,
    subject: &Did,
    index: u32,
    from: i64,
    until: i64,
    status_url: &str,
) -> DelegationCredential {
    let grant = Grant {
        agent: subject.clone(),
        scope: Scope::new(
            Some(vec![KeyPair::from_seed(&[3; 32]).did_key().to_string()]),
            Some(vec!["groceries".into()]),
        )
        .unwrap(),
        spending_limit: SpendingLimit::new(
            Currency::parse("USD").unwrap(),
            Amount::new(5_000).unwrap(),
            Amount::new(20_000).unwrap(),
        )
        .unwrap(),
        valid_from: Timestamp::from_unix(from).unwrap(),
        valid_until: Timestamp::from_unix(until).unwrap(),
        max_depth: agentid_spec::credential::Depth::ZERO,
    };
    DelegationCredential::new(
        format!("urn:uuid:00000000-0000-4000-8000-{index:012}"),
        principal.did_key().into(),
        grant,
        BitstringStatusListEntry::revocation(status_url, index as usize),
    )
}

fn status_list(principal: &KeyPair, revoked: &[usize]) -> String {
    let mut bits = Bitstring::new(MIN_BITS);
    for &i in revoked {
        bits.set(i, true);
    }
    let slc = BitstringStatusListCredential::revocation(
        STATUS_URL,
        principal.did_key().into(),
        &bits,
        Timestamp::from_unix(NOW - 60).unwrap(),
        Timestamp::from_unix(NOW + 86_400),
        Some(60_000),
    );
    let header = JoseHeader::eddsa("vc+jwt", Some("vc"), &principal.did_key().key_id());
    sign_compact(
        &header,
        &serde_json::to_vec(&slc).unwrap(),
        principal.signing_key(),
    )
}

/// The wallet's document: one assertion key, `key-1`.
fn wallet_document(did: &str, key: &KeyPair) -> ResolutionResult {
    let mut doc = DidDocument::new(did, Vec::new(), [("key-1", key.did_key().multibase())]);
    doc.authentication.clear();
    ResolutionResult::found(doc, DocumentMetadata::unregistered())
}

/// The wallet's spend authorization of hold `hold` for a checkout by `agent` under the
/// delegation `credential`, valid from `from` until `until`.
#[allow(clippy::too_many_arguments)]
fn authorization(
    wallet: &str,
    key: &KeyPair,
    hold: &str,
    credential: &str,
    agent: &Did,
    merchant: &Did,
    nonce: &str,
    transaction: Transaction,
    from: i64,
    until: i64,
) -> String {
    let delegation: DelegationCredential =
        serde_json::from_slice(&crate::vectors_support::payload(credential)).unwrap();
    let a = SpendAuthorization::new(
        hold,
        Did::parse(wallet).unwrap(),
        Timestamp::from_unix(from).unwrap(),
        Timestamp::from_unix(until).unwrap(),
        SpendSubject {
            id: agent.clone(),
            principal: delegation.issuer,
            delegation: delegation.id,
            delegation_hash: credential_hash(credential),
            merchant: merchant.clone(),
            nonce: Nonce::parse(nonce).unwrap(),
            transaction,
        },
    );
    sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{wallet}#key-1")),
        &serde_json::to_vec(&a).unwrap(),
        key.signing_key(),
    )
}

/// The trust policy of the vectors, as `world.json` states it.
fn policy(world: &Value) -> TrustPolicy {
    let t = &world["trust"];
    let mut p = TrustPolicy::new().allow_did_key_agents(t["allowDidKeyAgents"].as_bool().unwrap());
    for r in t["registries"].as_array().unwrap() {
        p = p.trust_registry(r.as_str().unwrap());
    }
    for w in t["wallets"].as_array().unwrap() {
        p = p.trust_wallet(Did::parse(w.as_str().unwrap()).unwrap());
    }
    p
}

struct Case {
    name: &'static str,
    description: &'static str,
    section: &'static str,
    presentation: String,
    context: CheckoutContext,
    /// Verify twice; the vector's output is the second decision.
    replay: bool,
    /// The verifier's `max_nonces`, when not the default.
    max_nonces: Option<usize>,
    codes: Vec<&'static str>,
}

/// The verification vectors and the genesis vector.
pub(super) fn vectors(files: &mut BTreeMap<String, String>) {
    let principal = KeyPair::from_seed(&[1; 32]);
    let alice = agent(2, Some("shopper.alice"));
    let merchant: Did = KeyPair::from_seed(&[3; 32]).did_key().into();
    let other_merchant: Did = KeyPair::from_seed(&[4; 32]).did_key().into();
    let bob = agent(5, None);
    let carol = agent(6, None);
    let dave = agent(7, None);
    let unregistered = agent(8, None);
    let mallory = KeyPair::from_seed(&[9; 32]);
    let wallet_key = KeyPair::from_seed(&[10; 32]);
    let rogue_wallet_key = KeyPair::from_seed(&[11; 32]);
    let erin = agent(14, None);
    let frank = agent(15, None);

    // Identifiers: a genesis operation, the DID it defines, and the document.
    files.insert(
        "identifiers/genesis.json".into(),
        pretty(&json!({
            "description": "A signed create operation; the DID is did:agentid: + base32(SHA-256(operation)) and the registry's document lists key-1 and the name.",
            "section": "2.1, 4.1, 5.1",
            "input": { "operation": alice.genesis },
            "output": {
                "did": alice.did,
                "payload": serde_json::from_slice::<Operation>(&crate::vectors_support::payload(&alice.genesis)).unwrap(),
                "didDocument": document(&alice, Some("shopper.alice")),
            },
        })),
    );

    let world = json!({
        "description": "What the verifier's Source answers in the verification vectors: DID resolution results through the registry `registry`, signed status lists, and wallets' did:web documents; and the verifier's trust policy. The clock is `now` of each case.",
        "registry": REGISTRY,
        "resolutions": {
            alice.did.to_string(): resolution(&alice, AgentStatus::Active),
            bob.did.to_string(): resolution(&bob, AgentStatus::Active),
            carol.did.to_string(): resolution(&carol, AgentStatus::Deactivated),
            dave.did.to_string(): resolution(&dave, AgentStatus::Deplatformed),
            erin.did.to_string(): resolution(&erin, AgentStatus::Active),
            frank.did.to_string(): suspended(&frank, NOW + 3_600),
        },
        "statusLists": { STATUS_URL: status_list(&principal, &[13, 33]) },
        "wallets": {
            WALLET: wallet_document(WALLET, &wallet_key),
            ROGUE_WALLET: wallet_document(ROGUE_WALLET, &rogue_wallet_key),
        },
        "trust": {
            "registries": [REGISTRY],
            "wallets": [WALLET],
            "allowDidKeyAgents": false,
        },
    });
    files.insert("verification/world.json".into(), pretty(&world));

    let ok_cred = issue(
        &credential(
            &principal,
            &alice.did,
            7,
            NOW - 3_600,
            NOW + 7 * 86_400,
            STATUS_URL,
        ),
        &principal,
    );
    let vp = |cred: &str,
              who: &Agent,
              fragment: &str,
              merchant: &Did,
              nonce: &str,
              amount: u64,
              currency: &str,
              at: i64,
              lifetime: i64| {
        let transaction = Transaction {
            amount: Amount::new(amount).unwrap(),
            currency: Currency::parse(currency).unwrap(),
            order_hash: order_hash(ORDER),
            category: Some(Category::parse("groceries").unwrap()),
        };
        let auth = authorization(
            WALLET,
            &wallet_key,
            "6c1a7d1e-0000-4000-8000-000000000001",
            cred,
            &who.did,
            merchant,
            nonce,
            transaction.clone(),
            NOW - 60,
            NOW + 900,
        );
        present(
            &CheckoutRequest {
                agent: &who.did,
                key_fragment: fragment,
                credential: cred,
                links: &[],
                merchant,
                nonce: &Nonce::parse(nonce).unwrap(),
                amount: transaction.amount,
                currency: transaction.currency,
                order_hash: transaction.order_hash,
                category: transaction.category,
                now: at,
                lifetime,
                authorization: Some(&auth),
            },
            &who.key,
        )
    };
    let good = vp(
        &ok_cred, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 120,
    );
    let ctx = |m: &Did, n: &str| CheckoutContext::new(m.clone(), Nonce::parse(n).unwrap());
    let payload_of = |jws: &str| -> CheckoutPresentation {
        serde_json::from_slice(&crate::vectors_support::payload(jws)).unwrap()
    };
    let resign = |p: &CheckoutPresentation, kid: &str, key: &KeyPair| {
        sign_compact(
            &JoseHeader::eddsa("vp+jwt", Some("vp"), kid),
            &serde_json::to_vec(p).unwrap(),
            key.signing_key(),
        )
    };
    let for_agent = |a: &Agent, index: u32| {
        issue(
            &credential(
                &principal,
                &a.did,
                index,
                NOW - 3_600,
                NOW + 86_400,
                STATUS_URL,
            ),
            &principal,
        )
    };

    let mut cases = vec![Case {
        name: "valid",
        description: "A presentation within every limit, with its order.",
        section: "8",
        presentation: good.clone(),
        context: CheckoutContext {
            amount: Some(Amount::new(4_200).unwrap()),
            currency: Some(Currency::parse("USD").unwrap()),
            order_hash: Some(order_hash(ORDER)),
            category: Some(Category::parse("groceries").unwrap()),
            ..ctx(&merchant, "n-1")
        },
        replay: false,
        max_nonces: None,
        codes: vec![],
    }];
    let mut add =
        |name, description, section, presentation: String, context, codes: Vec<&'static str>| {
            cases.push(Case {
                name,
                description,
                section,
                presentation,
                context,
                replay: false,
                max_nonces: None,
                codes,
            });
        };
    add(
        "malformed_token",
        "Not a compact JWS.",
        "8 step 1",
        "not.a-token".into(),
        ctx(&merchant, "n-1"),
        vec!["malformed_token"],
    );
    let (_, rest) = good.split_once('.').unwrap();
    add(
        "alg_none",
        "alg none MUST be refused (RFC 8725 3.1).",
        "3, 8 step 2",
        format!(
            "{}.{rest}",
            b64u(
                format!(
                    r#"{{"alg":"none","typ":"vp+jwt","kid":"{}#key-1"}}"#,
                    alice.did
                )
                .as_bytes()
            )
        ),
        ctx(&merchant, "n-1"),
        vec!["unsupported_algorithm"],
    );
    add(
        "alg_hs256",
        "Any alg but EdDSA MUST be refused.",
        "3, 8 step 2",
        format!(
            "{}.{rest}",
            b64u(
                format!(
                    r#"{{"alg":"HS256","typ":"vp+jwt","kid":"{}#key-1"}}"#,
                    alice.did
                )
                .as_bytes()
            )
        ),
        ctx(&merchant, "n-1"),
        vec!["unsupported_algorithm"],
    );
    let (si, sig) = good.rsplit_once('.').unwrap();
    let mut sig = agentid_spec::jose::b64u_decode(sig).unwrap();
    sig[0] ^= 0x01;
    add(
        "bad_signature",
        "One bit of the presentation signature flipped.",
        "8 step 8",
        format!("{si}.{}", b64u(&sig)),
        ctx(&merchant, "n-1"),
        vec!["bad_signature"],
    );
    add(
        "unknown_key",
        "kid names a key the agent's document does not list (unknown or rotated out).",
        "8 step 7",
        vp(
            &ok_cred, &alice, "key-2", &merchant, "n-1", 4_200, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec!["unknown_key"],
    );
    let mut p = payload_of(&good);
    p.holder = unregistered.did.clone();
    add(
        "resolution_failed",
        "The signer is not registered.",
        "8 step 6",
        resign(
            &p,
            &format!("{}#key-1", unregistered.did),
            &unregistered.key,
        ),
        ctx(&merchant, "n-1"),
        vec!["resolution_failed"],
    );
    let forged = credential(
        &principal,
        &alice.did,
        7,
        NOW - 3_600,
        NOW + 86_400,
        STATUS_URL,
    );
    let forged = sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &mallory.did_key().key_id()),
        &serde_json::to_vec(&forged).unwrap(),
        mallory.signing_key(),
    );
    add(
        "issuer_mismatch",
        "The credential names the principal as issuer but another key signs it.",
        "8 step 5",
        vp(
            &forged, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec!["issuer_mismatch"],
    );
    let mut p = payload_of(&good);
    p.holder = bob.did.clone();
    add(
        "subject_mismatch",
        "Bob presents Alice's credential as himself.",
        "8 step 9",
        resign(&p, &format!("{}#key-1", bob.did), &bob.key),
        ctx(&merchant, "n-1"),
        vec!["subject_mismatch"],
    );
    let p = payload_of(&good);
    add(
        "presentation_not_signed_by_subject",
        "Holder is Alice, but Bob's key signs.",
        "8 step 9",
        resign(&p, &format!("{}#key-1", bob.did), &bob.key),
        ctx(&merchant, "n-1"),
        vec!["presentation_not_signed_by_subject"],
    );
    add(
        "agent_deactivated",
        "The agent deactivated itself.",
        "8 step 10",
        vp(
            &for_agent(&carol, 20),
            &carol,
            "key-1",
            &merchant,
            "n-1",
            4_200,
            "USD",
            NOW,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["agent_deactivated"],
    );
    add(
        "agent_deplatformed",
        "The operator deplatformed the agent; its credentials are void.",
        "8 step 10",
        vp(
            &for_agent(&dave, 21),
            &dave,
            "key-1",
            &merchant,
            "n-1",
            4_200,
            "USD",
            NOW,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["agent_deplatformed"],
    );
    add(
        "agent_suspended",
        "The registry suspended the agent until an hour from now; its credentials are refused until then.",
        "5.4, 8 step 10",
        vp(
            &for_agent(&frank, 23),
            &frank,
            "key-1",
            &merchant,
            "n-1",
            4_200,
            "USD",
            NOW,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["agent_suspended"],
    );
    let expired = issue(
        &credential(
            &principal,
            &alice.did,
            7,
            NOW - 7 * 86_400,
            NOW - 61,
            STATUS_URL,
        ),
        &principal,
    );
    add(
        "credential_expired",
        "validUntil passed 61 s ago; the skew is 60 s.",
        "8 step 11",
        vp(
            &expired, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec!["credential_expired"],
    );
    let edge = issue(
        &credential(
            &principal,
            &alice.did,
            7,
            NOW - 7 * 86_400,
            NOW - 60,
            STATUS_URL,
        ),
        &principal,
    );
    add(
        "credential_expired_within_skew",
        "validUntil passed 60 s ago, exactly the skew: accepted.",
        "8 step 11",
        vp(
            &edge, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec![],
    );
    let future = issue(
        &credential(
            &principal,
            &alice.did,
            7,
            NOW + 61,
            NOW + 86_400,
            STATUS_URL,
        ),
        &principal,
    );
    add(
        "credential_not_yet_valid",
        "validFrom is 61 s ahead.",
        "8 step 11",
        vp(
            &future, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec!["credential_not_yet_valid"],
    );
    add(
        "presentation_expired",
        "exp passed 61 s ago.",
        "8 step 12",
        vp(
            &ok_cred,
            &alice,
            "key-1",
            &merchant,
            "n-1",
            4_200,
            "USD",
            NOW - 181,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["presentation_expired"],
    );
    add(
        "presentation_lifetime_too_long",
        "exp - iat is 301 s; the limit is 300.",
        "8 step 12",
        vp(
            &ok_cred, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 301,
        ),
        ctx(&merchant, "n-1"),
        vec!["presentation_expired"],
    );
    add(
        "presentation_lifetime_at_limit",
        "exp - iat is exactly 300 s, the limit: accepted.",
        "8 step 12",
        vp(
            &ok_cred, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 300,
        ),
        ctx(&merchant, "n-1"),
        vec![],
    );
    add(
        "presentation_not_yet_valid",
        "iat is 61 s ahead.",
        "8 step 12",
        vp(
            &ok_cred,
            &alice,
            "key-1",
            &merchant,
            "n-1",
            4_200,
            "USD",
            NOW + 61,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["presentation_not_yet_valid"],
    );
    add(
        "wrong_audience",
        "Presented to the merchant, verified by another (also out of scope).",
        "8 steps 13, 15",
        good.clone(),
        ctx(&other_merchant, "n-1"),
        vec!["wrong_audience", "merchant_not_in_scope"],
    );
    add(
        "nonce_mismatch",
        "The merchant issued another nonce.",
        "8 step 14",
        good.clone(),
        ctx(&merchant, "n-2"),
        vec!["nonce_mismatch"],
    );
    add(
        "merchant_not_in_scope",
        "Presented to and verified by a merchant the scope does not list.",
        "8 step 15",
        vp(
            &ok_cred,
            &alice,
            "key-1",
            &other_merchant,
            "n-1",
            4_200,
            "USD",
            NOW,
            120,
        ),
        ctx(&other_merchant, "n-1"),
        vec!["merchant_not_in_scope"],
    );
    add(
        "category_not_in_scope",
        "The merchant sells electronics.",
        "8 steps 15, 17",
        good.clone(),
        CheckoutContext {
            category: Some(Category::parse("electronics").unwrap()),
            ..ctx(&merchant, "n-1")
        },
        vec!["category_not_in_scope", "transaction_mismatch"],
    );
    add(
        "currency_mismatch",
        "The limit is in USD, the purchase in EUR.",
        "8 step 16",
        vp(
            &ok_cred, &alice, "key-1", &merchant, "n-1", 4_200, "EUR", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec!["currency_mismatch"],
    );
    add(
        "limit_exceeded",
        "5001 cents against a 5000 per-transaction limit.",
        "8 step 16",
        vp(
            &ok_cred, &alice, "key-1", &merchant, "n-1", 5_001, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec!["limit_exceeded"],
    );
    add(
        "limit_at_edge",
        "Exactly the per-transaction limit: accepted.",
        "8 step 16",
        vp(
            &ok_cred, &alice, "key-1", &merchant, "n-1", 5_000, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec![],
    );
    add(
        "transaction_mismatch",
        "The merchant's order is 4300, the presentation says 4200.",
        "8 step 17",
        good.clone(),
        CheckoutContext {
            amount: Some(Amount::new(4_300).unwrap()),
            ..ctx(&merchant, "n-1")
        },
        vec!["transaction_mismatch"],
    );
    let revoked = issue(
        &credential(
            &principal,
            &alice.did,
            13,
            NOW - 3_600,
            NOW + 86_400,
            STATUS_URL,
        ),
        &principal,
    );
    add(
        "credential_revoked",
        "Bit 13 of the status list is set.",
        "8 step 18",
        vp(
            &revoked, &alice, "key-1", &merchant, "n-1", 4_200, "USD", NOW, 120,
        ),
        ctx(&merchant, "n-1"),
        vec!["credential_revoked"],
    );
    let unavailable = issue(
        &credential(
            &principal,
            &alice.did,
            7,
            NOW - 3_600,
            NOW + 86_400,
            MISSING_STATUS_URL,
        ),
        &principal,
    );
    add(
        "status_unavailable",
        "The status list cannot be fetched: fail closed.",
        "8 step 18",
        vp(
            &unavailable,
            &alice,
            "key-1",
            &merchant,
            "n-1",
            4_200,
            "USD",
            NOW,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["status_unavailable"],
    );
    add(
        "many_failures",
        "Every failing check after signatures is reported.",
        "8",
        vp(
            &ok_cred,
            &alice,
            "key-1",
            &other_merchant,
            "n-9",
            999_999,
            "EUR",
            NOW,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["wrong_audience", "nonce_mismatch", "currency_mismatch"],
    );

    // Trust (section 8.1) and the wallet's authorization (section 11).
    let request_only = |cred: &str, who: &Agent, auth: Option<&str>, amount: u64| {
        present(
            &CheckoutRequest {
                agent: &who.did,
                key_fragment: "key-1",
                credential: cred,
                links: &[],
                merchant: &merchant,
                nonce: &Nonce::parse("n-1").unwrap(),
                amount: Amount::new(amount).unwrap(),
                currency: Currency::parse("USD").unwrap(),
                order_hash: order_hash(ORDER),
                category: Some(Category::parse("groceries").unwrap()),
                now: NOW,
                lifetime: 120,
                authorization: auth,
            },
            &who.key,
        )
    };
    let tx = |amount: u64| Transaction {
        amount: Amount::new(amount).unwrap(),
        currency: Currency::parse("USD").unwrap(),
        order_hash: order_hash(ORDER),
        category: Some(Category::parse("groceries").unwrap()),
    };
    add(
        "authorization_missing",
        "A presentation without the wallet's spend authorization: nothing vouches that the budget holds.",
        "8 step 19, 11",
        request_only(&ok_cred, &alice, None, 4_200),
        ctx(&merchant, "n-1"),
        vec!["authorization_missing"],
    );
    // The trusted wallet's authorization of hold `hold` for Alice's checkout at the merchant.
    let trusted_auth = |hold: &str, amount: u64, from: i64, until: i64| {
        authorization(
            WALLET,
            &wallet_key,
            hold,
            &ok_cred,
            &alice.did,
            &merchant,
            "n-1",
            tx(amount),
            from,
            until,
        )
    };
    let auth_for_4100 = trusted_auth(
        "6c1a7d1e-0000-4000-8000-000000000002",
        4_100,
        NOW,
        NOW + 900,
    );
    add(
        "authorization_mismatch",
        "The wallet held 4100 but the presentation says 4200.",
        "8 step 19, 11",
        request_only(&ok_cred, &alice, Some(&auth_for_4100), 4_200),
        ctx(&merchant, "n-1"),
        vec!["authorization_mismatch"],
    );
    let expired_auth = trusted_auth(
        "6c1a7d1e-0000-4000-8000-000000000003",
        4_200,
        NOW - 1_000,
        NOW - 100,
    );
    add(
        "authorization_expired",
        "The hold expired 100 s ago (beyond the 60 s skew).",
        "8 step 19, 11",
        request_only(&ok_cred, &alice, Some(&expired_auth), 4_200),
        ctx(&merchant, "n-1"),
        vec!["authorization_expired"],
    );
    let rogue_auth = authorization(
        ROGUE_WALLET,
        &rogue_wallet_key,
        "6c1a7d1e-0000-4000-8000-000000000004",
        &ok_cred,
        &alice.did,
        &merchant,
        "n-1",
        tx(4_200),
        NOW,
        NOW + 900,
    );
    add(
        "wallet_not_trusted",
        "A well-signed authorization from a wallet the verifier does not trust.",
        "8 step 6, 8.1",
        request_only(&ok_cred, &alice, Some(&rogue_auth), 4_200),
        ctx(&merchant, "n-1"),
        vec!["wallet_not_trusted"],
    );
    // An authorization by its type whose payload is not one (a member the format does not
    // have): refused as malformed, not read as a further delegation.
    // (Made as text from an authorization's own bytes, so that the vector does not depend on
    // how a JSON map orders its members.)
    let fine_auth = trusted_auth(
        "6c1a7d1e-0000-4000-8000-000000000005",
        4_200,
        NOW,
        NOW + 900,
    );
    let fine = String::from_utf8(crate::vectors_support::payload(&fine_auth)).unwrap();
    let odd = format!("{{\"overrides\":\"budget\",{}", &fine[1..]);
    let odd_auth = sign_compact(
        &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{WALLET}#key-1")),
        odd.as_bytes(),
        wallet_key.signing_key(),
    );
    add(
        "authorization_malformed",
        "A wallet-signed authorization carrying a member its format does not define.",
        "8 step 4, 11.1",
        request_only(&ok_cred, &alice, Some(&odd_auth), 4_200),
        ctx(&merchant, "n-1"),
        vec!["malformed_token"],
    );
    // An unregistered did:key agent under a credential self-issued by another did:key, with
    // an enormous limit, and an authorization from a trusted wallet's key would not help: the
    // agent itself is not vouched for.
    let key_agent = KeyPair::from_seed(&[12; 32]);
    let key_agent = Agent {
        did: key_agent.did_key().into(),
        key: key_agent,
        genesis: String::new(),
    };
    let self_issuer = KeyPair::from_seed(&[13; 32]);
    let mut self_issued = credential(
        &self_issuer,
        &key_agent.did,
        21,
        NOW - 3_600,
        NOW + 86_400,
        STATUS_URL,
    );
    self_issued.credential_subject.spending_limit = SpendingLimit::new(
        Currency::parse("USD").unwrap(),
        Amount::new(99_999_999).unwrap(),
        Amount::new(99_999_999).unwrap(),
    )
    .unwrap();
    let self_issued = issue(&self_issued, &self_issuer);
    add(
        "agent_not_trusted",
        "A did:key agent (no registry vouches for it; nobody can deplatform it) with a self-issued credential: refused unless the policy allows did:key agents.",
        "8 step 6, 8.1",
        vp(
            &self_issued,
            &key_agent,
            key_agent.key.did_key().multibase(),
            &merchant,
            "n-1",
            4_200,
            "USD",
            NOW,
            120,
        ),
        ctx(&merchant, "n-1"),
        vec!["agent_not_trusted"],
    );

    // Delegation chains (section 6.4): the principal delegates to Alice with maxDepth 2, Alice
    // to Bob, Bob to Erin; each link issued by its parent's subject, naming the parent's bytes.
    let root = {
        let mut c = credential(
            &principal,
            &alice.did,
            30,
            NOW - 3_600,
            NOW + 7 * 86_400,
            STATUS_URL,
        );
        c.credential_subject.max_depth = Depth::new(2).unwrap();
        issue(&c, &principal)
    };
    let link = |parent_jws: &str,
                by: &Agent,
                to: &Agent,
                index: u32,
                edit: &dyn Fn(&mut DelegationCredential)| {
        let parent: DelegationCredential =
            serde_json::from_slice(&crate::vectors_support::payload(parent_jws)).unwrap();
        let mut c = DelegationCredential::link(
            format!("urn:uuid:00000000-0000-4000-8000-{index:012}"),
            by.did.clone(),
            Grant {
                agent: to.did.clone(),
                scope: parent.credential_subject.scope.clone(),
                spending_limit: SpendingLimit::new(
                    Currency::parse("USD").unwrap(),
                    Amount::new(2_500).unwrap(),
                    Amount::new(parent.credential_subject.spending_limit.total().get() / 2)
                        .unwrap(),
                )
                .unwrap(),
                valid_from: parent.valid_from,
                valid_until: Timestamp::from_unix(NOW + 86_400).unwrap(),
                max_depth: Depth::new(parent.credential_subject.max_depth.get().saturating_sub(1))
                    .unwrap(),
            },
            BitstringStatusListEntry::revocation(STATUS_URL, index as usize),
            ParentLink {
                id: parent.id,
                digest: credential_hash(parent_jws),
            },
        );
        edit(&mut c);
        sign_compact(
            &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{}#key-1", by.did)),
            &serde_json::to_vec(&c).unwrap(),
            by.key.signing_key(),
        )
    };
    let chain_vp = |chain: &[String], who: &Agent, amount: u64| {
        let transaction = tx(amount);
        let root: DelegationCredential =
            serde_json::from_slice(&crate::vectors_support::payload(&chain[0])).unwrap();
        let leaf: DelegationCredential =
            serde_json::from_slice(&crate::vectors_support::payload(chain.last().unwrap()))
                .unwrap();
        let a = SpendAuthorization::new(
            "6c1a7d1e-0000-4000-8000-000000000030",
            Did::parse(WALLET).unwrap(),
            Timestamp::from_unix(NOW - 60).unwrap(),
            Timestamp::from_unix(NOW + 900).unwrap(),
            SpendSubject {
                id: who.did.clone(),
                principal: root.issuer,
                delegation: leaf.id,
                delegation_hash: credential_hash(chain.last().unwrap()),
                merchant: merchant.clone(),
                nonce: Nonce::parse("n-1").unwrap(),
                transaction: transaction.clone(),
            },
        );
        let auth = sign_compact(
            &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{WALLET}#key-1")),
            &serde_json::to_vec(&a).unwrap(),
            wallet_key.signing_key(),
        );
        present(
            &CheckoutRequest {
                agent: &who.did,
                key_fragment: "key-1",
                credential: &chain[0],
                links: &chain[1..],
                merchant: &merchant,
                nonce: &Nonce::parse("n-1").unwrap(),
                amount: transaction.amount,
                currency: transaction.currency,
                order_hash: transaction.order_hash,
                category: transaction.category,
                now: NOW,
                lifetime: 120,
                authorization: Some(&auth),
            },
            &who.key,
        )
    };
    let alice_to_bob = link(&root, &alice, &bob, 31, &|_| {});
    let bob_to_erin = link(&alice_to_bob, &bob, &erin, 32, &|_| {});
    add(
        "chain_valid",
        "A sub-agent's purchase: the principal delegates to Alice (maxDepth 2), Alice to Bob, Bob to Erin; each link narrows its parent, and the wallet's authorization names Erin's credential.",
        "6.4, 8",
        chain_vp(&[root.clone(), alice_to_bob.clone(), bob_to_erin.clone()], &erin, 2_000),
        ctx(&merchant, "n-1"),
        vec![],
    );
    add(
        "delegation_widened",
        "Alice passes Bob a total above her own: the link widens its parent.",
        "6.4, 8 step 9",
        chain_vp(
            &[
                root.clone(),
                link(&root, &alice, &bob, 31, &|c| {
                    c.credential_subject.spending_limit = SpendingLimit::new(
                        Currency::parse("USD").unwrap(),
                        Amount::new(2_500).unwrap(),
                        Amount::new(40_000).unwrap(),
                    )
                    .unwrap()
                }),
            ],
            &bob,
            2_000,
        ),
        ctx(&merchant, "n-1"),
        vec!["delegation_widened"],
    );
    add(
        "delegation_widened_depth",
        "Alice's delegation allows no sub-delegation (maxDepth 0), yet she delegates to Bob.",
        "6.4, 8 step 9",
        chain_vp(
            &[ok_cred.clone(), link(&ok_cred, &alice, &bob, 31, &|_| {})],
            &bob,
            2_000,
        ),
        ctx(&merchant, "n-1"),
        vec!["delegation_widened"],
    );
    add(
        "chain_broken",
        "Bob's link names Alice's delegation by id but with another digest (other bytes).",
        "6.4, 8 step 9",
        chain_vp(
            &[
                root.clone(),
                link(&root, &alice, &bob, 31, &|c| {
                    c.parent.as_mut().unwrap().digest = credential_hash("other bytes")
                }),
            ],
            &bob,
            2_000,
        ),
        ctx(&merchant, "n-1"),
        vec!["chain_broken"],
    );
    add(
        "chain_link_revoked",
        "The principal revoked Alice's link to Bob (bit 33): Erin, below it, is refused too.",
        "6.4, 8 step 18",
        chain_vp(
            &[
                root.clone(),
                link(&root, &alice, &bob, 33, &|_| {}),
                link(
                    &link(&root, &alice, &bob, 33, &|_| {}),
                    &bob,
                    &erin,
                    32,
                    &|_| {},
                ),
            ],
            &erin,
            2_000,
        ),
        ctx(&merchant, "n-1"),
        vec!["credential_revoked"],
    );
    let root_for_dave = {
        let mut c = credential(
            &principal,
            &dave.did,
            34,
            NOW - 3_600,
            NOW + 7 * 86_400,
            STATUS_URL,
        );
        c.credential_subject.max_depth = Depth::new(1).unwrap();
        issue(&c, &principal)
    };
    add(
        "chain_agent_deplatformed",
        "Dave, deplatformed, had delegated to Bob: every credential below a deplatformed agent stops working.",
        "6.4, 8 step 10",
        chain_vp(
            &[root_for_dave.clone(), link(&root_for_dave, &dave, &bob, 35, &|_| {})],
            &bob,
            2_000,
        ),
        ctx(&merchant, "n-1"),
        vec!["agent_deplatformed"],
    );

    cases.push(Case {
        name: "nonce_replayed",
        description: "The same accepted presentation verified a second time.",
        section: "8 step 14",
        presentation: good.clone(),
        context: ctx(&merchant, "n-1"),
        replay: true,
        max_nonces: None,
        codes: vec!["nonce_replayed"],
    });
    cases.push(Case {
        name: "nonce_memory_full",
        description: "A valid presentation, but the verifier's replay memory is full (maxNonces 0): refused with its own code, never as a replay.",
        section: "8 step 14",
        presentation: good.clone(),
        context: ctx(&merchant, "n-1"),
        replay: false,
        max_nonces: Some(0),
        codes: vec!["nonce_memory_full"],
    });
    for c in cases {
        files.insert(
            format!("verification/{}.json", c.name),
            pretty(&json!({
                "description": c.description,
                "section": c.section,
                "input": {
                    "presentation": c.presentation,
                    "context": c.context,
                    "now": NOW,
                    "verifyTimes": if c.replay { 2 } else { 1 },
                    "maxNonces": c.max_nonces,
                },
                "output": {
                    "decision": if c.codes.is_empty() { "accepted" } else { "rejected" },
                    "codes": c.codes,
                },
            })),
        );
    }
}

/// A [`Source`] answering from the vectors' world.
struct WorldSource {
    registry: String,
    resolutions: BTreeMap<String, ResolutionResult>,
    status_lists: BTreeMap<String, String>,
}

impl WorldSource {
    fn new(world: &Value) -> Self {
        let mut resolutions: BTreeMap<String, ResolutionResult> =
            serde_json::from_value(world["resolutions"].clone()).unwrap();
        let wallets: BTreeMap<String, ResolutionResult> =
            serde_json::from_value(world["wallets"].clone()).unwrap();
        resolutions.extend(wallets);
        Self {
            registry: world["registry"].as_str().unwrap().to_owned(),
            resolutions,
            status_lists: serde_json::from_value(world["statusLists"].clone()).unwrap(),
        }
    }
}

impl Source for WorldSource {
    fn registry(&self) -> &str {
        &self.registry
    }

    async fn resolve(&self, id: &str) -> Result<ResolutionResult, ResolveError> {
        self.resolutions
            .get(id)
            .cloned()
            .ok_or(ResolveError::NotFound)
    }

    async fn fetch_status_list(&self, url: &str) -> Result<String, ResolveError> {
        self.status_lists
            .get(url)
            .cloned()
            .ok_or_else(|| ResolveError::Unreachable("no such list".into()))
    }
}

#[test]
fn verification_vectors() {
    let world: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("verification/world.json")).unwrap(),
    )
    .unwrap();
    let mut n = 0;
    let mut seen_codes = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir().join("verification")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "world.json" {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let source = WorldSource::new(&world);
        let clock = Arc::new(FixedClock::new(v["input"]["now"].as_i64().unwrap()));
        let mut limits = Limits::default();
        if let Some(max) = v["input"]["maxNonces"].as_u64() {
            limits.max_nonces = max as usize;
        }
        let verifier = Verifier::new(source, policy(&world), clock, limits);
        let ctx: CheckoutContext = serde_json::from_value(v["input"]["context"].clone()).unwrap();
        let token = v["input"]["presentation"].as_str().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut decision = None;
        for _ in 0..v["input"]["verifyTimes"].as_u64().unwrap() {
            decision = Some(rt.block_on(verifier.verify(token, &ctx)));
        }
        let d = decision.unwrap();
        let got: Vec<String> = d.codes().iter().map(|c| c.as_str().to_owned()).collect();
        let want: Vec<String> = serde_json::from_value(v["output"]["codes"].clone()).unwrap();
        assert_eq!(got, want, "{}: {:?}", path.display(), d.reasons());
        assert_eq!(
            serde_json::to_value(d.verdict()).unwrap(),
            v["output"]["decision"],
            "{}",
            path.display()
        );
        seen_codes.extend(got);
        n += 1;
    }
    assert!(n >= 28, "only {n} vectors");
    for code in agentid_spec::Code::ALL {
        assert!(seen_codes.contains(code.as_str()), "no vector trips {code}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

    /// Any one-byte change to the valid vector's presentation is rejected.
    #[test]
    fn mutated_presentations_are_rejected(pos in 0usize..10_000, byte in proptest::prelude::any::<u8>()) {
        let world: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("verification/world.json")).unwrap()).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("verification/valid.json")).unwrap()).unwrap();
        let token = v["input"]["presentation"].as_str().unwrap();
        let mut bytes = token.as_bytes().to_vec();
        let pos = pos % bytes.len();
        proptest::prop_assume!(bytes[pos] != byte);
        bytes[pos] = byte;
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        let source = WorldSource::new(&world);
        let verifier = Verifier::new(source, policy(&world), Arc::new(FixedClock::new(NOW)), Limits::default());
        let ctx: CheckoutContext = serde_json::from_value(v["input"]["context"].clone()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let d = rt.block_on(verifier.verify(&mutated, &ctx));
        proptest::prop_assert!(!d.is_accepted(), "mutation at {} accepted", pos);
    }
}

/// Hostile but well-formed authorizations: each member of the binding (agent, principal,
/// delegation, its bytes, merchant, nonce, amount), the validity window (any instant from 1970 to
/// 9999) and the signing wallet (trusted or not) varied, everything properly signed by the wallet
/// and by the agent. A correct verifier accepts exactly the authorizations that bind this
/// checkout, are within their window, and come from a trusted wallet; the property checks that
/// the verifier accepts those and only those.
mod hostile_authorizations {
    use super::*;
    use proptest::prelude::*;

    const MAX_TIME: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

    fn world() -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir().join("verification/world.json")).unwrap(),
        )
        .unwrap()
    }

    fn valid() -> (String, CheckoutPresentation) {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(dir().join("verification/valid.json")).unwrap(),
        )
        .unwrap();
        let token = v["input"]["presentation"].as_str().unwrap().to_owned();
        let p: CheckoutPresentation =
            serde_json::from_slice(&crate::vectors_support::payload(&token)).unwrap();
        (token, p)
    }

    fn instant() -> impl Strategy<Value = i64> {
        prop_oneof![
            (NOW - 400..NOW + 400),
            (0..MAX_TIME),
            Just(NOW - 61),
            Just(NOW + 61),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..Default::default() })]

        #[test]
        fn only_binding_authorizations_from_trusted_wallets_are_accepted(
            other_agent in any::<bool>(),
            other_delegation in any::<bool>(),
            other_bytes in any::<bool>(),
            other_merchant in any::<bool>(),
            other_nonce in any::<bool>(),
            amount_delta in prop_oneof![Just(0i64), -3i64..=3],
            from in instant(),
            until in instant(),
            rogue_wallet in proptest::bool::weighted(0.2),
        ) {
            let (_, p) = valid();
            let credential = p.verifiable_credential[0].jws().unwrap().to_owned();
            let alice = agent(2, Some("shopper.alice"));
            let bob = agent(5, None);
            let merchant = p.aud.clone();
            let other = KeyPair::from_seed(&[4; 32]).did_key().into();
            let amount = (p.transaction.amount.get() as i64 + amount_delta).max(1) as u64;
            let (wallet, key) = if rogue_wallet {
                (ROGUE_WALLET, KeyPair::from_seed(&[11; 32]))
            } else {
                (WALLET, KeyPair::from_seed(&[10; 32]))
            };
            let delegation: DelegationCredential =
                serde_json::from_slice(&crate::vectors_support::payload(&credential)).unwrap();
            let a = SpendAuthorization::new(
                "6c1a7d1e-0000-4000-8000-0000000000ff",
                Did::parse(wallet).unwrap(),
                Timestamp::from_unix(from).unwrap(),
                Timestamp::from_unix(until).unwrap(),
                SpendSubject {
                    id: if other_agent { bob.did.clone() } else { alice.did.clone() },
                    principal: delegation.issuer.clone(),
                    delegation: if other_delegation { "urn:uuid:other".into() } else { delegation.id.clone() },
                    delegation_hash: if other_bytes { credential_hash("x.y.z") } else { credential_hash(&credential) },
                    merchant: if other_merchant { other } else { merchant.clone() },
                    nonce: Nonce::parse(if other_nonce { "n-2" } else { "n-1" }).unwrap(),
                    transaction: Transaction { amount: Amount::new(amount).unwrap(), ..p.transaction.clone() },
                },
            );
            let auth = sign_compact(
                &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{wallet}#key-1")),
                &serde_json::to_vec(&a).unwrap(),
                key.signing_key(),
            );
            let vp = present(
                &CheckoutRequest {
                    agent: &alice.did,
                    key_fragment: "key-1",
                    credential: &credential,
                    links: &[],
                    merchant: &merchant,
                    nonce: &p.nonce,
                    amount: p.transaction.amount,
                    currency: p.transaction.currency,
                    order_hash: p.transaction.order_hash.clone(),
                    category: p.transaction.category.clone(),
                    now: NOW,
                    lifetime: 120,
                    authorization: Some(&auth),
                },
                &alice.key,
            );
            let world = world();
            let verifier = Verifier::new(WorldSource::new(&world), policy(&world), Arc::new(FixedClock::new(NOW)), Limits::default());
            let ctx = CheckoutContext::new(merchant, p.nonce.clone());
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let d = rt.block_on(verifier.verify(&vp, &ctx));
            let binds = !other_agent && !other_delegation && !other_bytes && !other_merchant
                && !other_nonce && amount_delta == 0;
            let in_window = from < until && from <= NOW + 60 && NOW <= until + 60;
            let expected = binds && in_window && !rogue_wallet;
            prop_assert_eq!(d.is_accepted(), expected, "{:?}", d.reasons());
        }
    }
}

/// Property: structurally valid but hostile sub-delegations (limits, scope, validity and depth
/// drawn around their parent's, wrong parent ids and digests, a link issued by the wrong agent)
/// are accepted exactly when a plain reading of section 6.4 says the chain narrows.
mod hostile_chains {
    use super::*;
    use proptest::prelude::*;

    fn world() -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir().join("verification/world.json")).unwrap(),
        )
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..Default::default() })]

        #[test]
        fn only_narrowing_chains_are_accepted(
            per_tx in prop_oneof![Just(2_500u64), 1_000u64..=6_000],
            total in prop_oneof![Just(10_000u64), 1_000u64..=25_000],
            euro in proptest::bool::weighted(0.1),
            merchants in prop_oneof![3 => Just(1u8), 1 => 0u8..4],
            categories in prop_oneof![3 => Just(1u8), 1 => 0u8..4],
            from_shift in prop_oneof![Just(0i64), -7_200i64..=7_200],
            until in prop_oneof![Just(NOW + 86_400), NOW - 120..NOW + 8 * 86_400],
            child_depth in prop_oneof![2 => Just(0u8), 1 => 0u8..=3],
            parent_depth in prop_oneof![2 => Just(1u8), 1 => 0u8..=3],
            wrong_digest in proptest::bool::weighted(0.1),
            wrong_id in proptest::bool::weighted(0.1),
            issued_by_bob in proptest::bool::weighted(0.1),
        ) {
            let principal = KeyPair::from_seed(&[1; 32]);
            let alice = agent(2, Some("shopper.alice"));
            let bob = agent(5, None);
            let merchant: Did = KeyPair::from_seed(&[3; 32]).did_key().into();
            let other: String = KeyPair::from_seed(&[4; 32]).did_key().to_string();
            let total = total.max(per_tx);
            // The principal's delegation: $50 a purchase, $200 in all, groceries at `merchant`,
            // for seven days from an hour ago, `parent_depth` levels below it.
            let mut root = credential(&principal, &alice.did, 40, NOW - 3_600, NOW + 7 * 86_400, STATUS_URL);
            root.credential_subject.max_depth = Depth::new(parent_depth).unwrap();
            let root_jws = issue(&root, &principal);
            let list = |pick: u8, ours: &str, theirs: &str| -> Option<Vec<String>> {
                match pick {
                    0 => None,
                    1 => Some(vec![ours.to_owned()]),
                    2 => Some(vec![ours.to_owned(), theirs.to_owned()]),
                    _ => Some(vec![theirs.to_owned()]),
                }
            };
            let from = NOW - 3_600 + from_shift;
            let issuer = if issued_by_bob { &bob } else { &alice };
            let mut link = DelegationCredential::link(
                "urn:uuid:00000000-0000-4000-8000-000000000041".into(),
                issuer.did.clone(),
                Grant {
                    agent: bob.did.clone(),
                    scope: Scope::new(
                        list(merchants, merchant.as_str(), &other),
                        list(categories, "groceries", "toys"),
                    ).unwrap(),
                    spending_limit: SpendingLimit::new(
                        Currency::parse(if euro { "EUR" } else { "USD" }).unwrap(),
                        Amount::new(per_tx).unwrap(),
                        Amount::new(total).unwrap(),
                    ).unwrap(),
                    valid_from: Timestamp::from_unix(from).unwrap(),
                    valid_until: Timestamp::from_unix(until).unwrap(),
                    max_depth: Depth::new(child_depth).unwrap(),
                },
                BitstringStatusListEntry::revocation(STATUS_URL, 41),
                ParentLink {
                    id: if wrong_id { "urn:uuid:other".into() } else { root.id.clone() },
                    digest: credential_hash(if wrong_digest { "x.y.z" } else { &root_jws }),
                },
            );
            link.valid_until = Timestamp::from_unix(until).unwrap();
            let link_jws = sign_compact(
                &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{}#key-1", issuer.did)),
                &serde_json::to_vec(&link).unwrap(),
                issuer.key.signing_key(),
            );
            let transaction = Transaction {
                amount: Amount::new(2_000).unwrap(),
                currency: Currency::parse("USD").unwrap(),
                order_hash: order_hash(ORDER),
                category: Some(Category::parse("groceries").unwrap()),
            };
            let a = SpendAuthorization::new(
                "6c1a7d1e-0000-4000-8000-000000000041",
                Did::parse(WALLET).unwrap(),
                Timestamp::from_unix(NOW - 60).unwrap(),
                Timestamp::from_unix(NOW + 900).unwrap(),
                SpendSubject {
                    id: bob.did.clone(),
                    principal: principal.did_key().into(),
                    delegation: link.id.clone(),
                    delegation_hash: credential_hash(&link_jws),
                    merchant: merchant.clone(),
                    nonce: Nonce::parse("n-1").unwrap(),
                    transaction: transaction.clone(),
                },
            );
            let auth = sign_compact(
                &JoseHeader::eddsa("vc+jwt", Some("vc"), &format!("{WALLET}#key-1")),
                &serde_json::to_vec(&a).unwrap(),
                KeyPair::from_seed(&[10; 32]).signing_key(),
            );
            let vp = present(
                &CheckoutRequest {
                    agent: &bob.did,
                    key_fragment: "key-1",
                    credential: &root_jws,
                    links: &[link_jws],
                    merchant: &merchant,
                    nonce: &Nonce::parse("n-1").unwrap(),
                    amount: transaction.amount,
                    currency: transaction.currency,
                    order_hash: transaction.order_hash,
                    category: transaction.category,
                    now: NOW,
                    lifetime: 120,
                    authorization: Some(&auth),
                },
                &bob.key,
            );
            let world = world();
            let verifier = Verifier::new(WorldSource::new(&world), policy(&world), Arc::new(FixedClock::new(NOW)), Limits::default());
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let d = rt.block_on(verifier.verify(&vp, &CheckoutContext::new(merchant, Nonce::parse("n-1").unwrap())));

            // Section 6.4, read plainly: the parent lists one merchant and one category, so
            // the child must list exactly those; no other currency, no higher amounts, within
            // the parent's validity, a smaller depth than a parent that allows any.
            let linked = !wrong_digest && !wrong_id && !issued_by_bob;
            let narrows = parent_depth >= 1 && child_depth < parent_depth && !euro
                && per_tx <= 5_000 && total <= 20_000 && merchants == 1 && categories == 1
                && from >= NOW - 3_600 && until <= NOW + 7 * 86_400;
            // And the purchase is within the sub-agent's own credential, now.
            let allowed = until > from && 2_000 <= per_tx && from <= NOW + 60 && NOW <= until + 60;
            prop_assert_eq!(d.is_accepted(), linked && narrows && allowed, "{:?}", d.reasons());
        }
    }
}

/// Attack: a chain whose bytes a verifier remembers, presented again after the key of an agent
/// in it changed (a stolen key rotated out). The memo must not stand in for the signature: the
/// link is verified again under the current key, and fails.
#[test]
fn a_remembered_link_is_verified_again_after_its_issuer_rotates() {
    struct Rotating {
        inner: WorldSource,
        replaced: std::sync::RwLock<Option<(String, ResolutionResult)>>,
    }
    impl Source for Rotating {
        fn registry(&self) -> &str {
            self.inner.registry()
        }
        async fn resolve(&self, id: &str) -> Result<ResolutionResult, ResolveError> {
            if let Some((did, r)) = self.replaced.read().unwrap().as_ref() {
                if did == id {
                    return Ok(r.clone());
                }
            }
            self.inner.resolve(id).await
        }
        async fn fetch_status_list(&self, url: &str) -> Result<String, ResolveError> {
            self.inner.fetch_status_list(url).await
        }
    }
    let world: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("verification/world.json")).unwrap(),
    )
    .unwrap();
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("verification/chain_valid.json")).unwrap(),
    )
    .unwrap();
    let token = v["input"]["presentation"].as_str().unwrap();
    let ctx: CheckoutContext = serde_json::from_value(v["input"]["context"].clone()).unwrap();
    let verifier = Verifier::new(
        Rotating {
            inner: WorldSource::new(&world),
            replaced: std::sync::RwLock::new(None),
        },
        policy(&world),
        Arc::new(FixedClock::new(NOW)),
        Limits::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(rt.block_on(verifier.verify(token, &ctx)).is_accepted());
    // Alice, who signed the first link, now has another key under the same `kid`.
    let alice = agent(2, Some("shopper.alice"));
    let rotated = Agent {
        key: KeyPair::from_seed(&[99; 32]),
        did: alice.did.clone(),
        genesis: alice.genesis.clone(),
    };
    *verifier.source().replaced.write().unwrap() = Some((
        alice.did.to_string(),
        resolution(&rotated, AgentStatus::Active),
    ));
    verifier.invalidate_did(alice.did.as_str());
    let d = rt.block_on(verifier.verify(token, &ctx));
    let codes: Vec<&str> = d.codes().iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, ["bad_signature"], "{:?}", d.reasons());
}
