//! Zones (spec 5.6), against the real server: a platform claims a zone; only its owner binds
//! names in it and delegates sub-zones; nobody registers a name inside it by themselves;
//! every refusal has its code; operations are accepted once, within their time window.

use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::{create, name_consent, zone};
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

/// A zone owner's `bindName` of `n` to the agent `did`, with the consent of `agent` (its
/// rotation key) to be named by `signer`.
fn bind(n: &str, did: &AgentDid, agent: &KeyPair, signer: &KeyPair) -> String {
    let consent = name_consent(&name(n), did, &signer.did_key(), agent, now());
    bind_with(n, did, consent, signer)
}

fn bind_with(n: &str, did: &AgentDid, consent: String, signer: &KeyPair) -> String {
    let op = ZoneOperation::BindName {
        name: name(n),
        did: did.clone(),
        consent,
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
    let (st, b, did, _) = register_keyed(http, n).await;
    (st, b, did)
}

/// Registers an agent whose one key (verification method and rotation key) is returned.
async fn register_keyed(http: &Http, n: Option<&str>) -> (u16, Value, AgentDid, KeyPair) {
    let key = KeyPair::generate();
    let g = create(&key, &key, n.map(name), now());
    let (st, b) = http
        .post("/v1/agents", None, &json!({ "operation": g.operation }))
        .await;
    (st, b, g.did, key)
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
        // The same operation again is a retry: the first answer, nothing applied twice.
        let (st, again) = submit(&http, &first).await;
        assert_eq!((st, &again), (200, &b));
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
        let (st, _, agent, agent_key) = register_keyed(&http, None).await;
        assert_eq!(st, 201);
        let (st, b) = submit(&http, &bind("shopper.acme", &agent, &agent_key, &other)).await;
        assert_eq!((st, error_code(st, &b)), (403, "key_not_authorized".into()));
        let (st, b) = submit(&http, &bind("shopper.acme", &agent, &agent_key, &platform)).await;
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
        let (_, _, second, second_key) = register_keyed(&http, None).await;
        let (st, b) = submit(
            &http,
            &bind("shopper.acme", &second, &second_key, &platform),
        )
        .await;
        assert_eq!((st, error_code(st, &b)), (409, "name_taken".into()), "{b}");
        let (st, b) = submit(&http, &bind("other.acme", &agent, &agent_key, &platform)).await;
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
        let (st, b) = submit(
            &http,
            &bind("bot.alice.acme", &second, &second_key, &platform),
        )
        .await;
        assert_eq!((st, error_code(st, &b)), (403, "key_not_authorized".into()));
        let (st, b) = submit(&http, &bind("bot.alice.acme", &second, &second_key, &alice)).await;
        assert_eq!(st, 200, "{b}");
        // Inside the zone, a claim is no way around its owner.
        let (st, b) = submit(&http, &claim("bob.acme", &alice, &alice, now())).await;
        assert_eq!((st, error_code(st, &b)), (403, "zone_owned".into()), "{b}");
        let (st, b) = submit(&http, &claim("alice.acme", &alice, &alice, now())).await;
        assert_eq!((st, error_code(st, &b)), (409, "zone_taken".into()), "{b}");

        // Unbinding: the name resolves no more and the agent's document drops it.
        let unbound = unbind("bot.alice.acme", &alice);
        let (st, b) = submit(&http, &unbound).await;
        assert_eq!(st, 200, "{b}");
        let (st, _) = http.get("/1.0/identifiers/bot.alice.acme").await;
        assert_eq!(st, 404);
        let (_, r) = http.get(&format!("/1.0/identifiers/{second}")).await;
        assert!(r["didDocument"]["alsoKnownAs"].is_null(), "{r}");
        let (st, again) = submit(&http, &unbound).await;
        assert_eq!((st, &again), (200, &b), "a retry, answered the same");
        // Another unbinding (another time, so not the same bytes as a retry: `unbind` signs
        // `now()`, which may have moved on by a second since).
        let again = zone(
            &ZoneOperation::UnbindName {
                name: name("bot.alice.acme"),
                created_at: format_rfc3339(now() - 30),
            },
            &alice,
        );
        let (st, b) = submit(&http, &again).await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()), "{b}");

        // The zone's owner moderates the agents named in its zone: suspend, reinstate,
        // deplatform, each with a reason bound by its hash; nobody else does, and nowhere else.
        let reason = "card testing at three merchants";
        let suspend_for = |n: &str, at: i64, duration_secs: i64| ZoneOperation::SuspendAgent {
            name: name(n),
            reason_code: "fraud".into(),
            reason_hash: agentid_spec::log::reason_hash(reason),
            evidence_hash: None,
            duration_secs,
            created_at: format_rfc3339(at),
        };
        let suspend = |n: &str, at: i64| suspend_for(n, at, 3600);
        let post = |op: String, r: Option<&str>| {
            let body = json!({ "operation": op, "reason": r });
            let http = http.clone();
            async move { http.post("/v1/zones", None, &body).await }
        };
        for (op, r, status, code) in [
            (
                zone(&suspend("shopper.acme", now()), &other),
                Some(reason),
                403,
                "key_not_authorized",
            ),
            (
                zone(&suspend("shopper.acme", now()), &platform),
                None,
                400,
                "invalid_operation",
            ),
            (
                zone(&suspend("shopper.acme", now()), &platform),
                Some("another"),
                400,
                "invalid_operation",
            ),
            (
                zone(&suspend("shopper.alice", now()), &platform),
                Some(reason),
                400,
                "invalid_operation",
            ),
            (
                claim("zzz", &platform, &platform, now()),
                Some(reason),
                400,
                "invalid_operation",
            ),
        ] {
            let (st, b) = post(op, r).await;
            assert_eq!((st, error_code(st, &b)), (status, code.into()), "{b}");
        }
        let (st, b) = post(
            zone(&suspend("shopper.acme", now() - 2), &platform),
            Some(reason),
        )
        .await;
        assert_eq!((st, s(&b["status"])), (200, "suspended".into()), "{b}");
        let (_, r) = http.get("/1.0/identifiers/shopper.acme").await;
        assert_eq!(r["didDocumentMetadata"]["agentStatus"], "suspended");
        // The agent's latest log entry is now the decision, and the answer proves it.
        assert_eq!(
            r["didDocumentMetadata"]["logInclusion"]["seq"], b["logSeq"],
            "{r}"
        );
        let reinstate = ZoneOperation::ReinstateAgent {
            name: name("shopper.acme"),
            reason_hash: agentid_spec::log::reason_hash("explained"),
            created_at: format_rfc3339(now()),
        };
        let (st, b) = post(zone(&reinstate, &platform), Some("explained")).await;
        assert_eq!((st, s(&b["status"])), (200, "active".into()), "{b}");
        // While the registry's operator's decision stands, the zone's owner neither lifts nor
        // replaces it.
        let (st, b) = http
            .post(
                &format!("/v1/admin/agents/{agent}/suspend"),
                Some(&f.server.admin_token),
                &json!({ "reasonCode": "abuse", "reason": "registry policy", "durationSecs": 86400 }),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        // (Another reason than the first reinstatement's: the same text within the same
        // second would be that operation again, a retry.)
        let reinstate = ZoneOperation::ReinstateAgent {
            name: name("shopper.acme"),
            reason_hash: agentid_spec::log::reason_hash("explained again"),
            created_at: format_rfc3339(now() - 1),
        };
        let (st, b) = post(zone(&reinstate, &platform), Some("explained again")).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "key_not_authorized".into()),
            "{b}"
        );
        // (Not the very operation of the first suspension, which would be a retry of it.)
        let (st, b) = post(
            zone(&suspend_for("shopper.acme", now() - 3, 7200), &platform),
            Some(reason),
        )
        .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "key_not_authorized".into()),
            "{b}"
        );
        let (_, r) = http.get("/1.0/identifiers/shopper.acme").await;
        assert_eq!(r["didDocumentMetadata"]["suspended"]["reasonCode"], "abuse");
        let (st, _) = http
            .post(
                &format!("/v1/admin/agents/{agent}/reinstate"),
                Some(&f.server.admin_token),
                &json!({ "reason": "reviewed" }),
            )
            .await;
        assert_eq!(st, 200);
        let deplatform = ZoneOperation::DeplatformAgent {
            name: name("shopper.acme"),
            reason_hash: agentid_spec::log::reason_hash(reason),
            created_at: format_rfc3339(now()),
        };
        let (st, b) = post(zone(&deplatform, &platform), Some(reason)).await;
        assert_eq!((st, s(&b["status"])), (200, "deplatformed".into()), "{b}");
        let (st, _) = http.get("/1.0/identifiers/shopper.acme").await;
        assert_eq!(st, 410);
        // In the public log: the owner as actor, the zone and its signed operation in the
        // decision, the reason by its hash only.
        let (_, log) = http.get("/v1/log/entries?after=0&limit=1000").await;
        let last = log["entries"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(s(&last["kind"]), "deplatform");
        assert_eq!(s(&last["actor"]), platform.did_key().to_string());
        let decision: Value = serde_json::from_str(&s(&last["operation"])).unwrap();
        assert_eq!(decision["zone"], "acme");
        assert!(agentid_spec::zone::open(&s(&decision["authorization"])).is_ok());
        assert_eq!(
            s(&last["reasonHash"]),
            agentid_spec::log::reason_hash(reason)
        );
        assert!(!last.to_string().contains(reason));

        // Every accepted zone operation is in the log, signed by whom it names.
        let (_, log) = http.get("/v1/log/entries?after=0&limit=1000").await;
        let kinds: Vec<String> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| s(&e["kind"]))
            .filter(|k| k.contains("zone") || k.contains("name") || k.contains("platform"))
            .collect();
        assert_eq!(
            kinds,
            [
                "claim-zone",
                "bind-name",
                "delegate-zone",
                "bind-name",
                "unbind-name",
                "deplatform"
            ]
        );
    }
}

