//! The dashboard port: the live dashboard page (`/`, `/status` as in Dask) with its snapshot
//! (`/api/dashboard`) and event stream (`/api/events`), Prometheus `/metrics`, `/health` for
//! probes and `/api/state` (JSON) for tools and tests. Everything is also served under
//! `--dashboard-prefix`; the page uses relative URLs so it works under either.

use super::dashboard::{self, PAGE, SCRIPT, STYLE};
use super::metrics;
use super::service::Shared;
use axum::extract::State as AxumState;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::wrappers::IntervalStream;
use tokio_stream::{Stream, StreamExt};

/// How often the page gets a fresh snapshot.
const PUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Web {
    shared: Shared,
    registry: Arc<Registry>,
}

pub(super) fn router(shared: Shared, prefix: &str) -> Router {
    let web = Web {
        registry: Arc::new(metrics::registry(shared.clone())),
        shared,
    };
    let routes = Router::new()
        .route("/", get(page))
        .route("/status", get(page))
        .route("/static/app.js", get(script))
        .route("/static/style.css", get(style))
        .route("/api/dashboard", get(api_dashboard))
        .route("/api/events", get(events))
        .route("/metrics", get(prometheus))
        .route("/health", get(|| async { "ok" }))
        .route("/api/state", get(api_state))
        .with_state(web);
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        routes
    } else {
        Router::new()
            .route(&format!("{prefix}/"), get(page))
            .nest(prefix, routes.clone())
            .merge(routes)
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

async fn api_dashboard(AxumState(web): AxumState<Web>) -> Json<dashboard::Snapshot> {
    Json(dashboard::snapshot(&web.shared))
}

/// A snapshot at once, then one per second, for as long as the page stays open.
async fn events(
    AxumState(web): AxumState<Web>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = IntervalStream::new(tokio::time::interval(PUSH_EVERY));
    let stream = ticks.map(move |_| {
        let snapshot = dashboard::snapshot(&web.shared);
        Ok(Event::default()
            .event("snapshot")
            .json_data(snapshot)
            .unwrap_or_else(|e| Event::default().event("error").data(e.to_string())))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn prometheus(AxumState(web): AxumState<Web>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(&web.registry),
    )
}

/// The scheduler's view as JSON: every worker (with its data store and transfers as of its
/// last heartbeat), tasks by state, the results held on workers as the scheduler counts them
/// (`held`, exact at once, where the workers' own numbers lag by a heartbeat) and the totals.
async fn api_state(AxumState(web): AxumState<Web>) -> Json<serde_json::Value> {
    let hub = web.shared.hub.lock();
    let state = &hub.state;
    let (keys, bytes) = state.held_results();
    Json(json!({
        "workers": state.workers(Instant::now()),
        "tasks": {
            "waiting": state.waiting(),
            "queued": state.queued(),
            "processing": state.processing(),
        },
        "held": { "keys": keys, "bytes": bytes },
        "totals": state.totals(),
    }))
}
