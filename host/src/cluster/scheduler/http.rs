//! The dashboard port: `/health` for probes and `/api/state` (JSON) for tools and tests; the
//! observability work adds the live dashboard and `/metrics` here.

use super::service::Shared;
use axum::extract::State as AxumState;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router(shared: Shared, prefix: &str) -> Router {
    let routes = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/api/state", get(api_state))
        .with_state(shared);
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(prefix, routes.clone()).merge(routes)
    }
}

async fn api_state(AxumState(shared): AxumState<Shared>) -> Json<serde_json::Value> {
    let state = shared.lock();
    Json(json!({
        "workers": state.workers(),
        "tasks": {
            "queued": state.queued(),
            "processing": state.processing(),
        },
        "totals": state.totals(),
    }))
}
