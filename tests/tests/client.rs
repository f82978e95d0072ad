//! The SDK's typed client (`agentid_sdk::client`, feature `client`) against the real service:
//! an agent developer's and a principal's whole journey through it, the API's types in and
//! out, and the service's refusals as stable codes.

use agentid_sdk::client::{Client, ClientError};
use agentid_sdk::keys::KeyPair;
use agentid_sdk::present::settle;
use agentid_spec::api::{DelegationRequest, HoldState, Outcome, ScopeRequest, VerifyRequest};
use agentid_spec::authorization::{SettleAction, Settlement};
use agentid_spec::code::ErrorCode;
use agentid_spec::credential::{Amount, Currency, SpendingLimitFields};
use agentid_spec::id::{did_web_for_url, AgentDid, Did};
use agentid_spec::presentation::Nonce;

use crate::fixture::{nonce, now, Fixture};
use crate::support::backends;

/// Register, update, delegate, hold, verify, capture, revoke, read the log: every step through
/// the client, each answer typed, each refusal a code.
#[tokio::test]
async fn an_agent_and_its_principal_do_everything_through_the_client() {
    for backend in backends().await {
        let f = Fixture::new(&backend).await;
        let client = Client::new(&f.server.url).unwrap();

        // An agent registers; the same genesis again is a retry, answered as the first time.
        let key = KeyPair::generate();
        let genesis = agentid_sdk::operation::create(&key, &key, None, now());
        let first = client.register(&genesis.operation).await.unwrap();
        assert_eq!((first.status, first.replayed), (201, false));
        let again = client.register(&genesis.operation).await.unwrap();
        assert_eq!((again.status, again.replayed), (200, true));
        assert_eq!(again.value, first.value);
        let did = AgentDid::parse(&first.value.did).unwrap();
        let resolved = client.resolve(did.as_str()).await.unwrap();
        assert_eq!(
            resolved.did_document.map(|d| d.id),
            Some(first.value.document.id.clone())
        );
        let err = client.resolve("did:agentid:aaaa").await.unwrap_err();
        assert!(
            err.status().is_some_and(|s| (400..500).contains(&s)),
            "{err}"
        );
        // It updates its signing key; the same update again is a retry.
        let second = KeyPair::generate();
        let head = resolved_head(&client, did.as_str()).await;
        let keys = agentid_sdk::operation::Keys::new(&second, &[&key]);
        let update = agentid_sdk::operation::update(&did, &head, &keys, &key, now());
        let operated = client.operate(&did, &update).await.unwrap();
        assert_eq!(operated.value.status, "active");
        assert_eq!(operated.value.did, did.as_str());
        assert_eq!(
            resolved_head(&client, did.as_str()).await,
            operated.value.head
        );
        let again = client.operate(&did, &update).await.unwrap();
        assert!(again.replayed);
        // Another update on the old head would undo the first: a recovery, which a key of no
        // higher priority cannot make. Refused with its code.
        let stale = agentid_sdk::operation::update(&did, &head, &keys, &key, now() + 1);
        let err = client.operate(&did, &stale).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::RecoveryNotHigher), "{err}");

        // A principal delegates to the fixture's agent, and the client reads it back.
        let principal = client.create_principal().await.unwrap();
        let request = DelegationRequest {
            agent: f.agent.clone(),
            scope: ScopeRequest {
                merchants: Some(vec![f.merchant.clone()]),
                categories: Some(vec!["groceries".into()]),
            },
            spending_limit: SpendingLimitFields {
                currency: Currency::parse("USD").unwrap(),
                per_transaction: Amount::new(5000).unwrap(),
                total: Amount::new(8000).unwrap(),
                per_period: None,
                approval_above: None,
            },
            valid_from: None,
            valid_until: agentid_spec::time::format_rfc3339(now() + 86_400),
            max_depth: None,
        };
        let issued = client.delegate(&principal.token, &request).await.unwrap();
        assert_eq!(issued.issuer, principal.did);
        let listed = client.delegations(&principal.token).await.unwrap();
        assert_eq!(
            listed.iter().map(|d| &d.id).collect::<Vec<_>>(),
            [&issued.id]
        );
        // Someone else's token, or none, is a code, not a string to parse.
        let err = client
            .delegate("nobody.nothing", &request)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");
        assert_eq!(err.status(), Some(401));
        let mut bad = request.clone();
        bad.agent = "did:web:not-an-agent".into();
        let err = client.delegate(&principal.token, &bad).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidAgent), "{err}");

        // The agent asks the wallet to hold $40; a retry with its key is the same hold.
        let n = nonce();
        let spend = f.spend_request(&issued.credential, &f.merchant, &n, 4000);
        let held = client
            .authorize_spend(&spend, Some("order-1"))
            .await
            .unwrap();
        assert_eq!((held.status, held.value.state), (201, HoldState::Held));
        let retried = client
            .authorize_spend(&spend, Some("order-1"))
            .await
            .unwrap();
        assert!(retried.replayed);
        assert_eq!(retried.value.hold, held.value.hold);
        // A second $45 does not fit the $80 total.
        let over = f.spend_request(&issued.credential, &f.merchant, &nonce(), 4500);
        let err = client.authorize_spend(&over, None).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::BudgetExceeded), "{err}");
        let budget = client.budget(&principal.token, &issued.id).await.unwrap();
        assert_eq!((budget.held, budget.remaining), (4000, 4000));

        // The merchant asks the service to verify the checkout.
        let authorization = held.value.authorization.clone().unwrap();
        let presentation = f.signed(
            &issued.credential,
            &f.merchant,
            &n,
            4000,
            Some(&authorization),
        );
        let ask = VerifyRequest {
            presentation,
            merchant: Did::parse(&f.merchant).unwrap(),
            nonce: Nonce::parse(&n).unwrap(),
            amount: None,
            currency: None,
            order_hash: None,
            category: None,
        };
        let answer = client.verify(&ask).await.unwrap();
        assert_eq!(answer.decision, Outcome::Accepted, "{answer:?}");
        let answer = client.verify(&ask).await.unwrap();
        assert_eq!(answer.decision, Outcome::Rejected);
        assert_eq!(
            answer
                .reasons
                .iter()
                .map(|r| r.code.as_str())
                .collect::<Vec<_>>(),
            ["nonce_replayed"]
        );

        // The merchant captures; the agent polls the hold.
        let merchant_key = KeyPair::from_seed(&[0x4d; 32]);
        let claims = Settlement {
            iss: merchant_key.did_key().into(),
            aud: did_web_for_url(&f.server.url).unwrap(),
            hold: held.value.hold.clone(),
            action: SettleAction::Capture,
            iat: now(),
            exp: now() + 60,
        };
        let signed = settle(&claims, &merchant_key.did_key().key_id(), &merchant_key);
        let captured = client
            .settle(&held.value.hold, &signed, true)
            .await
            .unwrap();
        assert_eq!(captured.state, HoldState::Captured);
        assert_eq!(
            client.hold(&held.value.hold).await.unwrap().state,
            HoldState::Captured
        );
        let holds = client.holds(&principal.token, &issued.id).await.unwrap();
        assert_eq!(holds.len(), 1);
        // Released after capture: refused, with its code.
        let err = client
            .settle(&held.value.hold, &signed, false)
            .await
            .unwrap_err();
        assert!(err.status().is_some_and(|s| s >= 400), "{err}");

        // The principal suspends, reinstates and revokes; the next hold is refused.
        let record = client
            .set_suspended(&principal.token, &issued.id, true)
            .await
            .unwrap();
        assert!(record.suspended);
        let record = client
            .set_suspended(&principal.token, &issued.id, false)
            .await
            .unwrap();
        assert!(!record.suspended);
        let record = client
            .revoke(&principal.token, &issued.id, Some("lost the phone"))
            .await
            .unwrap();
        assert!(record.revoked);
        assert_eq!(record.revocation_reason.as_deref(), Some("lost the phone"));
        let late = f.spend_request(&issued.credential, &f.merchant, &nonce(), 100);
        let err = client.authorize_spend(&late, None).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::SpendRefused), "{err}");
        let codes: Vec<&str> = err.reasons().iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["credential_revoked"], "{err}");

        // The log, signed.
        let checkpoint = client.checkpoint().await.unwrap();
        assert!(checkpoint.tree_size >= 3);
        assert_eq!(checkpoint.checkpoint.split('.').count(), 3);

        // What is not a service, or not reachable, is said so.
        assert!(matches!(Client::new("ftp://x"), Err(ClientError::Setup(_))));
        let gone = Client::new("http://127.0.0.1:9").unwrap();
        assert!(matches!(
            gone.checkpoint().await,
            Err(ClientError::Unreachable { .. })
        ));
        // A hold id cannot walk the API's paths.
        let err = client.hold("..").await.unwrap_err();
        assert!(matches!(err, ClientError::Setup(_)), "{err}");
        let err = client.hold("x/../../v1/log/checkpoint").await.unwrap_err();
        assert_eq!(err.status(), Some(404), "{err}");
    }
}

/// The head (`versionId`) the service resolves `did` to.
async fn resolved_head(client: &Client, did: &str) -> String {
    let r = client.resolve(did).await.unwrap();
    r.did_document_metadata.unwrap().version_id.unwrap()
}
