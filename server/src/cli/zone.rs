//! `agentid zone ...`: zone operations signed with the owner's (or the agent's) key, on the
//! SDK's typed client.

use agentid_spec::api::ZoneSubmission;
use agentid_spec::clock::{Clock, SystemClock};
use agentid_spec::id::{AgentDid, AgentName};
use agentid_spec::time::format_rfc3339;
use serde_json::json;

use super::commands::{parse_duration, public_key, read_key};
use super::wallet::{client, printed};
use super::{Failure, Output};

/// `agentid zone ...`: a zone operation signed with the given key, submitted with its reason
/// when it is a moderation decision.
pub(super) async fn zone(
    server: &str,
    cmd: super::ZoneCommand,
    pass: Option<&str>,
) -> Result<Output, Failure> {
    use super::ZoneCommand as Z;
    use agentid_spec::zone::ZoneOperation as Op;
    let client = client(server)?;
    let created_at = format_rfc3339(SystemClock.now());
    let name =
        |n: &str| AgentName::parse(n).map_err(|e| Failure::new("invalid_name", e.to_string()));
    let hash = |r: &str| agentid_spec::log::reason_hash(r);
    let (op, key, reason) = match cmd {
        Z::Show { zone } => {
            return printed(client.zone(name(&zone)?.as_str()).await?);
        }
        Z::Claim { zone, key } => {
            let signer = read_key(&key, pass)?;
            let op = Op::ClaimZone {
                zone: name(&zone)?,
                owner: signer.did_key(),
                created_at,
            };
            (op, signer, None)
        }
        Z::Delegate { zone, owner, key } => {
            let op = Op::DelegateZone {
                zone: name(&zone)?,
                owner: public_key(&owner, pass)?,
                created_at,
            };
            (op, read_key(&key, pass)?, None)
        }
        Z::Consent {
            name: n,
            did,
            zone_owner,
            key,
        } => {
            let did =
                AgentDid::parse(&did).map_err(|e| Failure::new("invalid_did", e.to_string()))?;
            let consent = agentid_sdk::operation::name_consent(
                &name(&n)?,
                &did,
                &public_key(&zone_owner, pass)?,
                &read_key(&key, pass)?,
                SystemClock.now(),
            );
            return Ok(Output::ok(json!({ "consent": consent })));
        }
        Z::Bind {
            name: n,
            did,
            consent,
            key,
        } => {
            let did =
                AgentDid::parse(&did).map_err(|e| Failure::new("invalid_did", e.to_string()))?;
            let op = Op::BindName {
                name: name(&n)?,
                did,
                consent,
                created_at,
            };
            (op, read_key(&key, pass)?, None)
        }
        Z::Unbind { name: n, key } => {
            let op = Op::UnbindName {
                name: name(&n)?,
                created_at,
            };
            (op, read_key(&key, pass)?, None)
        }
        Z::Suspend {
            name: n,
            reason_code,
            reason,
            duration,
            evidence_hash,
            key,
        } => {
            let duration_secs = parse_duration(&duration).ok_or_else(|| {
                Failure::new("invalid_duration", "--for is like 30s, 15m, 12h or 7d")
            })?;
            let op = Op::SuspendAgent {
                name: name(&n)?,
                reason_code,
                reason_hash: hash(&reason),
                evidence_hash,
                duration_secs,
                created_at,
            };
            (op, read_key(&key, pass)?, Some(reason))
        }
        Z::Deplatform {
            name: n,
            reason,
            key,
        } => {
            let op = Op::DeplatformAgent {
                name: name(&n)?,
                reason_hash: hash(&reason),
                created_at,
            };
            (op, read_key(&key, pass)?, Some(reason))
        }
        Z::Reinstate {
            name: n,
            reason,
            key,
        } => {
            let op = Op::ReinstateAgent {
                name: name(&n)?,
                reason_hash: hash(&reason),
                created_at,
            };
            (op, read_key(&key, pass)?, Some(reason))
        }
    };
    let submission = ZoneSubmission {
        operation: agentid_sdk::operation::zone(&op, &key),
        reason,
    };
    printed(client.zone_operation(&submission).await?.value)
}
