//! `GET /v1/status/{id}`: a principal's Bitstring Status List credential, as a `vc+jwt` signed
//! with the principal's key, re-signed after a revocation and at least hourly.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::error::{ApiError, Path};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/status/{id}", get(serve))
}

async fn serve(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let jws = s.wallet.signed_status_list(&id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vc+jwt"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        jws.to_string(),
    ))
}
