//! `POST /v1/delegations` (issue), `GET /v1/delegations` (list), `GET /v1/delegations/{id}`,
//! `POST /v1/delegations/{id}/revoke`, `.../suspend`, `.../reinstate`; sub-delegation (spec
//! section 6.4): `POST /v1/subdelegations` (an agent's signed request: the wallet prepares the
//! credential) and `POST /v1/subdelegations/signed` (the agent registers it, signed).

use agentid_sdk::verify::LinkRefusal;
use agentid_spec::api::{
    DelegationRequest, Delegations, RevokeRequest, SignedSubDelegation, SubDelegationSubmission,
};
use agentid_spec::credential::{Depth, Scope, SpendingLimit, MAX_DEPTH};
use agentid_spec::id::AgentDid;
use agentid_spec::time::Timestamp;
use agentid_spec::ErrorCode;
use agentid_wallet::{DelegationRecord, DelegationTerms, IssuedDelegation, PreparedLink};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;

use crate::error::{ApiError, Json, Path, MAX_BODY_BYTES};
use crate::AppState;

/// Issuance (limited per client, like every write that creates).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/delegations", post(issue).get(list))
        .route("/v1/delegations/{id}", get(show))
}

/// A principal's decisions on its delegations: never held behind the per-client bucket, which
/// anyone at the same address (behind one proxy, everyone) can empty; their log entries are
/// bounded per delegation instead.
pub(crate) fn decision_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/delegations/{id}/revoke", post(revoke))
        .route("/v1/delegations/{id}/suspend", post(suspend))
        .route("/v1/delegations/{id}/reinstate", post(reinstate))
}

/// The routes an agent reaches with its signature rather than a token (limited per client).
pub(crate) fn subdelegation_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/subdelegations", post(prepare_link))
        .route("/v1/subdelegations/signed", post(register_link))
}

fn bad(code: ErrorCode) -> impl Fn(String) -> ApiError {
    move |m| ApiError::bad_request(code, m)
}

/// The terms `req` asks for, each member parsed into its type.
fn terms(req: DelegationRequest) -> Result<DelegationTerms, ApiError> {
    {
        let agent =
            AgentDid::parse(&req.agent).map_err(|e| bad(ErrorCode::InvalidAgent)(e.to_string()))?;
        let scope = Scope::new(req.scope.merchants, req.scope.categories)
            .map_err(|e| bad(ErrorCode::InvalidScope)(e.to_string()))?;
        let spending_limit = SpendingLimit::try_from(req.spending_limit)
            .map_err(|e| bad(ErrorCode::InvalidLimit)(e.to_string()))?;
        let time = |s: &str, what: &str| {
            Timestamp::parse(s)
                .ok_or_else(|| bad(ErrorCode::InvalidTime)(format!("{what} is not RFC 3339")))
        };
        let valid_from = req
            .valid_from
            .as_deref()
            .map(|s| time(s, "validFrom"))
            .transpose()?;
        let max_depth = Depth::new(req.max_depth.unwrap_or(0)).ok_or_else(|| {
            bad(ErrorCode::InvalidLimit)(format!("maxDepth must be 0..={MAX_DEPTH}"))
        })?;
        Ok(DelegationTerms {
            max_depth,
            agent,
            scope,
            spending_limit,
            valid_from,
            valid_until: time(&req.valid_until, "validUntil")?,
        })
    }
}

async fn issue(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<DelegationRequest>,
) -> Result<(StatusCode, axum::Json<IssuedDelegation>), ApiError> {
    let principal = s.principal(&headers).await?;
    let terms = terms(req)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(s.wallet.issue(&principal, terms).await?),
    ))
}

async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Delegations>, ApiError> {
    let p = s.principal(&headers).await?;
    let delegations = s.wallet.delegations(&p).await?;
    Ok(axum::Json(Delegations { delegations }))
}