/// A DNS server on loopback (dnsmasq) answering `record`s (`name,value`); stopped on drop.
struct DnsServer {
    child: tokio::process::Child,
    addr: String,
}

impl DnsServer {
    /// Starts dnsmasq on a free loopback port and waits until it answers. A port found free for
    /// UDP may be taken for TCP by another test's process (dnsmasq binds both and exits), so a
    /// start that exits is retried on another port, and one that never answers fails loudly
    /// rather than leaving the test to read a timeout as a refusal.
    async fn start(records: &[(&str, &str)]) -> Self {
        let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("dnsmasq is required (apt-get install dnsmasq-base; .ci/run installs it)");
        let mut failures = Vec::new();
        for _ in 0..10 {
            let port = std::net::UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut args = vec![
                "--no-daemon".to_owned(),
                "--no-resolv".into(),
                "--no-hosts".into(),
                "--bind-interfaces".into(),
                "--listen-address=127.0.0.1".into(),
                format!("--port={port}"),
                "--pid-file".into(),
            ];
            for (name, value) in records {
                args.push(format!("--txt-record={name},{value}"));
            }
            let mut child = tokio::process::Command::new(binary)
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("dnsmasq starts");
            // Until it answers on its port, or exits.
            let probe = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x01";
            let mut answered = false;
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                probe.send_to(query, ("127.0.0.1", port)).await.unwrap();
                let mut buf = [0u8; 512];
                let reply = tokio::time::timeout(
                    std::time::Duration::from_millis(100),
                    probe.recv(&mut buf),
                )
                .await;
                if matches!(reply, Ok(Ok(n)) if n >= 2 && buf[..2] == query[..2]) {
                    answered = true;
                    break;
                }
            }
            if answered {
                return Self {
                    child,
                    addr: format!("127.0.0.1:{port}"),
                };
            }
            let _ = child.start_kill();
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    stderr.read_to_string(&mut err),
                )
                .await;
            }
            failures.push(format!("port {port}: {}", err.trim()));
        }
        panic!("dnsmasq never answered: {failures:?}");
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A DNS domain is claimed as a zone when its `_agentid` TXT record names the owner, looked up
/// (hickory-resolver) on a real DNS server on loopback; anything else is `dns_proof_failed`.
#[tokio::test]
async fn a_dns_domain_is_claimed_by_the_owner_its_txt_record_names() {
    let (owner, other) = (KeyPair::generate(), KeyPair::generate());
    let record = format!("agentid-zone={}", owner.did_key());
    let dns = DnsServer::start(&[
        ("_agentid.acmeshop.dev", &record),
        ("_agentid.spf.dev", "v=spf1 -all"),
        ("_agentid.two.dev", &record),
        (
            "_agentid.two.dev",
            &format!("agentid-zone={}", other.did_key()),
        ),
    ])
    .await;
    for backend in backends().await {
        let server =
            crate::support::Server::start_with(&backend, &["--dns-server", &dns.addr]).await;
        let http = server.http();
        for (z, owner_key, status, code) in [
            ("acmeshop.dev", &other, 403, "dns_proof_failed"),
            ("spf.dev", &owner, 403, "dns_proof_failed"),
            ("two.dev", &owner, 403, "dns_proof_failed"),
            ("nothing.dev", &owner, 403, "dns_proof_failed"),
        ] {
            let (st, b) = submit(&http, &claim(z, owner_key, owner_key, now())).await;
            assert_eq!((st, error_code(st, &b)), (status, code.into()), "{z}: {b}");
            // Refused for what the server answered, not for a lookup that failed.
            assert!(!b.to_string().contains("timed out"), "{z}: {b}");
        }
        let (st, b) = submit(&http, &claim("acmeshop.dev", &owner, &owner, now())).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["dns"], true);
        // The domain's owner names agents in it.
        let (_, _, agent, agent_key) = register_keyed(&http, None).await;
        let (st, b) = submit(
            &http,
            &bind("checkout.acmeshop.dev", &agent, &agent_key, &owner),
        )
        .await;
        assert_eq!(st, 200, "{b}");
        let (st, r) = http.get("/1.0/identifiers/checkout.acmeshop.dev").await;
        assert_eq!((st, s(&r["didDocument"]["id"])), (200, agent.to_string()));
        let (st, b, _) = register(&http, Some("bot.acmeshop.dev")).await;
        assert_eq!((st, error_code(st, &b)), (403, "zone_owned".into()));
    }
    // Without a DNS server configured, a DNS claim is refused, not guessed.
    let server = crate::support::Server::start_with(
        &crate::support::Backend::Sqlite,
        &["--dns-server", "off"],
    )
    .await;
    let (st, b) = submit(
        &server.http(),
        &claim("acmeshop.dev", &owner, &owner, now()),
    )
    .await;
    assert_eq!(
        (st, error_code(st, &b)),
        (403, "dns_proof_failed".into()),
        "{b}"
    );
}

