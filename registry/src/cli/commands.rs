//! The commands.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentid_resolver::http::{encode_path_segment, HttpSource};
use agentid_sdk::clock::{Clock, SystemClock};
use agentid_sdk::keys::KeyPair;
use agentid_sdk::present::{order_hash, present, CheckoutRequest};
use agentid_sdk::verify::{CheckoutContext, Limits, Verifier};
use agentid_spec::credential::{Amount, Currency};
use agentid_spec::id::{AgentDid, AgentName};
use agentid_spec::time::format_rfc3339;
use reqwest::Method;
use serde_json::{json, Value};

use super::client::Client;
use super::{AgentCommand, Cli, Command, Failure, KeyCommand, LimitArgs, Output, WalletCommand};

pub(crate) async fn run(cli: Cli) -> Result<Output, Failure> {
    let server = cli.server.clone();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Key(cmd) => key(cmd),
        Command::Agent(cmd) => agent(&server, cmd).await,
        Command::Wallet(cmd) => wallet(&server, cmd).await,
        Command::Delegate(args) => delegate(&server, args).await,
        Command::Present(args) => present_cmd(args),
        Command::Verify(args) => verify(&server, args).await,
        Command::Revoke(args) => {
            let body = json!({ "reason": args.reason });
            let path = format!(
                "/v1/delegations/{}/revoke",
                encode_path_segment(&args.credential_id)
            );
            let out = Client::new(&server)?
                .call(Method::POST, &path, Some(&args.token.token), Some(&body))
                .await?;
            Ok(Output::ok(out))
        }
        Command::Deplatform(args) => {
            let token = match (args.admin_token, args.admin_token_file) {
                (Some(t), _) => t,
                (None, file) => {
                    let file = file.unwrap_or_else(|| "./data/admin.token".into());
                    read_text(&file)?
                }
            };
            let path = format!(
                "/v1/admin/agents/{}/deplatform",
                encode_path_segment(&args.did)
            );
            let out = Client::new(&server)?
                .call(
                    Method::POST,
                    &path,
                    Some(token.trim()),
                    Some(&json!({ "reason": args.reason })),
                )
                .await?;
            Ok(Output::ok(out))
        }
        Command::Resolve(args) => {
            let path = format!("/1.0/identifiers/{}", encode_path_segment(&args.id));
            let (status, body) = Client::new(&server)?
                .call_any(Method::GET, &path, None, None)
                .await?;
            match status {
                200 => Ok(Output::ok(body)),
                // Deactivated or deplatformed: the result is the answer, but not a success.
                410 => Ok(Output {
                    json: body,
                    ok: false,
                }),
                _ => Err(Failure::new(
                    body["didResolutionMetadata"]["error"]
                        .as_str()
                        .unwrap_or("resolution_failed"),
                    body["didResolutionMetadata"]["errorMessage"]
                        .as_str()
                        .or(body["error"]["message"].as_str())
                        .unwrap_or("resolution failed")
                        .to_owned(),
                )),
            }
        }
    }
}

fn limits(args: &LimitArgs) -> Limits {
    Limits {
        clock_skew_secs: args.clock_skew,
        status_refresh_secs: args.status_refresh,
        status_max_staleness_secs: args.status_max_staleness,
        did_refresh_secs: args.did_refresh,
        did_max_staleness_secs: args.did_max_staleness,
        ..Limits::default()
    }
}

async fn serve(args: super::ServeArgs) -> Result<Output, Failure> {
    let config = crate_server::Config {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        database_url: args.database_url,
        public_url: args.public_url,
        allowed_status_origins: args.allow_status_origins,
        limits: limits(&args.limits),
    };
    let running = crate_server::start(config)
        .await
        .map_err(|e| Failure::new("start_failed", e.to_string()))?;
    // One line, before serving, so scripts and tests can read the address (port 0).
    println!(
        "{}",
        json!({
            "listening": running.addr.to_string(),
            "publicUrl": running.public_url,
            "dataDir": args.data_dir.display().to_string(),
            "adminTokenFile": running.admin_token_file.display().to_string(),
        })
    );
    tracing::info!(addr = %running.addr, "agentid serving");
    running
        .run()
        .await
        .map_err(|e| Failure::new("serve_failed", e.to_string()))?;
    Ok(Output::ok(json!({ "stopped": true })))
}

use agentid_registry::server as crate_server;

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Failure::new("io_error", format!("{}: {e}", path.display())))
}

/// The passphrase that encrypts key files.
fn passphrase() -> Option<zeroize::Zeroizing<String>> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(zeroize::Zeroizing::new)
}

const PASSPHRASE_ENV: &str = "AGENTID_KEY_PASSPHRASE";