async fn show(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<DelegationRecord>, ApiError> {
    let p = s.principal(&headers).await?;
    Ok(axum::Json(s.wallet.delegation(&p, &id).await?))
}

async fn revoke(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<DelegationRecord>, ApiError> {
    // The body is optional, so it is read as bytes; its rejections still get the common shape.
    let body = body.map_err(|_| ApiError::TooLarge(MAX_BODY_BYTES))?;
    let p = s.principal(&headers).await?;
    let req: RevokeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RevokeRequest { reason: None }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidJson, e.to_string()))?
    };
    agentid_wallet::check_reason(req.reason.as_deref())?;
    let _deciding = s.wallet.deciding(&id);
    // Recorded in the log first, unless the log has it (whatever the row says): once there, no
    // change to the wallet's rows undoes it (spec 5.3, "Service decisions"). Should the log
    // refuse it (an entry written behind the service's back stops every append), the
    // revocation still applies to the wallet's rows, and the failure is reported.
    if !s.registry.credential_revoked(&id, &p.did) {
        let (list, index) = s.wallet.status_entry(&p, &id).await?;
        let recorded = s
            .registry
            .record_decision(
                s.wallet.did().as_str(),
                agentid_registry::Decision::RevokeCredential {
                    credential: &id,
                    principal: &p.did,
                    status_list: &list,
                    index,
                },
                "principal",
            )
            .await;
        if let Err(e) = recorded {
            tracing::error!(credential = %id, error = %e, "a revocation could not be recorded in the log: applied to the wallet's rows only");
        }
    }
    Ok(axum::Json(
        s.wallet.revoke(&p, &id, req.reason.as_deref()).await?,
    ))
}

async fn suspend(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<DelegationRecord>, ApiError> {
    set_suspended(&s, &headers, &id, true).await
}

async fn reinstate(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<DelegationRecord>, ApiError> {
    set_suspended(&s, &headers, &id, false).await
}

/// Suspends or reinstates the principal's delegation `id`, the change recorded in the log
/// first (spec 5.3, "Service decisions"): a suspension lifted in the database alone lifts
/// nothing.
async fn set_suspended(
    s: &AppState,
    headers: &HeaderMap,
    id: &str,
    suspended: bool,
) -> Result<axum::Json<DelegationRecord>, ApiError> {
    let p = s.principal(headers).await?;
    let current = s.wallet.delegation(&p, id).await?;
    let _deciding = s.wallet.deciding(id);
    // Recorded unless the log's latest decision is this one already (whatever the row says).
    if !current.revoked && s.registry.credential_suspended(id, &p.did) != suspended {
        s.registry
            .record_decision(
                s.wallet.did().as_str(),
                agentid_registry::Decision::SuspendCredential {
                    credential: id,
                    principal: &p.did,
                    suspended,
                },
                "principal",
            )
            .await?;
    }
    Ok(axum::Json(s.wallet.set_suspended(&p, id, suspended).await?))
}

/// A signed token that does not parse is the caller's malformed input (400); one that parses
/// but whose signer or signature is not accepted is a refusal (403). Either way the message
/// names the verifier's code.
fn refused(what: &str) -> impl Fn(agentid_spec::Reason) -> ApiError + '_ {
    use agentid_spec::Code;
    move |r| {
        let message = format!("{what} refused: {}: {}", r.code, r.message);
        match r.code {
            Code::MalformedToken | Code::UnsupportedAlgorithm => {
                ApiError::bad_request(ErrorCode::InvalidRequest, message)
            }
            _ => ApiError::Forbidden(message),
        }
    }
}

/// The agent asks for a sub-delegation; authenticated by its signature, not a bearer token.
async fn prepare_link(
    State(s): State<AppState>,
    Json(body): Json<SubDelegationSubmission>,
) -> Result<(StatusCode, axum::Json<PreparedLink>), ApiError> {
    let req = s
        .verifier
        .check_link_request(&body.request, s.wallet.did().as_str())
        .await
        .map_err(link_refused("sub-delegation request"))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(s.wallet.prepare_link(&req).await?),
    ))
}

/// A refused sub-delegation request or link, as an HTTP error.
fn link_refused(what: &str) -> impl Fn(LinkRefusal) -> ApiError + '_ {
    move |r| match r {
        LinkRefusal::Rejected(reason) => refused(what)(reason),
        LinkRefusal::NotInGoodStanding(message) => ApiError::Denied {
            code: ErrorCode::AgentDeplatformed,
            message,
        },
        LinkRefusal::UnknownAgent(message) => {
            ApiError::bad_request(ErrorCode::InvalidAgent, message)
        }
        LinkRefusal::NotALink => ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "not a sub-delegation (no parent)",
        ),
        _ => ApiError::Forbidden(format!("{what} refused")),
    }
}

/// The agent registers the sub-delegation it signed.
async fn register_link(
    State(s): State<AppState>,
    Json(body): Json<SignedSubDelegation>,
) -> Result<axum::Json<IssuedDelegation>, ApiError> {
    let link = s
        .verifier
        .check_link(&body.credential)
        .await
        .map_err(link_refused("sub-delegation"))?;
    Ok(axum::Json(s.wallet.register_link(&link).await?))
}