/// Finding: with a fresh key, a stranger claimed a zone, bound a victim's DID into it, then
/// deplatformed it. A name in a zone now needs the agent's own signed consent to that name and
/// that zone owner; a zone's owner moderates only agents so named; an agent sheds no decision
/// by leaving the zone, and a zone can no longer be delegated over names bound in it.
#[tokio::test]
async fn nobody_names_or_moderates_an_agent_without_its_consent() {
    for backend in backends().await {
        let server = crate::support::Server::start(&backend).await;
        let http = server.http();
        let (stranger, platform) = (KeyPair::generate(), KeyPair::generate());
        let (_, _, victim, victim_key) = register_keyed(&http, None).await;
        let (st, b) = submit(&http, &claim("strangerzone", &stranger, &stranger, now())).await;
        assert_eq!(st, 200, "{b}");

        // Every way of binding the victim without its consent is refused, and writes nothing.
        let elsewhere = name_consent(
            &name("bot.strangerzone"),
            &victim,
            &platform.did_key(),
            &victim_key,
            now(),
        );
        let other_name = name_consent(
            &name("other.strangerzone"),
            &victim,
            &stranger.did_key(),
            &victim_key,
            now(),
        );
        let stale = name_consent(
            &name("bot.strangerzone"),
            &victim,
            &stranger.did_key(),
            &victim_key,
            now() - 600,
        );
        let self_made = name_consent(
            &name("bot.strangerzone"),
            &victim,
            &stranger.did_key(),
            &stranger,
            now(),
        );
        for (consent, code) in [
            (self_made, "consent_invalid"),
            (elsewhere, "consent_invalid"),
            (other_name, "consent_invalid"),
            (stale, "consent_invalid"),
            ("not.a.jws".to_owned(), "consent_invalid"),
        ] {
            let op = bind_with("bot.strangerzone", &victim, consent, &stranger);
            let (st, b) = submit(&http, &op).await;
            assert_eq!((st, error_code(st, &b)), (403, code.into()), "{b}");
        }
        // An old client's bindName without a consent is malformed.
        let bare = agentid_spec::jose::sign_compact(
            &agentid_spec::jose::JoseHeader::eddsa(
                agentid_spec::zone::ZONE_OP_TYP,
                None,
                &stranger.did_key().key_id(),
            ),
            json!({ "type": "bindName", "name": "bot.strangerzone", "did": victim,
                    "createdAt": format_rfc3339(now()) })
            .to_string()
            .as_bytes(),
            stranger.signing_key(),
        );
        let (st, b) = submit(&http, &bare).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (400, "invalid_operation".into()),
            "{b}"
        );
        let (st, _) = http.get("/1.0/identifiers/bot.strangerzone").await;
        assert_eq!(st, 404);
        let deplatform = |n: &str, at: i64| ZoneOperation::DeplatformAgent {
            name: name(n),
            reason_hash: agentid_spec::log::reason_hash("because"),
            created_at: format_rfc3339(at),
        };
        let (st, b) = http
            .post(
                "/v1/zones",
                None,
                &json!({ "operation": zone(&deplatform("bot.strangerzone", now()), &stranger),
                         "reason": "because" }),
            )
            .await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()), "{b}");
        let (st, r) = http.get(&format!("/1.0/identifiers/{victim}")).await;
        assert_eq!(
            (st, s(&r["didDocumentMetadata"]["agentStatus"])),
            (200, "active".into())
        );

        // With its consent, the agent is named by the platform, which moderates it.
        let (st, b) = submit(&http, &claim("platformzone", &platform, &platform, now())).await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = submit(
            &http,
            &bind("bot.platformzone", &victim, &victim_key, &platform),
        )
        .await;
        assert_eq!(st, 200, "{b}");
        // The stranger still moderates nothing outside its zone.
        let (st, b) = http
            .post(
                "/v1/zones",
                None,
                &json!({ "operation": zone(&deplatform("bot.platformzone", now()), &stranger),
                         "reason": "because" }),
            )
            .await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "key_not_authorized".into()),
            "{b}"
        );
        // The platform suspends it; leaving the zone does not lift the suspension, and the
        // former zone's owner reaches it no more; the registry's operator does.
        let suspend = ZoneOperation::SuspendAgent {
            name: name("bot.platformzone"),
            reason_code: "fraud".into(),
            reason_hash: agentid_spec::log::reason_hash("because"),
            evidence_hash: None,
            duration_secs: 3600,
            created_at: format_rfc3339(now()),
        };
        let (st, b) = http
            .post(
                "/v1/zones",
                None,
                &json!({ "operation": zone(&suspend, &platform), "reason": "because" }),
            )
            .await;
        assert_eq!((st, s(&b["status"])), (200, "suspended".into()), "{b}");
        let (st, b) = submit(&http, &unbind("bot.platformzone", &platform)).await;
        assert_eq!(st, 200, "{b}");
        let (_, r) = http.get(&format!("/1.0/identifiers/{victim}")).await;
        assert_eq!(r["didDocumentMetadata"]["agentStatus"], "suspended", "{r}");
        let reinstate = ZoneOperation::ReinstateAgent {
            name: name("bot.platformzone"),
            reason_hash: agentid_spec::log::reason_hash("because"),
            created_at: format_rfc3339(now()),
        };
        let (st, b) = http
            .post(
                "/v1/zones",
                None,
                &json!({ "operation": zone(&reinstate, &platform), "reason": "because" }),
            )
            .await;
        assert_eq!((st, error_code(st, &b)), (404, "not_found".into()), "{b}");
        let (st, b) = http
            .post(
                &format!("/v1/admin/agents/{victim}/reinstate"),
                Some(&server.admin_token),
                &json!({ "reason": "reviewed" }),
            )
            .await;
        assert_eq!(st, 200, "{b}");

        // A sub-zone holding names its agents agreed to under the owner above is not handed to
        // a new owner.
        let (_, _, agent, agent_key) = register_keyed(&http, None).await;
        let (st, b) = submit(
            &http,
            &bind("bot.team.platformzone", &agent, &agent_key, &platform),
        )
        .await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = submit(&http, &delegate("team.platformzone", &stranger, &platform)).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "zone_occupied".into()),
            "{b}"
        );
    }
}