fn read_key(path: &Path) -> Result<KeyPair, Failure> {
    let text = zeroize::Zeroizing::new(read_text(path)?);
    let pass = passphrase();
    agentid_wallet::keyfile::open(&text, pass.as_deref().map(String::as_str)).map_err(|e| {
        let code = match e {
            agentid_wallet::keyfile::KeyFileError::NeedsPassphrase => "passphrase_required",
            agentid_wallet::keyfile::KeyFileError::WrongPassphrase => "wrong_passphrase",
            _ => "invalid_key",
        };
        Failure::new(code, format!("{}: {e}", path.display()))
    })
}

/// A token given inline or as a file holding it.
fn token_arg(arg: &str) -> Result<String, Failure> {
    let p = Path::new(arg);
    if arg.starts_with("ey") && arg.contains('.') && !p.exists() {
        return Ok(arg.to_owned());
    }
    read_text(p)
}

fn write_out(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure::new("io_error", format!("{}: {e}", path.display())))
}

fn key(cmd: KeyCommand) -> Result<Output, Failure> {
    match cmd {
        KeyCommand::Generate { out, unencrypted } => {
            let key = KeyPair::generate();
            let text = if unencrypted {
                key.to_private_jwk()
            } else {
                let pass = passphrase().ok_or_else(|| {
                    Failure::new(
                        "passphrase_required",
                        format!(
                            "set {PASSPHRASE_ENV} to encrypt the key file, or pass --unencrypted"
                        ),
                    )
                })?;
                zeroize::Zeroizing::new(
                    agentid_wallet::keyfile::seal(&key, &pass)
                        .map_err(|e| Failure::new("encryption_failed", e.to_string()))?,
                )
            };
            agentid_wallet::vault::write_private(&out, text.as_bytes())
                .map_err(|e| Failure::new("io_error", format!("{}: {e}", out.display())))?;
            let mut json = key_json(&key, Some(&out));
            json["encrypted"] = json!(!unencrypted);
            Ok(Output::ok(json))
        }
        KeyCommand::Show { key } => Ok(Output::ok(key_json(&read_key(&key)?, Some(&key)))),
    }
}

fn key_json(key: &KeyPair, file: Option<&Path>) -> Value {
    let did = key.did_key();
    json!({
        "did": did.as_str(),
        "publicKeyMultibase": did.multibase(),
        "publicKeyJwk": agentid_spec::jose::public_jwk(&key.public()),
        "file": file.map(|f| f.display().to_string()),
    })
}

async fn agent(server: &str, cmd: AgentCommand) -> Result<Output, Failure> {
    let client = Client::new(server)?;
    let now = SystemClock.now();
    match cmd {
        AgentCommand::Register {
            key,
            rotation_key,
            name,
        } => {
            let signing = read_key(&key)?;
            let rotation = match rotation_key {
                Some(p) => read_key(&p)?,
                None => read_key(&key)?,
            };
            let name = name
                .map(|n| AgentName::parse(&n))
                .transpose()
                .map_err(|e| Failure::new("invalid_name", e.to_string()))?;
            let genesis = agentid_sdk::operation::create(&signing, &rotation, name, now);
            let out = client
                .call(
                    Method::POST,
                    "/v1/agents",
                    None,
                    Some(&json!({ "operation": genesis.operation })),
                )
                .await?;
            if out["did"].as_str() != Some(genesis.did.as_str()) {
                return Err(Failure::new(
                    "registry_mismatch",
                    "the registry answered a DID other than the genesis hash",
                ));
            }
            Ok(Output::ok(out))
        }
        AgentCommand::Deactivate { did, key } => {
            let did =
                AgentDid::parse(&did).map_err(|e| Failure::new("invalid_did", e.to_string()))?;
            let rotation = read_key(&key)?;
            let path = format!("/1.0/identifiers/{}", encode_path_segment(did.as_str()));
            let (_, resolved) = client.call_any(Method::GET, &path, None, None).await?;
            let prev = resolved["didDocumentMetadata"]["versionId"]
                .as_str()
                .ok_or_else(|| Failure::new("resolution_failed", "no versionId for the agent"))?;
            let op = agentid_sdk::operation::deactivate(&did, prev, &rotation, now);
            let path = format!(
                "/v1/agents/{}/operations",
                encode_path_segment(did.as_str())
            );
            Ok(Output::ok(
                client
                    .call(Method::POST, &path, None, Some(&json!({ "operation": op })))
                    .await?,
            ))
        }
        AgentCommand::Log { did } => {
            let path = format!("/v1/agents/{}/log", encode_path_segment(&did));
            Ok(Output::ok(
                client.call(Method::GET, &path, None, None).await?,
            ))
        }
    }
}

async fn wallet(server: &str, cmd: WalletCommand) -> Result<Output, Failure> {
    let client = Client::new(server)?;
    let out = match cmd {
        WalletCommand::Create => {
            client
                .call(Method::POST, "/v1/principals", None, None)
                .await?
        }
        WalletCommand::Show(t) => {
            client
                .call(Method::GET, "/v1/principals/me", Some(&t.token), None)
                .await?
        }
        WalletCommand::List(t) => {
            client
                .call(Method::GET, "/v1/delegations", Some(&t.token), None)
                .await?
        }
    };
    Ok(Output::ok(out))
}

