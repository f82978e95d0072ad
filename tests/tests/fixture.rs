//! A registered agent, a principal, merchants and a delegation, set up through the CLI.

use std::path::PathBuf;

use agentid_sdk::keys::KeyPair;
use agentid_sdk::present::{order_hash, present, CheckoutRequest};
use agentid_spec::credential::{Amount, Category, Currency};
use agentid_spec::id::Did;
use agentid_spec::presentation::{Nonce, OrderHash};
use serde_json::{json, Value};

use crate::support::{s, Backend, Server};

pub struct Fixture {
    pub server: Server,
    pub agent_key_file: PathBuf,
    pub agent_key: KeyPair,
    pub agent: String,
    pub token: String,
    pub principal: String,
    pub merchant: String,
    pub other_merchant: String,
    pub credential: String,
    pub credential_id: String,
    pub order: PathBuf,
    pub order_hash: OrderHash,
}

pub const ORDER: &[u8] =
    br#"{"items":[{"sku":"milk-1l","qty":2},{"sku":"bread","qty":1}],"total":4200}"#;

impl Fixture {
    pub async fn new(backend: &Backend) -> Self {
        Self::new_with(backend, &[]).await
    }

    /// [`Fixture::new`] with extra `agentid serve` flags.
    pub async fn new_with(backend: &Backend, extra: &[&str]) -> Self {
        let server = Server::start_with(backend, extra).await;
        let agent_key_file = server.dir.path("agent.key");
        let (code, key) = server
            .cli(&["key", "generate", "--out", agent_key_file.to_str().unwrap()])
            .await;
        assert_eq!(code, 0, "{key}");
        let (code, reg) = server
            .cli(&[
                "agent",
                "register",
                "--key",
                agent_key_file.to_str().unwrap(),
                "--name",
                "shopper.alice",
            ])
            .await;
        assert_eq!(code, 0, "{reg}");
        let (code, wallet) = server.cli(&["wallet", "create"]).await;
        assert_eq!(code, 0, "{wallet}");
        let merchant = KeyPair::from_seed(&[0x4d; 32]).did_key().to_string();
        let other_merchant = KeyPair::from_seed(&[0x4e; 32]).did_key().to_string();
        let order = server.dir.path("order.json");
        std::fs::write(&order, ORDER).unwrap();
        let agent_key = crate::support::read_key(&agent_key_file);
        let mut f = Self {
            agent: s(&reg["did"]),
            token: s(&wallet["token"]),
            principal: s(&wallet["did"]),
            agent_key_file,
            agent_key,
            merchant,
            other_merchant,
            credential: String::new(),
            credential_id: String::new(),
            order,
            order_hash: order_hash(ORDER),
            server,
        };
        let issued = f.delegate(json!({})).await;
        f.credential = s(&issued["credential"]);
        f.credential_id = s(&issued["id"]);
        f
    }

    /// A second node on the same database, behind the same public URL, with the first node's
    /// master key; the root admin token is the first node's.
    pub async fn second_node(&self, backend: &Backend) -> Server {
        assert_eq!(backend.name(), self.server.backend.name());
        Server::joining(&self.server, &[]).await
    }