/// Finding: `com`, `org`, `io` and `net` were first-come zones. A name under a DNS top-level
/// domain is had only in a zone proven by DNS; a public suffix is never a zone; brands and
/// infrastructure words are reserved.
#[tokio::test]
async fn dns_names_are_never_first_come() {
    let server = crate::support::Server::start_with(
        &crate::support::Backend::Sqlite,
        &["--dns-server", "off"],
    )
    .await;
    let http = server.http();
    let key = KeyPair::generate();
    for (z, status, code) in [
        ("com", 409, "name_reserved"),
        ("org", 409, "name_reserved"),
        ("io", 409, "name_reserved"),
        ("net", 409, "name_reserved"),
        ("co.uk", 409, "name_reserved"),
        ("github.io", 409, "name_reserved"),
        ("paypal", 409, "name_reserved"),
        ("visa", 409, "name_reserved"),
        ("internal", 409, "name_reserved"),
        // Newer top-level domains too.
        ("shop", 409, "name_reserved"),
        ("bot", 409, "name_reserved"),
        ("paypal.com", 403, "dns_proof_failed"),
        // Internationalised top-level domains, in their ASCII form, and those the list names
        // only by a wildcard.
        ("xn--80ao21a", 409, "name_reserved"),
        ("xn--p1ai", 409, "name_reserved"),
        ("fk", 409, "name_reserved"),
        ("ck", 409, "name_reserved"),
    ] {
        let (st, b) = submit(&http, &claim(z, &key, &key, now())).await;
        assert_eq!((st, error_code(st, &b)), (status, code.into()), "{z}: {b}");
    }
    // Nor registered first come outside a zone.
    for n in [
        "paypal.com",
        "checkout.paypal.com",
        "bot.shop",
        "agent.io",
        "sber.xn--p1ai",
        "x.ck",
    ] {
        let (st, b, _) = register(&http, Some(n)).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (403, "dns_proof_required".into()),
            "{n}: {b}"
        );
    }
    let (st, b, _) = register(&http, Some("checkout.paypal")).await;
    assert_eq!(
        (st, error_code(st, &b)),
        (409, "name_reserved".into()),
        "{b}"
    );
    // Finding (fifth attack): look-alikes of reserved names were had first come. A name or
    // zone that reads as one (its Unicode TS #39 skeleton), or whose IDNA label mixes scripts,
    // is reserved too, whether registered, claimed or bound in a zone.
    for (n, why) in [
        ("xn--pypal-4ve", "mixes scripts"),
        ("checkout.xn--80aa0cbo65f", "reads as paypal"),
        ("paypa1", "reads as paypal"),
        ("arnazon", "reads as amazon"),
        ("g00gle", "reads as google"),
        ("xn--amazn-mua", "reads as amazon"),
        ("xn--paypa-fn1h", "mixes scripts"),
        ("xn--bucher-xyd", "NFC"),
    ] {
        let (st, b, _) = register(&http, Some(n)).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "name_reserved".into()),
            "{n}: {b}"
        );
        assert!(b.to_string().contains(why), "{n}: {b}");
        let top = n.rsplit('.').next().unwrap();
        let (st, b) = submit(&http, &claim(top, &key, &key, now())).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "name_reserved".into()),
            "{top}: {b}"
        );
    }
    // Names outside DNS stay first come, in any one script.
    for fine in ["xn--e1afmkfd", "xn--bcher-kva", "horne"] {
        let (st, b, _) = register(&http, Some(fine)).await;
        assert_eq!(st, 201, "{fine}: {b}");
    }
    let (st, b) = submit(&http, &claim("acmeagents", &key, &key, now())).await;
    assert_eq!(st, 200, "{b}");
    let (st, b, _) = register(&http, Some("shopper.bobsagents")).await;
    assert_eq!(st, 201, "{b}");
    // The owner of a zone binds no homograph in it either.
    let (_, _, agent, agent_key) = register_keyed(&http, None).await;
    let (st, b) = submit(
        &http,
        &bind("xn--pypal-4ve.acmeagents", &agent, &agent_key, &key),
    )
    .await;
    assert_eq!(
        (st, error_code(st, &b)),
        (409, "name_reserved".into()),
        "{b}"
    );
    let (st, b) = submit(
        &http,
        &bind("xn--e1afmkfd.acmeagents", &agent, &agent_key, &key),
    )
    .await;
    assert_eq!(st, 200, "{b}");
}

