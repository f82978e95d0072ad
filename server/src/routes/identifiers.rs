//! `GET /1.0/identifiers/{id}`: DID Resolution in the DIF Universal Resolver's HTTP binding.
//! `id` is a `did:agentid`, an Ed25519 `did:key`, or an agent name.
//!
//! Status codes: 200 found; 400 `invalidDid`; 404 `notFound`; 406 `representationNotSupported`;
//! 410 deactivated or deplatformed (the body still carries the document and metadata saying
//! which); 501 `methodNotSupported`.
//!
//! Caching (spec 4.2): `Cache-Control` with a TTL by outcome, `Vary: Accept`, and a strong
//! `ETag` on every 200, so `If-None-Match` revalidates with a 304.
//!
//! Content negotiation (spec 4.2): `Accept: application/did+json` (or `application/did+ld+json`)
//! answers the DID document alone; `application/did-resolution`, the JSON-LD resolution profile,
//! `application/json`, `*/*` or no `Accept` answer the whole resolution result; anything else is
//! 406. Errors are always resolution results.

use agentid_registry::Lookup;
use agentid_resolver::ResolveError;
use agentid_spec::document::{
    AgentStatus, DocumentMetadata, ResolutionErrorCode, ResolutionResult, DID_LD_JSON,
};
use agentid_spec::id::{is_did_syntax, AgentDid, AgentName, AGENTID_METHOD_PREFIX, DID_KEY_PREFIX};
use agentid_spec::jose::b64u;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Path};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/1.0/identifiers/{id}", get(resolve))
}

const MEDIA_TYPE: &str = "application/ld+json;profile=\"https://w3id.org/did-resolution\"";
/// The DID Resolution media type of the W3C DID Resolution draft.
const DID_RESOLUTION: &str = "application/did-resolution";
/// Longest `Accept` header looked at, in bytes; a longer one is 406.
const MAX_ACCEPT_BYTES: usize = 1024;

/// What the caller asked for: the resolution result (in one of its media types) or the
/// document alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Representation {
    Result(&'static str),
    Document(&'static str),
}

/// The first representation `Accept` lists that this resolver produces (media ranges with
/// `q=0` skipped); `None` when it lists none. No header is `*/*`.
fn negotiate(headers: &HeaderMap) -> Option<Representation> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Some(Representation::Result(MEDIA_TYPE));
    };
    let accept = accept
        .to_str()
        .ok()
        .filter(|a| a.len() <= MAX_ACCEPT_BYTES)?;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut profile = None;
        let mut refused = false;
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => refused = v.trim().parse::<f32>().map_or(true, |q| q <= 0.0),
                "profile" => profile = Some(v.trim().trim_matches('"').to_owned()),
                _ => {}
            }
        }
        if refused {
            continue;
        }
        let found = match media.as_str() {
            "application/did+json" => Representation::Document("application/did+json"),
            "application/did+ld+json" => Representation::Document(DID_LD_JSON),
            DID_RESOLUTION => Representation::Result(DID_RESOLUTION),
            "application/ld+json"
                if profile.as_deref() == Some("https://w3id.org/did-resolution") =>
            {
                Representation::Result(MEDIA_TYPE)
            }
            "application/json" | "application/*" | "*/*" => Representation::Result(MEDIA_TYPE),
            _ => continue,
        };
        return Some(found);
    }
    None
}

fn answer(status: StatusCode, result: &ResolutionResult) -> Response {
    answer_as(status, result, Representation::Result(MEDIA_TYPE))
}

/// `result` as `representation`: the document alone when asked for and there is one.
fn answer_as(
    status: StatusCode,
    result: &ResolutionResult,
    representation: Representation,
) -> Response {
    match (representation, &result.did_document) {
        (Representation::Document(media), Some(document)) => (
            status,
            [(header::CONTENT_TYPE, media)],
            axum::Json(document),
        )
            .into_response(),
        (Representation::Result(media), _) => {
            (status, [(header::CONTENT_TYPE, media)], axum::Json(result)).into_response()
        }
        (Representation::Document(_), None) => (
            status,
            [(header::CONTENT_TYPE, MEDIA_TYPE)],
            axum::Json(result),
        )
            .into_response(),
    }
}

fn error(status: StatusCode, code: ResolutionErrorCode, message: &str) -> Response {
    answer(status, &ResolutionResult::error(code, message))
}

async fn resolve(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(representation) = negotiate(&headers) else {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            ResolutionErrorCode::RepresentationNotSupported,
            "this resolver answers application/did+json, application/did+ld+json and \
             application/did-resolution",
        );
    };
    let response = match resolve_inner(&s, &id, representation).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    cacheable(response, &headers, id.starts_with(DID_KEY_PREFIX)).await
}

/// How long an answer about a registered agent may be cached, in seconds (spec 4.2): the TTL of
/// a DNS record. Verifiers that follow the registry's change feed drop it at once on a change.
pub(crate) const RESOLUTION_TTL_SECS: u32 = 60;
/// How long a `notFound` may be cached, in seconds (negative caching, as DNS does).
pub(crate) const NEGATIVE_TTL_SECS: u32 = 10;
/// Largest answer this route produces, in bytes (a document of four keys and a name is ~2 KiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Adds caching headers to an answer: `Cache-Control` by outcome (a did:key never changes),
/// `Vary: Accept`, and on a 200 a strong `ETag` of the body, answering 304 when the caller's
/// `If-None-Match` names it.
async fn cacheable(response: Response, request: &HeaderMap, immutable: bool) -> Response {
    let (mut parts, body) = response.into_parts();
    let control = match parts.status {
        StatusCode::OK | StatusCode::GONE if immutable => {
            "public, max-age=31536000, immutable".to_owned()
        }
        StatusCode::OK | StatusCode::GONE => format!("public, max-age={RESOLUTION_TTL_SECS}"),
        StatusCode::NOT_FOUND => format!("public, max-age={NEGATIVE_TTL_SECS}"),
        _ => "no-store".to_owned(),
    };
    let h = &mut parts.headers;
    if let Ok(v) = HeaderValue::from_str(&control) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    if parts.status != StatusCode::OK {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ANSWER_BYTES).await else {
        return ApiError::Internal("resolution answer over its limit".into()).into_response();
    };
    let tag = format!("\"{}\"", &b64u(&Sha256::digest(&bytes))[..27]);
    let matched = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*");
    if let Ok(v) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, v);
    }
    if matched {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

async fn resolve_inner(
    s: &AppState,
    id: &str,
    representation: Representation,
) -> Result<Response, ApiError> {
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
            Ok(resolved) => answer_as(
                StatusCode::OK,
                &ResolutionResult::found(resolved.document, DocumentMetadata::unregistered()),
                representation,
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
    let gone = result.did_document_metadata.as_ref().is_some_and(|m| {
        // A suspension ends by itself: the DID is not gone, its metadata says it is
        // suspended and until when.
        matches!(
            m.agent_status,
            AgentStatus::Deactivated | AgentStatus::Deplatformed
        )
    });
    Ok(answer_as(
        if gone {
            StatusCode::GONE
        } else {
            StatusCode::OK
        },
        &result,
        representation,
    ))
}
