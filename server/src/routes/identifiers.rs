//! `GET /1.0/identifiers/{id}`: DID Resolution in the DIF Universal Resolver's HTTP binding.
//! `id` is a `did:agentid`, an Ed25519 `did:key`, or an agent name.
//!
//! Status codes: 200 found; 400 `invalidDid`; 404 `notFound`; 410 deactivated or deplatformed
//! (the body still carries the document and metadata saying which); 501 `methodNotSupported`.

use agentid_registry::Lookup;
use agentid_resolver::ResolveError;
use agentid_spec::document::{
    AgentStatus, DocumentMetadata, ResolutionErrorCode, ResolutionResult,
};
use agentid_spec::id::{is_did_syntax, AgentDid, AgentName, AGENTID_METHOD_PREFIX, DID_KEY_PREFIX};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::{ApiError, Path};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/1.0/identifiers/{id}", get(resolve))
}

const MEDIA_TYPE: &str = "application/ld+json;profile=\"https://w3id.org/did-resolution\"";

fn answer(status: StatusCode, result: &ResolutionResult) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, MEDIA_TYPE)],
        axum::Json(result),
    )
        .into_response()
}

fn error(status: StatusCode, code: ResolutionErrorCode, message: &str) -> Response {
    answer(status, &ResolutionResult::error(code, message))
}

async fn resolve(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match resolve_inner(&s, &id).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn resolve_inner(s: &AppState, id: &str) -> Result<Response, ApiError> {
    if id.len() > 512 {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            ResolutionErrorCode::InvalidDid,
            "identifier over 512 bytes",
        ));
    }
    let found = if id.starts_with(AGENTID_METHOD_PREFIX) {
        let Ok(did) = AgentDid::parse(id) else {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                ResolutionErrorCode::InvalidDid,
                "not a valid did:agentid",
            ));
        };
        s.registry.lookup(Lookup::Did(&did)).await?
    } else if id.starts_with(DID_KEY_PREFIX) {
        return Ok(match agentid_resolver::did_key::resolve(id).await {
            Ok(resolved) => answer(
                StatusCode::OK,
                &ResolutionResult::found(resolved.document, DocumentMetadata::unregistered()),
            ),
            Err(e @ ResolveError::MethodNotSupported(_)) => {
                error(StatusCode::NOT_IMPLEMENTED, e.code(), &e.to_string())
            }
            Err(e) => error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
        });
    } else if is_did_syntax(id) {
        return Ok(error(
            StatusCode::NOT_IMPLEMENTED,
            ResolutionErrorCode::MethodNotSupported,
            "this registry resolves did:agentid and did:key",
        ));
    } else {
        let Ok(name) = AgentName::parse(id) else {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                ResolutionErrorCode::InvalidDid,
                "neither a DID nor an agent name",
            ));
        };
        s.registry.lookup(Lookup::Name(&name)).await?
    };
    let Some(result) = found else {
        return Ok(error(
            StatusCode::NOT_FOUND,
            ResolutionErrorCode::NotFound,
            "no such agent",
        ));
    };
    let gone = result
        .did_document_metadata
        .as_ref()
        .is_some_and(|m| m.agent_status != AgentStatus::Active);
    Ok(answer(
        if gone {
            StatusCode::GONE
        } else {
            StatusCode::OK
        },
        &result,
    ))
}
