//! `POST /v1/verify`: checkout verification for merchants not on Rust. The body is the
//! merchant's [`CheckoutContext`] plus the presentation; the answer is the SDK's
//! [`Decision`](agentid_sdk::verify::Decision), 200 whether accepted or rejected.

use agentid_sdk::verify::{CheckoutContext, Decision};
use agentid_spec::credential::{Amount, Category, Currency};
use agentid_spec::id::Did;
use agentid_spec::presentation::{Nonce, OrderHash};
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

use crate::error::{ApiError, Json};
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/verify", post(verify))
}

/// The presentation and the merchant's context, side by side (not `flatten`: serde buffers
/// flattened numbers in a way that breaks integer amounts under `arbitrary_precision`). Every
/// member of the context is parsed into its type; a bad one is `invalid_request`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyRequest {
    presentation: String,
    merchant: Did,
    nonce: Nonce,
    #[serde(default)]
    amount: Option<Amount>,
    #[serde(default)]
    currency: Option<Currency>,
    #[serde(default)]
    order_hash: Option<OrderHash>,
    #[serde(default)]
    category: Option<Category>,
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