/// Finding: bind, unbind, bind again with byte-identical operations: the third was answered
/// with the first bind's answer while the name was not bound. A retry gets its first answer
/// only while that effect stands; and a replay is known from the log, not the table of answers.
#[tokio::test]
async fn a_retry_is_answered_done_only_while_its_effect_stands() {
    for backend in backends().await {
        let server = crate::support::Server::start(&backend).await;
        let http = server.http();
        let owner = KeyPair::generate();
        let claimed = claim("retryzone", &owner, &owner, now());
        let (st, first) = submit(&http, &claimed).await;
        assert_eq!(st, 200, "{first}");
        let (_, _, agent, agent_key) = register_keyed(&http, None).await;
        let bound = bind("bot.retryzone", &agent, &agent_key, &owner);
        let (st, first_bind) = submit(&http, &bound).await;
        assert_eq!(st, 200, "{first_bind}");
        let (st, again) = submit(&http, &bound).await;
        assert_eq!((st, &again), (200, &first_bind), "a retry while it stands");
        let (st, b) = submit(&http, &unbind("bot.retryzone", &owner)).await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = submit(&http, &bound).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "operation_superseded".into()),
            "{b}"
        );
        let (st, _) = http.get("/1.0/identifiers/bot.retryzone").await;
        assert_eq!(st, 404, "the name is not bound, and no answer says it is");
        // A claim that still stands is still answered as done.
        let (st, again) = submit(&http, &claimed).await;
        assert_eq!((st, &again), (200, &first));

        // Finding (database forgery): with the answers' table emptied behind the registry's
        // back, the bind replayed within the skew was applied again. The log says it was
        // applied: the replay is refused, and the name stays unbound.
        assert!(crate::support::tamper(&server, "DELETE FROM registry_zone_ops", &[]).await >= 3);
        for op in [&bound, &claimed] {
            let (st, b) = submit(&http, op).await;
            assert_eq!(
                (st, error_code(st, &b)),
                (409, "duplicate_operation".into()),
                "{b}"
            );
        }
        let (st, _) = http.get("/1.0/identifiers/bot.retryzone").await;
        assert_eq!(st, 404, "the replay bound nothing");
    }
}

