//! The in-memory world the checkout benchmark and the instruction-count example share: a
//! registered agent, a principal's credential and status list, and a verifier whose caches are
//! warmed from a [`MemorySource`].

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;

use agentid_resolver::{ResolveError, Source};
use agentid_sdk::clock::FixedClock;
use agentid_sdk::issue::issue;
use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::create;
use agentid_sdk::present::{order_hash, present, CheckoutRequest};
use agentid_sdk::verify::{Limits, Verifier};
use agentid_spec::credential::{
    Amount, Currency, DelegationCredential, DelegationSubject, Scope, SpendingLimit,
    AGENTID_CONTEXT_V1, DELEGATION_TYPE, VC_CONTEXT_V2,
};
use agentid_spec::document::{
    AgentStatus, DidDocument, DocumentMetadata, ResolutionMetadata, ResolutionResult,
    VerificationMethod, DID_CONTEXT, MULTIKEY_CONTEXT,
};
use agentid_spec::jose::{sign_compact, JoseHeader};
use agentid_spec::status_list::{
    Bitstring, BitstringStatusList, BitstringStatusListCredential, BitstringStatusListEntry,
    MIN_BITS,
};
use agentid_spec::time::format_rfc3339;

const NOW: i64 = 1_767_225_600;
const STATUS_URL: &str = "https://wallet.example/v1/status/3f1c";

pub struct MemorySource {
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

pub struct World {
    pub agent: KeyPair,
    pub agent_did: String,
    pub merchant: String,
    pub credential: String,
    pub verifier: Verifier<MemorySource>,
}

pub fn world() -> World {
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

pub fn presentation(w: &World, nonce: &str) -> String {
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