/// `7d`, `12h`, `30m`, `45s` to seconds.
fn parse_duration(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return None,
    };
    n.checked_mul(mult)
}

async fn delegate(server: &str, args: super::DelegateArgs) -> Result<Output, Failure> {
    let now = SystemClock.now();
    let valid_until = match (&args.valid_until, &args.valid_for) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => {
            let secs = parse_duration(d)
                .ok_or_else(|| Failure::new("invalid_duration", "use e.g. 7d, 12h, 30m"))?;
            format_rfc3339(now + secs)
        }
        (None, None) => {
            return Err(Failure::new(
                "invalid_request",
                "give --valid-until or --valid-for",
            ))
        }
    };
    let mut scope = serde_json::Map::new();
    if !args.merchants.is_empty() {
        scope.insert("merchants".into(), json!(args.merchants));
    }
    if !args.categories.is_empty() {
        scope.insert("categories".into(), json!(args.categories));
    }
    let body = json!({
        "agent": args.agent,
        "scope": scope,
        "spendingLimit": { "currency": args.currency, "perTransaction": args.per_transaction, "total": args.total },
        "validUntil": valid_until,
    });
    let out = Client::new(server)?
        .call(
            Method::POST,
            "/v1/delegations",
            Some(&args.token.token),
            Some(&body),
        )
        .await?;
    if let (Some(path), Some(jws)) = (&args.out, out["credential"].as_str()) {
        write_out(path, jws)?;
    }
    Ok(Output::ok(out))
}

fn present_cmd(args: super::PresentArgs) -> Result<Output, Failure> {
    let key = read_key(&args.key)?;
    let credential = token_arg(&args.credential)?;
    let amount = Amount::new(args.amount)
        .ok_or_else(|| Failure::new("invalid_amount", "amount must be positive"))?;
    let currency = Currency::parse(&args.currency)
        .ok_or_else(|| Failure::new("invalid_currency", "use an ISO 4217 code"))?;
    let hash = match (&args.order, &args.order_hash) {
        (Some(p), _) => order_hash(
            &std::fs::read(p)
                .map_err(|e| Failure::new("io_error", format!("{}: {e}", p.display())))?,
        ),
        (None, Some(h)) => h.clone(),
        (None, None) => {
            return Err(Failure::new(
                "invalid_request",
                "give --order or --order-hash",
            ))
        }
    };
    if !(1..=agentid_sdk::verify::Limits::default().max_presentation_lifetime_secs)
        .contains(&args.lifetime)
    {
        return Err(Failure::new(
            "invalid_lifetime",
            "lifetime is 1..=300 seconds",
        ));
    }
    let jws = present(
        &CheckoutRequest {
            agent: &args.agent,
            key_fragment: &args.key_fragment,
            credential: &credential,
            merchant: &args.merchant,
            nonce: &args.nonce,
            amount,
            currency,
            order_hash: hash.clone(),
            category: args.category.clone(),
            now: SystemClock.now(),
            lifetime: args.lifetime,
        },
        &key,
    );
    if let Some(path) = &args.out {
        write_out(path, &jws)?;
    }
    Ok(Output::ok(
        json!({ "presentation": jws, "orderHash": hash }),
    ))
}

async fn verify(server: &str, args: super::VerifyArgs) -> Result<Output, Failure> {
    let presentation = token_arg(&args.presentation)?;
    let order_hash = match (&args.order, &args.order_hash) {
        (Some(p), _) => {
            Some(order_hash(&std::fs::read(p).map_err(|e| {
                Failure::new("io_error", format!("{}: {e}", p.display()))
            })?))
        }
        (None, h) => h.clone(),
    };
    let ctx = CheckoutContext {
        merchant: args.merchant,
        nonce: args.nonce,
        amount: args.amount,
        currency: args.currency,
        order_hash,
        category: args.category,
    };
    let decision = if args.remote {
        let mut body =
            serde_json::to_value(&ctx).map_err(|e| Failure::new("internal", e.to_string()))?;
        body["presentation"] = json!(presentation);
        Client::new(server)?
            .call(Method::POST, "/v1/verify", None, Some(&body))
            .await?
    } else {
        let mut source = HttpSource::new(server, Duration::from_secs(10))
            .map_err(|e| Failure::new("client_error", e.to_string()))?;
        for o in &args.allow_status_origins {
            source = source.allow_status_origin(o);
        }
        let verifier = Verifier::new(source, Arc::new(SystemClock), limits(&args.limits));
        serde_json::to_value(verifier.verify(&presentation, &ctx).await)
            .map_err(|e| Failure::new("internal", e.to_string()))?
    };
    let ok = decision["decision"] == "accepted";
    Ok(Output { json: decision, ok })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("30m"), Some(1_800));
        for bad in ["", "d", "0d", "-1h", "5w", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