/// Findings of the attack on consent: a thief holding only an agent's lowest-priority rotation
/// key consented on its behalf to a zone of its own and deplatformed it there (a recovery by the
/// first key was then refused); a zone owner's suspension carried free text as its
/// `evidenceHash` into the public log. A consent needs the highest-priority rotation key, and
/// every suspension's `evidenceHash` is a SHA-256.
#[tokio::test]
async fn a_stolen_backup_key_names_nobody_and_evidence_is_a_hash() {
    let server = crate::support::Server::start(&crate::support::Backend::Sqlite).await;
    let http = server.http();
    let (first, backup, thief_zone) = (
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
    );
    let keys = agentid_sdk::operation::Keys::new(&first, &[&first, &backup]);
    let g = agentid_sdk::operation::create_with(&keys, None, &first, now());
    let (st, b) = http
        .post("/v1/agents", None, &json!({ "operation": g.operation }))
        .await;
    assert_eq!(st, 201, "{b}");
    let (st, _) = submit(&http, &claim("thiefzone", &thief_zone, &thief_zone, now())).await;
    assert_eq!(st, 200);
    let (st, b) = submit(&http, &bind("v.thiefzone", &g.did, &backup, &thief_zone)).await;
    assert_eq!(
        (st, error_code(st, &b)),
        (403, "consent_invalid".into()),
        "{b}"
    );
    let (st, b) = submit(&http, &bind("v.thiefzone", &g.did, &first, &thief_zone)).await;
    assert_eq!(st, 200, "with the first key: {b}");
    let suspend = ZoneOperation::SuspendAgent {
        name: name("v.thiefzone"),
        reason_code: "fraud".into(),
        reason_hash: agentid_spec::log::reason_hash("because"),
        evidence_hash: Some("<script>VISIT http://evil.example</script>".into()),
        duration_secs: 3600,
        created_at: format_rfc3339(now()),
    };
    let (st, b) = http
        .post(
            "/v1/zones",
            None,
            &json!({ "operation": zone(&suspend, &thief_zone), "reason": "because" }),
        )
        .await;
    assert_eq!(
        (st, error_code(st, &b)),
        (400, "invalid_operation".into()),
        "{b}"
    );
}

/// Finding (fourteenth attack): the thief with the backup key first made a key of its own the
/// agent's only rotation key (an update any rotation key may sign), then consented with it to a
/// zone of its own and deplatformed the agent there: the owner's recovery, in time, was then
/// refused (`agent_deplatformed`). A consent needs a highest key that no recovery can still
/// take from its place; the owner recovers, and the thief's key consents to nothing.
#[tokio::test]
async fn a_stolen_backup_key_cannot_promote_itself_to_consent() {
    let server = crate::support::Server::start(&crate::support::Backend::Sqlite).await;
    let http = server.http();
    let (first, backup, thief, thief_zone) = (
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
        KeyPair::generate(),
    );
    let keys = agentid_sdk::operation::Keys::new(&first, &[&first, &backup]);
    let g = agentid_sdk::operation::create_with(&keys, None, &first, now());
    let did = g.did.as_str().to_owned();
    let (st, b) = http
        .post("/v1/agents", None, &json!({ "operation": g.operation }))
        .await;
    assert_eq!(st, 201, "{b}");
    let genesis = agentid_spec::id::hash_b32(g.operation.as_bytes());
    let promote = agentid_sdk::operation::update(
        &g.did,
        &genesis,
        &agentid_sdk::operation::Keys::new(&thief, &[&thief]),
        &backup,
        now(),
    );
    let ops = format!("/v1/agents/{did}/operations");
    let (st, b) = http
        .post(&ops, None, &json!({ "operation": promote }))
        .await;
    assert_eq!(st, 200, "a rotation key may update: {b}");
    let (st, _) = submit(&http, &claim("lairzone", &thief_zone, &thief_zone, now())).await;
    assert_eq!(st, 200);
    let (st, b) = submit(&http, &bind("v.lairzone", &g.did, &thief, &thief_zone)).await;
    assert_eq!(
        (st, error_code(st, &b)),
        (403, "consent_invalid".into()),
        "a consent resting on what the owner may still undo: {b}"
    );
    assert!(b.to_string().contains("recovery may still undo"), "{b}");
    let deplatform = ZoneOperation::DeplatformAgent {
        name: name("v.lairzone"),
        reason_hash: agentid_spec::log::reason_hash("mine now"),
        created_at: format_rfc3339(now()),
    };
    let (st, b) = http
        .post(
            "/v1/zones",
            None,
            &json!({ "operation": zone(&deplatform, &thief_zone), "reason": "mine now" }),
        )
        .await;
    assert!(st >= 400, "no binding, no moderation: {b}");
    // The owner's recovery, in time, takes the agent back.
    let recovery = agentid_sdk::operation::update(
        &g.did,
        &genesis,
        &agentid_sdk::operation::Keys::new(&first, &[&first]),
        &first,
        now(),
    );
    let (st, b) = http
        .post(&ops, None, &json!({ "operation": recovery }))
        .await;
    assert_eq!(st, 200, "the recovery: {b}");
    let (st, r) = http.get(&format!("/1.0/identifiers/{did}")).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["didDocumentMetadata"]["agentStatus"], "active", "{r}");
}

