//! `POST /v1/verify`: checkout verification for merchants not on Rust. The body is the
//! merchant's [`CheckoutContext`] plus the presentation; the answer is the SDK's
//! [`Decision`](agentid_sdk::verify::Decision), 200 whether accepted or rejected.

use std::sync::Arc;

use agentid_resolver::http::HttpSource;
use agentid_sdk::verify::{CheckoutContext, Decision, Verifier};
use agentid_wallet::error::{ApiError, Json};
use axum::extract::State;
use serde::Deserialize;

/// The verifier the route shares.
pub(crate) type SharedVerifier = Arc<Verifier<HttpSource>>;

/// The presentation and the merchant's context, side by side (not `flatten`: serde buffers
/// flattened numbers in a way that breaks integer amounts under `arbitrary_precision`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    presentation: String,
    merchant: String,
    nonce: String,
    #[serde(default)]
    amount: Option<u64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    order_hash: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

pub(crate) async fn verify(
    State(v): State<SharedVerifier>,
    Json(req): Json<VerifyRequest>,
) -> Result<axum::Json<Decision>, ApiError> {
    if req.merchant.is_empty() || req.nonce.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "merchant and nonce are required",
        ));
    }
    let context = CheckoutContext {
        merchant: req.merchant,
        nonce: req.nonce,
        amount: req.amount,
        currency: req.currency,
        order_hash: req.order_hash,
        category: req.category,
    };
    Ok(axum::Json(v.verify(&req.presentation, &context).await))
}
