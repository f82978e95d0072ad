//! Zones (spec 5.6), against the real server: a platform claims a zone; only its owner binds
//! names in it and delegates sub-zones; nobody registers a name inside it by themselves;
//! every refusal has its code; operations are accepted once, within their time window.

use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::{create, zone};
use agentid_spec::id::{AgentDid, AgentName};
use agentid_spec::time::format_rfc3339;
use agentid_spec::zone::ZoneOperation;
use serde_json::{json, Value};

use crate::fixture::{now, Fixture};
use crate::support::{backends, error_code, s, Http};

fn name(n: &str) -> AgentName {
    AgentName::parse(n).unwrap()
}

fn claim(z: &str, owner: &KeyPair, signer: &KeyPair, at: i64) -> String {
    let op = ZoneOperation::ClaimZone {
        zone: name(z),
        owner: owner.did_key(),
        created_at: format_rfc3339(at),
    };
    zone(&op, signer)
}

fn delegate(z: &str, owner: &KeyPair, signer: &KeyPair) -> String {
    let op = ZoneOperation::DelegateZone {
        zone: name(z),
        owner: owner.did_key(),
        created_at: format_rfc3339(now()),
    };
    zone(&op, signer)
}

fn bind(n: &str, did: &AgentDid, signer: &KeyPair) -> String {
    let op = ZoneOperation::BindName {
        name: name(n),
        did: did.clone(),
        created_at: format_rfc3339(now()),
    };
    zone(&op, signer)
}

fn unbind(n: &str, signer: &KeyPair) -> String {
    let op = ZoneOperation::UnbindName {
        name: name(n),
        created_at: format_rfc3339(now()),
    };
    zone(&op, signer)
}

async fn submit(http: &Http, op: &str) -> (u16, Value) {
    http.post("/v1/zones", None, &json!({ "operation": op }))
        .await
}

async fn register(http: &Http, n: Option<&str>) -> (u16, Value, AgentDid) {
    let key = KeyPair::generate();
    let g = create(&key, &key, n.map(name), now());
    let (st, b) = http
        .post("/v1/agents", None, &json!({ "operation": g.operation }))
        .await;
    (st, b, g.did)
}