    /// Issues a delegation over HTTP: $50 a purchase, $200 in all, groceries at `merchant`,
    /// for 7 days, with `overrides` merged in.
    pub async fn delegate(&self, overrides: Value) -> Value {
        let mut body = json!({
            "agent": self.agent,
            "scope": { "merchants": [self.merchant], "categories": ["groceries"] },
            "spendingLimit": { "currency": "USD", "perTransaction": 5000, "total": 20000 },
            "validUntil": agentid_spec::time::format_rfc3339(now() + 7 * 86_400),
        });
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, out) = self
            .server
            .http()
            .post("/v1/delegations", Some(&self.token), &body)
            .await;
        assert_eq!(status, 201, "{out}");
        out
    }

    /// A presentation of `credential` for `merchant` with `nonce`, signed by the agent, carrying
    /// the wallet's spend authorization when the wallet grants one (a hold against the budget);
    /// when it refuses, the bare spend request, which a verifier rejects.
    pub async fn present(
        &self,
        credential: &str,
        merchant: &str,
        nonce: &str,
        amount: u64,
    ) -> String {
        self.present_with(
            credential,
            merchant,
            nonce,
            amount,
            "USD",
            "key-1",
            now(),
            120,
        )
        .await
    }

    /// Asks the wallet to hold `spend_request`'s amount: its answer (201 with the hold, or an
    /// error body) and status.
    pub async fn authorize(&self, spend_request: &str, key: Option<&str>) -> (u16, Value) {
        self.authorize_at(&self.server, spend_request, key).await
    }

    /// [`Fixture::authorize`] through `node`.
    pub async fn authorize_at(
        &self,
        node: &Server,
        spend_request: &str,
        key: Option<&str>,
    ) -> (u16, Value) {
        let http = node.http();
        let body = json!({ "presentation": spend_request });
        match key {
            Some(k) => {
                http.post_with_header("/v1/spend/authorizations", ("idempotency-key", k), &body)
                    .await
            }
            None => http.post("/v1/spend/authorizations", None, &body).await,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn present_with(
        &self,
        credential: &str,
        merchant: &str,
        nonce: &str,
        amount: u64,
        currency: &str,
        fragment: &str,
        at: i64,
        lifetime: i64,
    ) -> String {
        let agent = Did::parse(&self.agent).unwrap();
        let merchant = Did::parse(merchant).unwrap();
        let nonce = Nonce::parse(nonce).unwrap();
        let mut req = CheckoutRequest {
            agent: &agent,
            key_fragment: fragment,
            credential,
            links: &[],
            merchant: &merchant,
            nonce: &nonce,
            amount: Amount::new(amount).unwrap(),
            currency: Currency::parse(currency).unwrap(),
            order_hash: self.order_hash.clone(),
            category: Some(Category::parse("groceries").unwrap()),
            now: at,
            lifetime,
            authorization: None,
        };
        let spend_request = present(&req, &self.agent_key);
        let (status, hold) = self.authorize(&spend_request, None).await;
        if status != 201 {
            return spend_request;
        }
        let authorization = hold["authorization"].as_str().unwrap().to_owned();
        req.authorization = Some(&authorization);
        present(&req, &self.agent_key)
    }

    /// `count` 1-cent checkouts at the fixture's merchant, each held by the wallet: the
    /// presentations with their authorizations, and their nonces, ready to verify.
    pub async fn held_presentations(&self, count: usize) -> Vec<(String, String)> {
        let mut ready = Vec::with_capacity(count);
        for _ in 0..count {
            let n = nonce();
            let (st, hold) = self
                .authorize(
                    &self.spend_request(&self.credential, &self.merchant, &n, 1),
                    None,
                )
                .await;
            assert_eq!(st, 201, "{hold}");
            let auth = s(&hold["authorization"]);
            ready.push((
                self.signed(&self.credential, &self.merchant, &n, 1, Some(&auth)),
                n,
            ));
        }
        ready
    }

    /// The spend request alone: what the agent sends the wallet.
    pub fn spend_request(
        &self,
        credential: &str,
        merchant: &str,
        nonce: &str,
        amount: u64,
    ) -> String {
        self.signed(credential, merchant, nonce, amount, None)
    }

    /// The presentation of `credential` carrying `authorization` (or the bare spend request).
    pub fn signed(
        &self,
        credential: &str,
        merchant: &str,
        nonce: &str,
        amount: u64,
        authorization: Option<&str>,
    ) -> String {
        present(
            &CheckoutRequest {
                agent: &Did::parse(&self.agent).unwrap(),
                key_fragment: "key-1",
                credential,
                links: &[],
                merchant: &Did::parse(merchant).unwrap(),
                nonce: &Nonce::parse(nonce).unwrap(),
                amount: Amount::new(amount).unwrap(),
                currency: Currency::parse("USD").unwrap(),
                order_hash: self.order_hash.clone(),
                category: Some(Category::parse("groceries").unwrap()),
                now: now(),
                lifetime: 120,
                authorization,
            },
            &self.agent_key,
        )
    }

    /// The trust policy of a merchant verifying in-process against this server: its registry
    /// and its wallet.
    pub fn policy(&self) -> agentid_sdk::verify::TrustPolicy {
        agentid_sdk::verify::TrustPolicy::new()
            .trust_registry(&self.server.url)
            .trust_wallet(agentid_spec::id::did_web_for_url(&self.server.url).unwrap())
    }

    /// Revokes the fixture's delegation over HTTP, as the principal; asserts it returned 200.
    pub async fn revoke(&self) {
        let (status, body) = self
            .server
            .http()
            .post(
                &format!("/v1/delegations/{}/revoke", self.credential_id),
                Some(&self.token),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// `POST path` with an empty body as the principal: the status and the body.
    pub async fn as_principal(&self, path: &str) -> (u16, Value) {
        self.server
            .http()
            .post(path, Some(&self.token), &json!({}))
            .await
    }

    /// What is left of the principal's delegation `id` (`GET /v1/delegations/{id}/budget`).
    pub async fn budget(&self, id: &str) -> Value {
        let (status, b) = self
            .server
            .http()
            .get_auth(&format!("/v1/delegations/{id}/budget"), &self.token)
            .await;
        assert_eq!(status, 200, "{b}");
        b
    }

    /// The holds on the principal's delegation `id` (`GET /v1/delegations/{id}/holds`).
    pub async fn holds(&self, id: &str) -> Value {
        let (status, h) = self
            .server
            .http()
            .get_auth(&format!("/v1/delegations/{id}/holds"), &self.token)
            .await;
        assert_eq!(status, 200, "{h}");
        h
    }

    /// Verifies through `POST /v1/verify`.
    pub async fn verify_http(&self, presentation: &str, merchant: &str, nonce: &str) -> Value {
        let (status, decision) = self
            .server
            .http()
            .post(
                "/v1/verify",
                None,
                &json!({ "presentation": presentation, "merchant": merchant, "nonce": nonce }),
            )
            .await;
        assert_eq!(status, 200, "{decision}");
        decision
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn nonce() -> String {
    format!("n-{}", uuid::Uuid::new_v4().simple())
}
