//! A principal's commands (`agentid wallet ...`, `revoke`, `suspend`, `reinstate`), on the
//! SDK's typed client: the API's types in, the same JSON out.

use agentid_sdk::client::{Client, ClientError};
use serde::Serialize;
use serde_json::json;

use super::{DelegationArg, Failure, Output, RevokeArgs, WalletCommand};

/// The service at `server`, through the typed client.
pub(crate) fn client(server: &str) -> Result<Client, Failure> {
    Client::new(server).map_err(Failure::from)
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Refused { status, detail } => {
                Failure::new(&detail.code, format!("HTTP {status}: {}", detail.message))
            }
            ClientError::Unreachable { base, message } => {
                Failure::new("unreachable", format!("cannot reach {base}: {message}"))
            }
            ClientError::Unexpected { status, message } => {
                Failure::new("http_error", format!("HTTP {status}: {message}"))
            }
            other => Failure::new("client_error", other.to_string()),
        }
    }
}

/// `value` as the JSON the command prints.
pub(crate) fn printed(value: impl Serialize) -> Result<Output, Failure> {
    serde_json::to_value(value)
        .map(Output::ok)
        .map_err(|e| Failure::new("internal_error", e.to_string()))
}

pub(crate) async fn wallet(server: &str, cmd: WalletCommand) -> Result<Output, Failure> {
    let client = client(server)?;
    match cmd {
        WalletCommand::Create => printed(client.create_principal().await?),
        WalletCommand::Show(t) => printed(client.principal(&t.token).await?),
        WalletCommand::List(t) => {
            let delegations = client.delegations(&t.token).await?;
            Ok(Output::ok(json!({ "delegations": delegations })))
        }
        WalletCommand::Approvals(t) => {
            let approvals = client.approvals(&t.token).await?;
            Ok(Output::ok(json!({ "approvals": approvals })))
        }
        WalletCommand::Approve { token, hold } => {
            printed(client.decide(&token.token, &hold, true).await?)
        }
        WalletCommand::Deny { token, hold } => {
            printed(client.decide(&token.token, &hold, false).await?)
        }
        WalletCommand::Budget {
            token,
            credential_id,
        } => printed(client.budget(&token.token, &credential_id).await?),
        WalletCommand::Holds {
            token,
            credential_id,
        } => {
            let holds: Vec<_> = client.holds(&token.token, &credential_id).await?;
            Ok(Output::ok(json!({ "holds": holds })))
        }
    }
}

/// `agentid revoke`: the principal revokes a delegation, with an optional reason.
pub(crate) async fn revoke(server: &str, args: RevokeArgs) -> Result<Output, Failure> {
    let record = client(server)?
        .revoke(
            &args.token.token,
            &args.credential_id,
            args.reason.as_deref(),
        )
        .await?;
    printed(record)
}

/// `agentid suspend` and `agentid reinstate`.
pub(crate) async fn suspension(
    server: &str,
    args: DelegationArg,
    suspended: bool,
) -> Result<Output, Failure> {
    let record = client(server)?
        .set_suspended(&args.token.token, &args.credential_id, suspended)
        .await?;
    printed(record)
}
