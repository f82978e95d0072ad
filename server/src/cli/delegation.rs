//! `agentid delegate` and `agentid subdelegate`, on the SDK's typed client: the command line's
//! lists and amounts become the API's request types, parsed here as the service parses them
//! (a member that does not parse is `invalid_request`, as the service answers it), and every
//! refusal is the service's own code.

use agentid_sdk::client::Client;
use agentid_spec::api::{DelegationRequest, ScopeRequest};
use agentid_spec::authorization::credential_hash;
use agentid_spec::clock::{Clock, SystemClock};
use agentid_spec::credential::SpendingLimitFields;
use agentid_spec::id::Did;
use agentid_spec::jose::{b64u_decode, sign_compact, JoseHeader};
use agentid_spec::subdelegation::{SubDelegationRequest, SUBDELEGATION_REQUEST_TYP};
use agentid_spec::time::format_rfc3339;
use serde_json::{json, Value};

use super::commands::{parse, parse_duration, read_key, token_arg, write_out};
use super::wallet::{client, printed};
use super::{DelegateArgs, Failure, GrantArgs, Output, SubdelegateArgs};

/// `--valid-until`, or now plus `--valid-for`, as RFC 3339.
fn valid_until_arg(until: &Option<String>, valid_for: &Option<String>) -> Result<String, Failure> {
    let now = SystemClock.now();
    match (until, valid_for) {
        (Some(t), _) => Ok(t.clone()),
        (None, Some(d)) => {
            let secs = parse_duration(d).ok_or_else(|| {
                Failure::new("invalid_request", "--valid-for is like 7d, 12h, 30m")
            })?;
            now.checked_add(secs)
                .map(format_rfc3339)
                .ok_or_else(|| Failure::new("invalid_request", "--valid-for is too long"))
        }
        (None, None) => Err(Failure::new(
            "invalid_request",
            "give --valid-until or --valid-for",
        )),
    }
}

/// `value` parsed as `T` the way the service parses a request body: a member that does not
/// parse is `invalid_request`.
fn request<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|e| Failure::new("invalid_request", e.to_string()))
}

/// The spending limit of `g`.
fn limit(g: &GrantArgs) -> Result<SpendingLimitFields, Failure> {
    let mut limit =
        json!({ "currency": g.currency, "perTransaction": g.per_transaction, "total": g.total });
    if let (Some(period), Some(amount)) = (&g.period, g.per_period) {
        limit["perPeriod"] = json!(PeriodLimitJson { period, amount });
    }
    if let Some(above) = g.approval_above {
        limit["approvalAbove"] = json!(above);
    }
    request(limit)
}

/// A period limit as the command line gives it, before it is parsed.
#[derive(serde::Serialize)]
struct PeriodLimitJson<'a> {
    period: &'a str,
    amount: u64,
}

/// Lists the command line gave, or none (any).
fn listed(given: &[String]) -> Option<Vec<String>> {
    (!given.is_empty()).then(|| given.to_vec())
}

/// `agentid delegate`: the principal's delegation to an agent.
pub(super) async fn delegate(server: &str, args: DelegateArgs) -> Result<Output, Failure> {
    let g = &args.grant;
    let body = DelegationRequest {
        agent: args.agent.clone(),
        scope: ScopeRequest {
            merchants: listed(&g.merchants),
            categories: listed(&g.categories),
        },
        spending_limit: limit(g)?,
        valid_from: None,
        valid_until: valid_until_arg(&g.valid_until, &g.valid_for)?,
        max_depth: Some(g.max_depth),
    };
    let issued = client(server)?.delegate(&args.token.token, &body).await?;
    if let Some(path) = &args.out {
        write_out(path, &issued.credential)?;
    }
    printed(issued)
}

/// `agentid subdelegate` (spec section 6.4): the agent signs a request, the wallet prepares
/// the credential, the agent signs it as it is and registers it.
pub(super) async fn subdelegate(
    server: &str,
    args: SubdelegateArgs,
    pass: Option<&str>,
) -> Result<Output, Failure> {
    let key = read_key(&args.key, pass)?;
    let parent = token_arg(&args.credential)?;
    let parent_payload = parent
        .split('.')
        .nth(1)
        .and_then(b64u_decode)
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        .filter(|v| v["id"].is_string())
        .ok_or_else(|| Failure::new("invalid_credential", "--credential is not a vc+jwt"))?;
    // Where the sub-agent may spend: what is given, else the parent's lists (never "any"
    // below a parent that lists some).
    let inherited = |given: &[String], list: &str| -> Value {
        if !given.is_empty() {
            return json!(given);
        }
        parent_payload["credentialSubject"]["scope"][list].clone()
    };
    let g = &args.grant;
    let mut scope = json!({});
    for (list, given) in [("merchants", &g.merchants), ("categories", &g.categories)] {
        let l = inherited(given, list);
        if l.is_array() {
            scope[list] = l;
        }
    }
    let agent = parse("invalid_did", Did::parse(&args.agent))?;
    let kid = format!("{agent}#{}", args.key_fragment);
    let client: Client = client(server)?;
    let wallet = client.service_document().await?.id;
    let now = SystemClock.now();
    let valid_until = match (&g.valid_until, &g.valid_for) {
        // Until the parent ends, unless told otherwise.
        (None, None) => parent_payload["validUntil"].clone(),
        (until, valid_for) => json!(valid_until_arg(until, valid_for)?),
    };
    let request: SubDelegationRequest = request(json!({
        "iss": agent,
        "aud": wallet,
        "iat": now,
        "exp": now + 60,
        "parent": parent_payload["id"],
        "parentDigest": credential_hash(&parent),
        "agent": args.to,
        "scope": scope,
        "spendingLimit": limit(g)?,
        "maxDepth": g.max_depth,
        "validUntil": valid_until,
    }))?;
    let header = JoseHeader::eddsa(SUBDELEGATION_REQUEST_TYP, None, &kid);
    let payload =
        serde_json::to_vec(&request).map_err(|e| Failure::new("internal_error", e.to_string()))?;
    let signed_request = sign_compact(&header, &payload, key.signing_key());
    let prepared = client.prepare_subdelegation(&signed_request).await?;
    let payload = b64u_decode(&prepared.payload)
        .ok_or_else(|| Failure::new("invalid_response", "the wallet prepared no payload"))?;
    let credential = agentid_sdk::issue::sign_link(&payload, &kid, &key);
    let registered = client.register_subdelegation(&credential).await?;
    if let Some(path) = &args.out {
        write_out(path, &credential)?;
    }
    printed(registered)
}