/// Finding (outside attack): a zone's owner was read from its stored row, so someone who could
/// write the database gave themselves a platform's zone and named agents in it. The owner is
/// now proved by the zone's sealed `claim-zone` entry; a rewritten row is refused and reported.
#[tokio::test]
async fn a_zone_or_name_given_away_in_the_database_is_refused() {
    for backend in backends().await {
        let mut server = crate::support::Server::start(&backend).await;
        let (platform, thief) = (KeyPair::generate(), KeyPair::generate());
        let (st, b) = submit(
            &server.http(),
            &claim("shopzone", &platform, &platform, now()),
        )
        .await;
        assert_eq!(st, 200, "{b}");
        server.stop().await;
        let changed = crate::support::tamper(
            &server,
            "UPDATE registry_zones SET owner = $1 WHERE zone = 'shopzone'",
            &[thief.did_key().as_str()],
        )
        .await;
        assert_eq!(changed, 1);
        server.restart().await;
        let http = server.http();
        let (st, _, did, key) = register_keyed(&http, None).await;
        assert_eq!(st, 201);
        let (st, b) = submit(&http, &bind("fake.shopzone", &did, &key, &thief)).await;
        assert_eq!(st, 500, "the rewritten owner was believed: {b}");
        let (st, b) = http.get("/1.0/identifiers/fake.shopzone").await;
        assert_eq!(st, 404, "{b}");
        let (_, metrics) = http.get_text("/metrics").await;
        assert!(
            metrics.contains("agentid_unproven_agents_total 1"),
            "{metrics}"
        );
        // Nor shown (seventh attack: the zone's page named the forged owner).
        let (st, b) = http.get("/v1/zones/shopzone").await;
        assert_eq!(st, 500, "the rewritten owner was shown: {b}");
        // And the audit says so (it checked agents only).
        let (code, out) = server.cli(&["log", "verify", "--audit"]).await;
        assert_ne!(code, 0, "{out}");
        assert_eq!(out["error"]["code"], "state_mismatch", "{out}");
        assert!(out.to_string().contains("zone shopzone"), "{out}");

        // Outside attack: a zone's row deleted, a stranger claims the zone. The log gave it
        // to its first claimant; the claim is refused.
        let (st, b) = submit(&http, &claim("otherzone", &platform, &platform, now())).await;
        assert_eq!(st, 200, "{b}");
        crate::support::tamper(
            &server,
            "DELETE FROM registry_zones WHERE zone = 'otherzone'",
            &[],
        )
        .await;
        let (st, b) = submit(&http, &claim("otherzone", &thief, &thief, now())).await;
        assert_eq!(st, 500, "a deleted zone was claimed again: {b}");
        let (st, b) = http.get("/v1/zones/otherzone").await;
        assert_ne!(
            b["owner"].as_str(),
            Some(thief.did_key().as_str()),
            "{st} {b}"
        );

        // Eighth attack: a zone's DNS flag or parent rewritten was shown as written.
        let (st, b) = submit(&http, &claim("flagzone", &platform, &platform, now())).await;
        assert_eq!(st, 200, "{b}");
        let (st, _) = http.get("/v1/zones/flagzone").await;
        assert_eq!(st, 200);
        crate::support::tamper(
            &server,
            "UPDATE registry_zones SET dns = 1 WHERE zone = 'flagzone'",
            &[],
        )
        .await;
        let (st, b) = http.get("/v1/zones/flagzone").await;
        assert_eq!(st, 500, "a rewritten DNS flag was shown: {b}");

        // And a name cleared from its agent's row is not given to the next registration.
        let (st, _, victim) = register(&http, Some("victimname")).await;
        assert_eq!(st, 201);
        crate::support::tamper(
            &server,
            "UPDATE registry_agents SET name = NULL WHERE did = $1",
            &[victim.as_str()],
        )
        .await;
        let (st, b, _) = register(&http, Some("victimname")).await;
        assert_eq!(st, 500, "a cleared name was given away: {b}");

        // Outside attack, again: the index of names in the log cleared as well, or the holder's
        // row made to look deactivated long ago (so that a registration releases its name).
        let (st, _, third) = register(&http, Some("thirdname")).await;
        assert_eq!(st, 201);
        crate::support::tamper(
            &server,
            "UPDATE registry_agents SET status = 'deactivated', status_changed_at = 0 \
             WHERE did = $1",
            &[third.as_str()],
        )
        .await;
        let (st, b, _) = register(&http, Some("thirdname")).await;
        assert_eq!(st, 500, "a name was released from a live agent: {b}");
        let holder = crate::support::peek(
            &server,
            "SELECT did FROM registry_agents WHERE name = 'thirdname'",
            &[],
        )
        .await;
        assert_eq!(holder, Some(vec![third.to_string()]));
        let (st, b, second) = register(&http, Some("secondname")).await;
        assert_eq!(st, 201, "{b}");
        crate::support::tamper(
            &server,
            "UPDATE registry_log SET name = NULL WHERE did = $1",
            &[second.as_str()],
        )
        .await;
        crate::support::tamper(
            &server,
            "UPDATE registry_agents SET name = NULL WHERE did = $1",
            &[second.as_str()],
        )
        .await;
        let (st, b, _) = register(&http, Some("secondname")).await;
        assert_eq!(
            st, 500,
            "a name taken off the log's index was given away: {b}"
        );
        // Restarted, the node reads that entry as it now is (its seal no longer fits): while the
        // log holds it, nobody is given any name.
        server.stop().await;
        server.restart().await;
        let http = server.http();
        let (st, b, _) = register(&http, Some("fourthname")).await;
        assert_eq!(st, 500, "{b}");
    }
}

