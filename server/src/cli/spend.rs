//! Spending (`agentid present`, `agentid settle`): the agent's signed spend request held by the
//! wallet and presented with its authorization, and the merchant's signed settlement, on the
//! SDK's typed client.

use std::time::Duration;

use agentid_sdk::present::{present, CheckoutRequest};
use agentid_sdk::verify::Limits;
use agentid_spec::api::HoldState;
use agentid_spec::authorization::{SettleAction, Settlement};
use agentid_spec::clock::{Clock, SystemClock};
use agentid_spec::credential::{Amount, Category, Currency};
use agentid_spec::id::Did;
use agentid_spec::presentation::Nonce;
use serde_json::{json, Value};

use super::commands::{order_hash_arg, parse, read_key, token_arg, write_out};
use super::wallet::{client, printed};
use super::{Failure, Output};

pub(crate) async fn present_cmd(
    server: &str,
    args: super::PresentArgs,
    pass: Option<&str>,
) -> Result<Output, Failure> {
    let key = read_key(&args.key, pass)?;
    let mut chain = args
        .credential
        .iter()
        .map(|c| token_arg(c))
        .collect::<Result<Vec<_>, _>>()?;
    let credential = chain.remove(0);
    let amount = Amount::new(args.amount)
        .ok_or_else(|| Failure::new("invalid_amount", "amount must be positive"))?;
    let currency = Currency::parse(&args.currency)
        .ok_or_else(|| Failure::new("invalid_currency", "use an ISO 4217 code"))?;
    let agent = parse("invalid_did", Did::parse(&args.agent))?;
    let merchant = parse("invalid_did", Did::parse(&args.merchant))?;
    let nonce = parse("invalid_nonce", Nonce::parse(&args.nonce))?;
    let category = args
        .category
        .as_deref()
        .map(|c| parse("invalid_category", Category::parse(c)))
        .transpose()?;
    let hash = order_hash_arg(args.order.as_deref(), args.order_hash.as_deref())?
        .ok_or_else(|| Failure::new("invalid_request", "give --order or --order-hash"))?;
    if !(1..=Limits::default().max_presentation_lifetime_secs).contains(&args.lifetime) {
        return Err(Failure::new(
            "invalid_lifetime",
            "lifetime is 1..=300 seconds",
        ));
    }
    let mut request = CheckoutRequest {
        agent: &agent,
        key_fragment: &args.key_fragment,
        credential: &credential,
        links: &chain,
        merchant: &merchant,
        nonce: &nonce,
        amount,
        currency,
        order_hash: hash.clone(),
        category,
        now: SystemClock.now(),
        lifetime: args.lifetime,
        authorization: None,
    };
    // The spend request: what the wallet is asked to hold budget for.
    let spend_request = present(&request, &key);
    let (jws, hold) = if args.request_only {
        (spend_request, Value::Null)
    } else {
        let client = client(server)?;
        let mut hold = client
            .authorize_spend(&spend_request, args.idempotency_key.as_deref())
            .await?
            .value;
        // Step-up: wait for the principal's decision.
        let deadline = std::time::Instant::now() + Duration::from_secs(args.wait);
        while hold.state == HoldState::Pending {
            if std::time::Instant::now() >= deadline {
                return Err(Failure::new(
                    "approval_pending",
                    format!(
                        "hold {} still waits for the principal's approval",
                        hold.hold
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            hold = client.hold(&hold.hold).await?;
        }
        let authorization = hold.authorization.clone().ok_or_else(|| {
            Failure::new("invalid_response", "the wallet answered no authorization")
        })?;
        request.authorization = Some(&authorization);
        let hold = serde_json::to_value(&hold)
            .map_err(|e| Failure::new("internal_error", e.to_string()))?;
        (present(&request, &key), hold)
    };
    if let Some(path) = &args.out {
        write_out(path, &jws)?;
    }
    Ok(Output::ok(
        json!({ "presentation": jws, "orderHash": hash, "hold": hold }),
    ))
}

pub(crate) async fn settle_cmd(
    server: &str,
    args: super::SettleArgs,
    pass: Option<&str>,
) -> Result<Output, Failure> {
    let key = read_key(&args.key, pass)?;
    let merchant = match &args.merchant {
        Some(m) => parse("invalid_did", Did::parse(m))?,
        None => key.did_key().into(),
    };
    let kid = if merchant
        .as_str()
        .starts_with(agentid_spec::id::DID_KEY_PREFIX)
    {
        format!(
            "{merchant}#{}",
            merchant.as_str()["did:key:".len()..].to_owned()
        )
    } else {
        format!("{merchant}#{}", args.key_fragment)
    };
    let wallet = agentid_spec::id::did_web_for_url(server)
        .ok_or_else(|| Failure::new("invalid_url", "--url has no did:web"))?;
    let action = if args.action == "capture" {
        SettleAction::Capture
    } else {
        SettleAction::Release
    };
    let now = SystemClock.now();
    let claims = Settlement {
        iss: merchant,
        aud: wallet,
        hold: args.hold.clone(),
        action,
        iat: now,
        exp: now + 60,
    };
    let token = agentid_sdk::present::settle(&claims, &kid, &key);
    let capture = action == SettleAction::Capture;
    printed(client(server)?.settle(&args.hold, &token, capture).await?)
}
