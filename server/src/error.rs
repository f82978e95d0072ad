//! The one HTTP error type of the service, and the one place that maps errors to HTTP statuses.
//! Every error body has the same shape, `{"error": {"code", "message"}}`, with a code from
//! [`ErrorCode`]; internal errors are logged and answered with a generic 500.

use agentid_spec::ErrorCode;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is invalid; `code` says how.
    #[error("{message}")]
    BadRequest {
        /// Stable machine code.
        code: ErrorCode,
        /// Detail.
        message: String,
    },
    /// 401: missing or wrong credentials.
    #[error("authentication required")]
    Unauthorized,
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 403: refused for a reason with its own code (a revoked delegation, an exhausted budget).
    #[error("{message}")]
    Denied {
        /// Stable machine code.
        code: ErrorCode,
        /// Detail.
        message: String,
    },
    /// 403: a spend request the verifier refused, with its reasons.
    #[error("the spend request was refused: {}", reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(", "))]
    SpendRefused {
        /// The verification codes, as the verifier gave them.
        reasons: Vec<agentid_spec::Reason>,
    },
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with existing state; `code` says how.
    #[error("{message}")]
    Conflict {
        /// Stable machine code.
        code: ErrorCode,
        /// Detail.
        message: String,
    },
    /// 410: the resource existed and is gone (deactivated).
    #[error("{0}")]
    Gone(String),
    /// 413: the body is over the limit.
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    /// 408: the body did not arrive within the body timeout; the connection is closed.
    #[error("the request body did not arrive within {0} s")]
    RequestTimeout(u64),
    /// 429: too many writes from this client; retry after this many seconds.
    #[error("too many requests: retry after {0} s")]
    RateLimited(u64),
    /// 415: the body is not JSON.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 500: logged, never detailed to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 with a code.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 409 with a code.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status and machine code.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, *code),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::Denied { code, .. } => (StatusCode::FORBIDDEN, *code),
            ApiError::SpendRefused { .. } => (StatusCode::FORBIDDEN, ErrorCode::SpendRefused),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed)
            }
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, *code),
            ApiError::Gone(_) => (StatusCode::GONE, ErrorCode::Gone),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::BodyTooLarge),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError),
        }
    }
}

impl From<agentid_wallet::Error> for ApiError {
    fn from(e: agentid_wallet::Error) -> Self {
        use agentid_wallet::Error as W;
        let message = e.to_string();
        match e {
            W::Unauthorized => ApiError::Unauthorized,
            W::NotFound(what) => ApiError::NotFound(what.to_owned()),
            W::InvalidTime(_) | W::InvalidReason | W::InvalidRequest(_) => {
                ApiError::bad_request(e.code(), message)
            }
            W::Forbidden(_) => ApiError::Forbidden(message),
            W::DelegationRevoked
            | W::DelegationSuspended
            | W::BudgetExceeded { .. }
            | W::ApprovalDenied
            | W::ApprovalExpired
            | W::DelegationWidened(_) => ApiError::Denied {
                code: e.code(),
                message,
            },
            W::Conflict(_)
            | W::IdempotencyKeyReused
            | W::HoldExpired
            | W::HoldSettled
            | W::NotPending => ApiError::conflict(e.code(), message),
            W::Database(_) | W::Internal(_) => ApiError::Internal(format!("wallet: {message}")),
            _ => ApiError::Internal(format!("wallet: {message}")),
        }
    }
}

impl From<agentid_registry::Error> for ApiError {
    fn from(e: agentid_registry::Error) -> Self {
        use agentid_registry::Error as R;
        let (code, message) = (e.code(), e.to_string());
        match e {
            R::InvalidOperation(_) => ApiError::bad_request(code, message),
            R::Rejected(r) => {
                use agentid_spec::history::Rejection as O;
                match r {
                    O::TooLarge | O::Invalid(_) | O::BadSignature => {
                        ApiError::bad_request(code, message)
                    }
                    O::KeyNotAuthorized(_) => ApiError::Denied { code, message },
                    O::Deactivated => ApiError::Gone(message),
                    _ => ApiError::conflict(code, message),
                }
            }
            R::NotRegistered(_) => ApiError::NotFound(message),
            R::AlreadyRegistered(_)
            | R::NameTaken(_)
            | R::NameReserved(_)
            | R::Conflict
            | R::StalePrev(_)
            | R::Deplatformed(_)
            | R::AlreadyDeplatformed(_) => ApiError::conflict(code, message),
            R::Deactivated(_) => ApiError::Gone(message),
            R::ZoneTaken(_) | R::ZoneOccupied(_) => ApiError::conflict(code, message),
            R::ZoneOwned(_)
            | R::DnsProofFailed(_)
            | R::DnsProofRequired(_)
            | R::ConsentInvalid(_) => ApiError::Denied { code, message },
            R::Superseded(_) => ApiError::conflict(code, message),
            R::InvalidTime(_) => ApiError::bad_request(code, message),
            R::InvalidLogRange(_) => ApiError::bad_request(ErrorCode::InvalidQuery, message),
            R::NotModerated(_) | R::TooManyDecisions(_) => ApiError::conflict(code, message),
            _ => ApiError::Internal(format!("registry: {message}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let body = match &self {
            ApiError::SpendRefused { reasons } => json!({
                "error": { "code": code.as_str(), "message": message, "reasons": reasons }
            }),
            _ => json!({ "error": { "code": code.as_str(), "message": message } }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        match &self {
            ApiError::RateLimited(secs) => {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(*secs),
                );
            }
            // The rest of the body may still be on its way: the connection cannot carry another
            // request.
            ApiError::RequestTimeout(_) => {
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            _ => {}
        }
        response
    }
}

/// The body limit every JSON route enforces, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(MAX_BODY_BYTES)
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(ErrorCode::InvalidJson, e.body_text())
        }
        JsonRejection::JsonDataError(e) => {
            ApiError::bad_request(ErrorCode::InvalidRequest, e.body_text())
        }
        other => ApiError::bad_request(ErrorCode::InvalidRequest, other.body_text()),
    }
}

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| {
                ApiError::bad_request(ErrorCode::InvalidPath, e.body_text())
            })
    }
}

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(ErrorCode::InvalidQuery, e.body_text())
            })
    }
}

/// Fallback for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Fallback for known routes with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