/// Third outside attack, each with someone who can write the database and a stranger on HTTP:
/// a name cleared from its row while a stranger claims the zone above it; a decision deleted
/// from the log at once, or later from its middle; a binding forged into the log so that a
/// stranger's zone moderates an agent that never consented. Each is noticed.
#[tokio::test]
async fn what_the_database_hides_or_adds_is_noticed() {
    for backend in backends().await {
        let server = crate::support::Server::start(&backend).await;
        let http = server.http();
        let stranger = KeyPair::generate();

        // A first-come name whose row is cleared does not let a stranger claim the zone above.
        let (st, _, victim) = register(&http, Some("bot.firstcome")).await;
        assert_eq!(st, 201);
        crate::support::tamper(
            &server,
            "UPDATE registry_agents SET name = NULL WHERE did = $1",
            &[victim.as_str()],
        )
        .await;
        let (st, b) = submit(&http, &claim("firstcome", &stranger, &stranger, now())).await;
        assert_eq!(
            (st, error_code(st, &b)),
            (409, "zone_occupied".into()),
            "{b}"
        );

        // A deplatforming deleted from the log at once, or from its middle later, is noticed.
        let admin = |did: &AgentDid| format!("/v1/admin/agents/{did}/deplatform");
        let undo = |did: &AgentDid| {
            let did = did.to_string();
            let server = &server;
            async move {
                crate::support::tamper(
                    server,
                    "DELETE FROM registry_log WHERE did = $1 AND kind = 'deplatform'",
                    &[&did],
                )
                .await;
                crate::support::tamper(
                    server,
                    "UPDATE registry_agents SET status = 'active', status_reason = NULL \
                     WHERE did = $1",
                    &[&did],
                )
                .await;
            }
        };
        for later in [false, true] {
            let (st, _, fraud) = register(&http, None).await;
            assert_eq!(st, 201);
            let (st, b) = http
                .post(
                    &admin(&fraud),
                    Some(&server.admin_token),
                    &json!({ "reason": "fraud" }),
                )
                .await;
            assert_eq!(st, 200, "{b}");
            if later {
                let (st, _, _) = register(&http, None).await;
                assert_eq!(st, 201);
            }
            undo(&fraud).await;
            let (st, b) = http.get(&format!("/1.0/identifiers/{fraud}")).await;
            assert_eq!(
                st, 500,
                "a deleted deplatforming was undone (later: {later}): {b}"
            );
        }

        // A binding forged into the log (unsealed, at seq -1) gives a stranger's zone no hold
        // over an agent that never consented.
        let (st, b) = submit(&http, &claim("strangerzone", &stranger, &stranger, now())).await;
        assert_eq!(st, 200, "{b}");

        // Nor does a name written into an agent's row let the stranger's zone unbind it (and
        // so strip the agent of its own name).
        let (st, _, named) = register(&http, Some("namedbot")).await;
        assert_eq!(st, 201);
        crate::support::tamper(
            &server,
            "UPDATE registry_agents SET name = 'w.strangerzone' WHERE did = $1",
            &[named.as_str()],
        )
        .await;
        let (st, b) = submit(&http, &unbind("w.strangerzone", &stranger)).await;
        assert_ne!(
            st, 200,
            "a stranger's zone unbound a name it never bound: {b}"
        );
        let unbound = crate::support::peek(
            &server,
            "SELECT CAST(COUNT(*) AS TEXT) FROM registry_log WHERE did = $1 AND kind = 'unbind-name'",
            &[named.as_str()],
        )
        .await;
        assert_eq!(unbound, Some(vec!["0".to_owned()]));
        let (st, _, target) = register(&http, Some("targetbot")).await;
        assert_eq!(st, 201);
        let forged = bind("v.strangerzone", &target, &stranger, &stranger);
        crate::support::tamper(
            &server,
            "INSERT INTO registry_log (seq, did, kind, operation, actor, reason, prev_hash, \
             entry_hash, created_at, name) VALUES (-1, $1, 'bind-name', $2, $3, NULL, 'x', 'x', \
             0, 'v.strangerzone')",
            &[target.as_str(), &forged, stranger.did_key().as_str()],
        )
        .await;
        crate::support::tamper(
            &server,
            "UPDATE registry_agents SET name = 'v.strangerzone' WHERE did = $1",
            &[target.as_str()],
        )
        .await;
        let reason = "because";
        let deplatform = ZoneOperation::DeplatformAgent {
            name: name("v.strangerzone"),
            reason_hash: agentid_spec::log::reason_hash(reason),
            created_at: format_rfc3339(now()),
        };
        let (st, b) = http
            .post(
                "/v1/zones",
                None,
                &json!({ "operation": zone(&deplatform, &stranger), "reason": reason }),
            )
            .await;
        assert_ne!(
            st, 200,
            "a stranger's zone moderated an agent that never consented: {b}"
        );
        let standing = crate::support::peek(
            &server,
            "SELECT status FROM registry_agents WHERE did = $1",
            &[target.as_str()],
        )
        .await;
        assert_eq!(standing, Some(vec!["active".to_owned()]));
    }
}
