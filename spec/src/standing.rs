//! What an agent's log entries prove about it now (section 5.3, "The service proves what it
//! serves"): its document from its signed operations replayed from the genesis, its name from
//! the registration and the zone bindings, its standing from the moderation decisions. One
//! pure function, used by the registry before it serves an agent and by an auditor over the
//! public log.

use crate::document::{AgentStatus, DidDocument};
use crate::history::History;
use crate::id::{AgentDid, AgentName};
use crate::zone::ZoneOperation;

/// One log entry of the agent, as far as its state goes.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    /// Its `kind`.
    pub kind: &'a str,
    /// Its operation or decision text.
    pub operation: &'a str,
    /// When the registry received it, Unix seconds.
    pub created_at: i64,
    /// The decision's free-text reason, where the reader has it (the public log carries only
    /// its hash).
    pub reason: Option<&'a str>,
}

/// A suspension as the log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvedSuspension {
    /// Its end, Unix seconds.
    pub until: i64,
    /// One of the suspension reason codes.
    pub reason_code: String,
    /// base64url SHA-256 of the evidence, if any.
    pub evidence_hash: Option<String>,
    /// The reason, where the reader has it.
    pub reason: Option<String>,
}

/// An agent's state as its log entries prove it.
#[derive(Clone, Debug)]
pub struct ProvedState {
    /// The document its operations make, naming its name.
    pub document: DidDocument,
    /// Its latest operation in force.
    pub head: String,
    /// The name bound to it now.
    pub name: Option<AgentName>,
    /// The zone owner who bound that name, with the agent's consent to it (none for a name
    /// claimed at registration).
    pub bound_by: Option<crate::id::DidKey>,
    /// Its standing by the decisions (a suspension past its end still reads `Suspended`).
    pub status: AgentStatus,
    /// The suspension in force, if suspended.
    pub suspension: Option<ProvedSuspension>,
    /// The deplatforming decision's reason, if deplatformed (empty when the reader lacks it).
    pub deplatformed: Option<String>,
}

/// The state `entries` (all of `did`'s log entries, in order) prove; why not, when they do not
/// (an operation that does not replay, a genesis of another DID, a decision that does not read).
pub fn prove<'a>(
    did: &AgentDid,
    entries: impl IntoIterator<Item = EntryRef<'a>> + Clone,
) -> Result<ProvedState, String> {
    let operations = entries
        .clone()
        .into_iter()
        .filter(|e| matches!(e.kind, "create" | "update" | "deactivate"))
        .map(|e| (e.operation, e.created_at));
    let history = History::replay(operations)
        .map_err(|(i, e)| format!("operation {i} does not replay: {e}"))?;
    if history.did() != did {
        return Err("its genesis is not its DID's".into());
    }
    // Every rotation key the agent has had: a binding's consent was signed by one of them.
    let rotation_keys: Vec<&crate::id::DidKey> = history
        .entries()
        .iter()
        .flat_map(|e| e.state.rotation_keys.iter())
        .collect();
    let deactivated = history.state().deactivated;
    let mut name = history.entries()[0].state.name.clone();
    let mut bound_by = None;
    let mut status = AgentStatus::Active;
    let mut suspension = None;
    let mut deplatformed = None;
    for e in entries {
        match e.kind {
            "bind-name" => match crate::zone::open(e.operation) {
                Ok((
                    ZoneOperation::BindName {
                        name: n, consent, ..
                    },
                    owner,
                )) => {
                    // The binding carries the agent's own consent to this name and this owner.
                    let consented = crate::zone::consent_signer(&consent, &n, did, &owner)
                        .is_some_and(|by| rotation_keys.contains(&&by));
                    if !consented {
                        return Err("a bind-name entry carries no consent of the agent".into());
                    }
                    name = Some(n);
                    bound_by = Some(owner);
                }
                _ => return Err("a bind-name entry does not read".into()),
            },
            // An unbinding of the name the agent holds (an entry naming another is not one).
            "unbind-name" => match crate::zone::open(e.operation) {
                Ok((ZoneOperation::UnbindName { name: n, .. }, _)) if name.as_ref() == Some(&n) => {
                    (name, bound_by) = (None, None)
                }
                Ok((ZoneOperation::UnbindName { .. }, _)) => {
                    return Err("an unbind-name entry of a name the agent does not hold".into())
                }
                _ => return Err("an unbind-name entry does not read".into()),
            },
            // The registry releases only a deactivated agent's name (deactivation is final).
            "release-name" if deactivated => (name, bound_by) = (None, None),
            "release-name" => {
                return Err("a name released from an agent that is not deactivated".into())
            }
            "suspend" => {
                let record: serde_json::Value = serde_json::from_str(e.operation)
                    .map_err(|_| "a suspension does not read".to_owned())?;
                let until = record["until"]
                    .as_str()
                    .and_then(crate::time::parse_rfc3339)
                    .ok_or_else(|| "a suspension has no end".to_owned())?;
                status = AgentStatus::Suspended;
                suspension = Some(ProvedSuspension {
                    until,
                    reason_code: record["reasonCode"].as_str().unwrap_or_default().into(),
                    evidence_hash: record["evidenceHash"].as_str().map(str::to_owned),
                    reason: e.reason.map(str::to_owned),
                });
                deplatformed = None;
            }
            "deplatform" => {
                status = AgentStatus::Deplatformed;
                deplatformed = Some(e.reason.unwrap_or_default().to_owned());
                suspension = None;
            }
            "reinstate" => {
                status = AgentStatus::Active;
                suspension = None;
                deplatformed = None;
            }
            _ => {}
        }
    }
    let state = history.state();
    if state.deactivated {
        status = AgentStatus::Deactivated;
        suspension = None;
        deplatformed = None;
    }
    Ok(ProvedState {
        document: state.document(did, name.as_ref()),
        head: history.head().to_owned(),
        name,
        bound_by,
        status,
        suspension,
        deplatformed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The genesis vector (`spec/vectors/identifiers/genesis.json`): an agent named
    /// `shopper.alice`.
    fn genesis() -> (AgentDid, String) {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../vectors/identifiers/genesis.json")).unwrap();
        (
            AgentDid::parse(v["output"]["did"].as_str().unwrap()).unwrap(),
            v["input"]["operation"].as_str().unwrap().to_owned(),
        )
    }

    fn entry<'a>(kind: &'a str, operation: &'a str) -> EntryRef<'a> {
        EntryRef {
            kind,
            operation,
            created_at: 1_767_139_200,
            reason: None,
        }
    }

    #[test]
    fn only_what_the_log_proves_is_proved() {
        let (did, op) = genesis();
        let proved = prove(&did, [entry("create", &op)]).unwrap();
        assert_eq!(proved.name.unwrap().as_str(), "shopper.alice");
        assert_eq!(proved.status, AgentStatus::Active);
        let decided = prove(&did, [entry("create", &op), entry("deplatform", "{}")]).unwrap();
        assert_eq!(decided.status, AgentStatus::Deplatformed);
        // A name released from an agent that is not deactivated, and a binding without the
        // agent's consent, prove nothing.
        let released = "{\"type\":\"releaseName\"}";
        assert!(prove(
            &did,
            [entry("create", &op), entry("release-name", released)]
        )
        .is_err());
        assert!(prove(&did, [entry("create", &op), entry("bind-name", "x.y.z")]).is_err());
        // Another agent's genesis is not this DID's.
        let other = AgentDid::parse(&format!("did:agentid:{}", "a".repeat(52))).unwrap();
        assert!(prove(&other, [entry("create", &op)]).is_err());
    }
}
