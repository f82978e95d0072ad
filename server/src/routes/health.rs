//! `GET /health` (liveness and version) and `GET /metrics` (Prometheus text).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Requests received since start, this one included.
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let requests = s.requests.load(Ordering::Relaxed);
    let c = crate::conn::counters();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        format!(
            "# HELP agentid_http_requests_total HTTP requests received.\n\
             # TYPE agentid_http_requests_total counter\n\
             agentid_http_requests_total {requests}\n\
             # HELP agentid_event_streams Event streams (GET /v1/events) open now.\n\
             # TYPE agentid_event_streams gauge\n\
             agentid_event_streams {}\n\
             # HELP agentid_connections Client connections open now.\n\
             # TYPE agentid_connections gauge\n\
             agentid_connections {}\n\
             # HELP agentid_connections_shed_total Client connections closed by the service, by reason.\n\
             # TYPE agentid_connections_shed_total counter\n\
             agentid_connections_shed_total{{reason=\"cap\"}} {}\n\
             agentid_connections_shed_total{{reason=\"idle\"}} {}\n\
             agentid_connections_shed_total{{reason=\"header_timeout\"}} {}\n\
             agentid_connections_shed_total{{reason=\"body_timeout\"}} {}\n\
             agentid_connections_shed_total{{reason=\"accept_error\"}} {}\n\
             # HELP agentid_unproven_agents_total Resolutions refused because an agent's stored \
             state is not what its log proves.\n\
             # TYPE agentid_unproven_agents_total counter\n\
             agentid_unproven_agents_total {}\n",
            super::events::subscribers(),
            c.open,
            c.evicted,
            c.idle,
            c.header_timeouts,
            c.body_timeouts,
            c.accept_errors,
            s.registry.unproven_count(),
        ),
    )
}
