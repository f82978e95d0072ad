//! `POST /v1/verify`: checkout verification for merchants not on Rust. The body is the
//! merchant's [`CheckoutContext`] plus the presentation; the answer is the SDK's
//! [`Decision`](agentid_sdk::verify::Decision), 200 whether accepted or rejected.

use agentid_sdk::verify::{CheckoutContext, Decision};
use agentid_spec::api::VerifyRequest;
use axum::extract::State;
use axum::routing::post;
use axum::Router;

use crate::error::{ApiError, Json};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/verify", post(verify))
}

async fn verify(
    State(s): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Json(req): Json<VerifyRequest>,
) -> Result<axum::Json<Decision>, ApiError> {
    let context = CheckoutContext {
        merchant: req.merchant,
        nonce: req.nonce,
        amount: req.amount,
        currency: req.currency,
        order_hash: req.order_hash,
        category: req.category,
    };
    let decision = s.verifier.verify(&req.presentation, &context);
    // The nonce an accepted presentation records counts against this client's share too.
    let decision = match peer {
        Some(axum::Extension(axum::extract::ConnectInfo(peer))) => {
            crate::nonces::CLIENT
                .scope(crate::ratelimit::client_key(peer.ip()), decision)
                .await
        }
        None => decision.await,
    };
    Ok(axum::Json(decision))
}
