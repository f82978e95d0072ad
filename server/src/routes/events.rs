//! `GET /v1/events`: the registry's log as a stream of server-sent events (spec section 5.5),
//! from a cursor, so that a verifier learns of a deplatforming, a suspension or a key change the
//! moment it commits, on whichever node it committed.
//!
//! Each log entry is an event `entry` whose `id` is its `seq` and whose data is its public
//! entry in canonical form (the Merkle leaf's bytes); once caught up, an event `checkpoint`
//! carries the log's signed checkpoint, against which a follower checks what it received. A
//! follower that reconnects sends `Last-Event-ID` (or `?after=`) and misses nothing. The entries
//! are read from the database, so every node serves the same stream; a node wakes on its own
//! appends and, on PostgreSQL, on other nodes' (the change feed).

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentid_spec::ErrorCode;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use crate::error::{ApiError, Query};
use crate::AppState;

/// Entries read from the database at a time.
const BATCH: i64 = 500;

static SUBSCRIBERS: AtomicUsize = AtomicUsize::new(0);

/// Set when the service shuts down: every stream ends, so a graceful shutdown does not wait on
/// followers that never hang up (they reconnect to another node, or later, from their cursor).
static CLOSING: std::sync::LazyLock<tokio::sync::watch::Sender<bool>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(false));

/// Ends every open event stream (on shutdown).
pub(crate) fn close_all() {
    CLOSING.send_replace(true);
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/events", get(events))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    after: Option<i64>,
}

/// One subscriber's place in the stream; counted while it lives.
struct Follower {
    state: AppState,
    cursor: i64,
    appends: tokio::sync::watch::Receiver<u64>,
    closing: tokio::sync::watch::Receiver<bool>,
    pending: std::collections::VecDeque<Event>,
    _slot: Slot,
}

struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        SUBSCRIBERS.fetch_sub(1, Ordering::AcqRel);
    }
}

fn cursor_from(headers: &HeaderMap, query: &Cursor) -> Result<Option<i64>, ApiError> {
    let bad = || {
        ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "Last-Event-ID and after are log sequence numbers (0 or more)",
        )
    };
    if let Some(v) = headers.get("last-event-id") {
        let n: i64 = v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(bad)?;
        return (n >= 0).then_some(Some(n)).ok_or_else(bad);
    }
    match query.after {
        Some(n) if n < 0 => Err(bad()),
        other => Ok(other),
    }
}

async fn events(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Cursor>,
) -> Result<Response, ApiError> {
    let cursor = cursor_from(&headers, &query)?;
    // Most streams this node serves at once (below its connection cap); more is 429.
    if SUBSCRIBERS.fetch_add(1, Ordering::AcqRel) >= s.event_streams.max {
        SUBSCRIBERS.fetch_sub(1, Ordering::AcqRel);
        return Err(ApiError::RateLimited(5));
    }
    let slot = Slot;
    // Subscribed before reading where the log stands: no append is missed in between.
    let appends = s.registry.log_appends();
    let size = i64::try_from(s.registry.log_head().await?.0).unwrap_or(i64::MAX);
    let cursor = match cursor {
        // A follower that saw entries this log does not have: the log was restored from an
        // older backup (the entries it saw are gone, and new ones will reuse their numbers), or
        // this is another registry. Answered, never silently followed from there.
        Some(c) if c > size => {
            return Err(ApiError::conflict(
                ErrorCode::CursorPastEnd,
                format!(
                    "the cursor {c} is past the log's end ({size} entries): the log was restored \
                     from an older state, or this is another registry; check the log \
                     (agentid log verify --saved) before following it again"
                ),
            ))
        }
        Some(c) => c,
        // No cursor: from now on.
        None => size,
    };
    // A comment line this often keeps the connection active (under the idle timeout) and
    // proxies' connections open.
    let keep_alive = KeepAlive::new().interval(s.event_streams.keep_alive);
    let follower = Follower {
        state: s,
        cursor,
        appends,
        closing: CLOSING.subscribe(),
        pending: Default::default(),
        _slot: slot,
    };
    let mut response = Sse::new(follow(follower))
        .keep_alive(keep_alive)
        .into_response();
    let h = response.headers_mut();
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn follow(follower: Follower) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(follower, |mut f| async move {
        loop {
            if *f.closing.borrow_and_update() {
                return None;
            }
            if let Some(event) = f.pending.pop_front() {
                return Some((Ok(event), f));
            }
            // Marked seen before reading, so an append during the read wakes the next wait.
            f.appends.borrow_and_update();
            let entries = match f.state.registry.log_since(f.cursor, BATCH).await {
                Ok(e) => e,
                Err(e) => {
                    // The follower reconnects from its last id.
                    tracing::warn!(error = %e, "event stream: reading the log failed");
                    return None;
                }
            };
            let caught_up = entries.len() < BATCH as usize;
            for entry in &entries {
                let leaf = String::from_utf8(entry.public().leaf()).unwrap_or_default();
                f.pending.push_back(
                    Event::default()
                        .event("entry")
                        .id(entry.seq.to_string())
                        .data(leaf),
                );
                f.cursor = entry.seq;
            }
            if !entries.is_empty() && caught_up {
                match checkpoint(&f.state).await {
                    Ok(data) => f
                        .pending
                        .push_back(Event::default().event("checkpoint").data(data)),
                    Err(e) => tracing::warn!(error = %e, "event stream: checkpoint failed"),
                }
            }
            if !f.pending.is_empty() {
                continue;
            }
            tokio::select! {
                changed = f.appends.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = f.closing.changed() => return None,
            }
        }
    })
}

/// The log's checkpoint now, signed (`GET /v1/log/checkpoint`'s body).
async fn checkpoint(s: &AppState) -> Result<String, ApiError> {
    let body = super::log::signed_checkpoint(s).await?;
    serde_json::to_string(&body).map_err(|e| ApiError::Internal(e.to_string()))
}

/// How many event streams this node serves now.
pub(crate) fn subscribers() -> usize {
    SUBSCRIBERS.load(Ordering::Acquire)
}
