//! An agent developer's commands (`agentid agent register|update|deactivate|history|log`), on
//! the SDK's typed client: the agent's keys stay on this machine, its signed operations go to
//! the registry, and its history is replayed here from what the registry serves.

use agentid_sdk::client::Client;
use agentid_spec::clock::{Clock, SystemClock};
use agentid_spec::history::History;
use agentid_spec::id::{AgentDid, AgentName};
use agentid_spec::time::format_rfc3339;
use serde_json::{json, Value};

use super::commands::{public_key, read_key};
use super::wallet::{client, printed};
use super::{AgentCommand, Failure, Output};

pub(crate) async fn agent(
    server: &str,
    cmd: AgentCommand,
    pass: Option<&str>,
) -> Result<Output, Failure> {
    let client = client(server)?;
    let now = SystemClock.now();
    match cmd {
        AgentCommand::Register {
            key,
            rotation_key,
            name,
        } => {
            let signing = read_key(&key, pass)?;
            let rotation = match rotation_key {
                Some(p) => read_key(&p, pass)?,
                None => read_key(&key, pass)?,
            };
            let name = name
                .map(|n| AgentName::parse(&n))
                .transpose()
                .map_err(|e| Failure::new("invalid_name", e.to_string()))?;
            let genesis = agentid_sdk::operation::create(&signing, &rotation, name, now);
            let registered = client.register(&genesis.operation).await?.value;
            if registered.did != genesis.did.as_str() {
                return Err(Failure::new(
                    "registry_mismatch",
                    "the registry answered a DID other than the genesis hash",
                ));
            }
            printed(registered)
        }
        AgentCommand::Deactivate { did, key } => {
            let did = parse_did(&did)?;
            let rotation = read_key(&key, pass)?;
            let history = replayed_history(&client, &did).await?;
            let op = agentid_sdk::operation::deactivate(&did, history.head(), &rotation, now);
            printed(client.operate(&did, &op).await?.value)
        }
        AgentCommand::Update {
            did,
            key,
            signing_keys,
            rotation_keys,
            services,
            no_services,
            prev,
        } => {
            let did = parse_did(&did)?;
            let signer = read_key(&key, pass)?;
            let history = replayed_history(&client, &did).await?;
            let base = match &prev {
                Some(p) => history
                    .entries()
                    .iter()
                    .find(|e| !e.nullified && e.hash == *p)
                    .ok_or_else(|| {
                        Failure::new("stale_prev", "--prev is not an operation in force")
                    })?,
                None => history
                    .entries()
                    .iter()
                    .find(|e| e.hash == history.head())
                    .ok_or_else(|| Failure::new("internal_error", "no head"))?,
            };
            let mut keys = agentid_sdk::operation::Keys {
                verification_methods: base.state.verification_methods.clone(),
                rotation_keys: base.state.rotation_keys.clone(),
                services: base.state.services.clone(),
            };
            if !signing_keys.is_empty() {
                keys.verification_methods = signing_keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        public_key(k, pass)
                            .map(|d| (format!("key-{}", i + 1), d.multibase().into()))
                    })
                    .collect::<Result<_, _>>()?;
            }
            if !rotation_keys.is_empty() {
                keys.rotation_keys = rotation_keys
                    .iter()
                    .map(|k| public_key(k, pass))
                    .collect::<Result<_, _>>()?;
            }
            if no_services {
                keys.services.clear();
            }
            for spec in &services {
                let mut parts = spec.splitn(3, '=');
                let (Some(fragment), Some(type_), Some(endpoint)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(Failure::new(
                        "invalid_service",
                        "--service is FRAGMENT=TYPE=URL",
                    ));
                };
                keys.services.insert(
                    fragment.to_owned(),
                    agentid_spec::operation::Service {
                        type_: type_.to_owned(),
                        endpoint: endpoint.to_owned(),
                    },
                );
            }
            let op = agentid_sdk::operation::update(&did, &base.hash, &keys, &signer, now);
            printed(client.operate(&did, &op).await?.value)
        }
        AgentCommand::History { did } => {
            let did = parse_did(&did)?;
            let history = replayed_history(&client, &did).await?;
            let state = history.state();
            let operations: Vec<Value> = history
                .entries()
                .iter()
                .map(|e| {
                    json!({
                        "versionId": e.hash, "prev": e.prev, "signer": e.signer.as_str(),
                        "receivedAt": format_rfc3339(e.received_at), "undone": e.nullified,
                    })
                })
                .collect();
            Ok(Output::ok(json!({
                "did": did, "head": history.head(), "deactivated": state.deactivated,
                "verificationMethods": state.verification_methods,
                "rotationKeys": state.rotation_keys,
                "services": state.services,
                "operations": operations,
            })))
        }
        AgentCommand::Log { did } => printed(client.agent_log(&did).await?),
    }
}

fn parse_did(did: &str) -> Result<AgentDid, Failure> {
    AgentDid::parse(did).map_err(|e| Failure::new("invalid_did", e.to_string()))
}

/// The agent's history, replayed here from the operations the registry serves: every
/// signature checked, the genesis the DID's.
pub(crate) async fn replayed_history(client: &Client, did: &AgentDid) -> Result<History, Failure> {
    let served = client.operations(did).await?;
    let mut ops = Vec::with_capacity(served.operations.len());
    for op in &served.operations {
        let at = agentid_spec::time::parse_rfc3339(&op.received_at)
            .ok_or_else(|| Failure::new("invalid_response", "malformed operations"))?;
        ops.push((op.operation.as_str(), at));
    }
    let history = History::replay(ops).map_err(|(i, e)| {
        Failure::new(
            "history_invalid",
            format!("operation {i} does not replay: {e}"),
        )
    })?;
    if history.did() != did {
        return Err(Failure::new(
            "history_invalid",
            "the genesis served is not the DID's",
        ));
    }
    Ok(history)
}
