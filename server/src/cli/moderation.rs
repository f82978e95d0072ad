//! The operators' commands (`agentid operator ...`, `deplatform`, `moderate ...`) and
//! `agentid resolve`, on the SDK's typed client.

use agentid_spec::api::AgentSuspension;

use super::commands::{admin_token, parse_duration};
use super::wallet::{client, printed};
use super::{DeplatformArgs, Failure, ModerateCommand, OperatorCommand, Output, ResolveArgs};

/// `agentid operator add / list / revoke`.
pub(super) async fn operator(server: &str, cmd: OperatorCommand) -> Result<Output, Failure> {
    let client = client(server)?;
    match cmd {
        OperatorCommand::Add { name, admin } => {
            let token = admin_token(admin)?;
            printed(client.add_operator(token.trim(), &name).await?)
        }
        OperatorCommand::List { admin } => {
            let token = admin_token(admin)?;
            let operators = client.operators(token.trim()).await?;
            printed(agentid_spec::api::Operators { operators })
        }
        OperatorCommand::Revoke { name, admin } => {
            let token = admin_token(admin)?;
            printed(client.revoke_operator(token.trim(), &name).await?)
        }
    }
}

/// `agentid deplatform`.
pub(super) async fn deplatform(server: &str, args: DeplatformArgs) -> Result<Output, Failure> {
    let token = admin_token(args.admin)?;
    let decision = client(server)?
        .deplatform_agent(token.trim(), &args.did, &args.reason)
        .await?;
    printed(decision)
}

/// `agentid moderate suspend / reinstate`.
pub(super) async fn moderate(server: &str, cmd: ModerateCommand) -> Result<Output, Failure> {
    let client = client(server)?;
    let decision = match cmd {
        ModerateCommand::Suspend {
            did,
            reason_code,
            reason,
            duration,
            evidence_hash,
            admin,
        } => {
            let duration_secs = parse_duration(&duration).ok_or_else(|| {
                Failure::new("invalid_duration", "--for is like 30s, 15m, 12h or 7d")
            })?;
            let suspension = AgentSuspension {
                reason_code,
                reason,
                evidence_hash,
                duration_secs,
            };
            let token = admin_token(admin)?;
            client
                .suspend_agent(token.trim(), &did, &suspension)
                .await?
        }
        ModerateCommand::Reinstate { did, reason, admin } => {
            let token = admin_token(admin)?;
            client.reinstate_agent(token.trim(), &did, &reason).await?
        }
    };
    printed(decision)
}

/// `agentid resolve`: the resolution result; a deactivated or deplatformed agent's (410) is
/// the answer, but not a success.
pub(super) async fn resolve(server: &str, args: ResolveArgs) -> Result<Output, Failure> {
    let answer = client(server)?.resolution(&args.id).await?;
    let mut out = printed(answer.value)?;
    out.ok = answer.status == 200;
    Ok(out)
}