#[tokio::test]
async fn a_zone_is_owned_and_only_its_owner_names_in_it() {
    for backend in backends().await {
        // The fixture registers shopper.alice, first come.
        let f = Fixture::new(&backend).await;
        let http = f.server.http();
        let (platform, other, alice) = (
            KeyPair::generate(),
            KeyPair::generate(),
            KeyPair::generate(),
        );

        // Claims: refused with their codes, then accepted; nothing written by a refusal.
        for (op, status, code) in [
            (
                claim("acme", &platform, &other, now()),
                403,
                "key_not_authorized",
            ),
            (
                claim("admin", &platform, &platform, now()),
                409,
                "name_reserved",
            ),
            (claim("alice", &other, &other, now()), 409, "zone_occupied"),
            (
                claim("acme", &platform, &platform, now() - 600),
                400,
                "invalid_time",
            ),
            (
                claim("acme", &platform, &platform, now() + 600),
                400,
                "invalid_time",
            ),
            (
                claim("shop.acme.com", &platform, &platform, now()),
                403,
                "dns_proof_failed",
            ),
        ] {
            let (st, b) = submit(&http, &op).await;
            assert_eq!((st, error_code(st, &b)), (status, code.into()), "{b}");
        }
        let (st, _) = http.get("/v1/zones/acme").await;
        assert_eq!(st, 404);
        let first = claim("acme", &platform, &platform, now());
        let (st, b) = submit(&http, &first).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["owner"], platform.did_key().as_str());
        let (st, b) = submit(&http, &first).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "duplicate_operation".into())
        );
        let (st, b) = submit(&http, &claim("acme", &other, &other, now())).await;
        assert_eq!((st, error_code(st, &b)), (409, "zone_taken".into()));
        let (st, b) = http.get("/v1/zones/acme").await;
        assert_eq!((st, s(&b["owner"])), (200, platform.did_key().to_string()));

        // Nobody registers a name in the zone by themselves.
        let (st, b, did) = register(&http, Some("bot.acme")).await;
        assert_eq!((st, error_code(st, &b)), (403, "zone_owned".into()), "{b}");
        let (st, _) = http.get(&format!("/1.0/identifiers/{did}")).await;
        assert_eq!(st, 404, "nothing was written");

        // The owner binds a name to an agent registered without one.
        let (st, _, agent) = register(&http, None).await;
        assert_eq!(st, 201);
        let (st, b) = submit(&http, &bind("shopper.acme", &agent, &other)).await;
        assert_eq!((st, error_code(st, &b)), (403, "key_not_authorized".into()));
        let (st, b) = submit(&http, &bind("shopper.acme", &agent, &platform)).await;
        assert_eq!(st, 200, "{b}");
        let (st, r) = http.get("/1.0/identifiers/shopper.acme").await;
        assert_eq!((st, s(&r["didDocument"]["id"])), (200, agent.to_string()));
        assert_eq!(
            r["didDocument"]["alsoKnownAs"],
            json!(["agentid://shopper.acme"])
        );
        // A resolver replaying the agent's operations accepts the binding.
        let source = agentid_resolver::http::HttpSource::new(
            &f.server.url,
            std::time::Duration::from_secs(2),
        )
        .unwrap();
        agentid_resolver::Source::resolve(&source, "shopper.acme")
            .await
            .unwrap();
        // The name is taken; the agent has one already.
        let (_, _, second) = register(&http, None).await;
        let (st, b) = submit(&http, &bind("shopper.acme", &second, &platform)).await;
        assert_eq!((st, error_code(st, &b)), (409, "name_taken".into()), "{b}");
        let (st, b) = submit(&http, &bind("other.acme", &agent, &platform)).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (400, "invalid_operation".into()),
            "{b}"
        );

        // A sub-zone delegated to Alice: she names there, the platform no longer does.
        let (st, b) = submit(&http, &delegate("alice.acme", &alice, &other)).await;
        assert_eq!((st, error_code(st, &b)), (403, "key_not_authorized".into()));
        let (st, b) = submit(&http, &delegate("alice.acme", &alice, &platform)).await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = submit(&http, &bind("bot.alice.acme", &second, &platform)).await;
        assert_eq!((st, error_code(st, &b)), (403, "key_not_authorized".into()));
        let (st, b) = submit(&http, &bind("bot.alice.acme", &second, &alice)).await;
        assert_eq!(st, 200, "{b}");
        // Inside the zone, a claim is no way around its owner.
        let (st, b) = submit(&http, &claim("bob.acme", &alice, &alice, now())).await;
        assert_eq!((st, error_code(st, &b)), (403, "zone_owned".into()), "{b}");
        let (st, b) = submit(&http, &claim("alice.acme", &alice, &alice, now())).await;
        assert_eq!((st, error_code(st, &b)), (409, "zone_taken".into()), "{b}");

        // Unbinding: the name resolves no more and the agent's document drops it.
        let (st, b) = submit(&http, &unbind("bot.alice.acme", &alice)).await;
        assert_eq!(st, 200, "{b}");
        let (st, _) = http.get("/1.0/identifiers/bot.alice.acme").await;
        assert_eq!(st, 404);
        let (_, r) = http.get(&format!("/1.0/identifiers/{second}")).await;
        assert!(r["didDocument"]["alsoKnownAs"].is_null(), "{r}");
        let (st, b) = submit(&http, &unbind("bot.alice.acme", &alice)).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "duplicate_operation".into()),
            "{b}"
        );
        let again = zone(
            &ZoneOperation::UnbindName {
                name: name("bot.alice.acme"),
                created_at: format_rfc3339(now() - 1),
            },
            &alice,
        );
        let (st, b) = submit(&http, &again).await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()), "{b}");

        // Every accepted zone operation is in the log, signed by whom it names.
        let (_, log) = http.get("/v1/log/entries?after=0&limit=1000").await;
        let kinds: Vec<String> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| s(&e["kind"]))
            .filter(|k| k.contains("zone") || k.contains("name"))
            .collect();
        assert_eq!(
            kinds,
            [
                "claim-zone",
                "bind-name",
                "delegate-zone",
                "bind-name",
                "unbind-name"
            ]
        );
    }
}
