//! Connections: the accept loop of `agentid serve` and the limits that keep a stranger from
//! holding the service.
//!
//! Every connection has a header timeout (the request's head in full within it, hyper's), a body
//! timeout (the whole body within it of the head, else 408 `request_timeout` and the connection
//! closed) and an idle timeout (nothing read or written for that long: closed; an event stream
//! writes a comment line more often than that). At most [`ConnLimits::max_connections`] are
//! open, a number below the process's open-file limit: a connection accepted past it closes the
//! one least recently active, so a flood of idle or half-sent connections, however many, cannot
//! lock the service's other clients out, `/health` included. What is shed is counted
//! (`/metrics`) and logged at most once a second.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;

use crate::error::{ApiError, MAX_BODY_BYTES};

/// File descriptors kept for everything but client connections: the database pool and its
/// files, the change feed, the listener, the runtime, outgoing HTTP and DNS.
pub const FD_RESERVE: u64 = 64;
/// Fewest connections worth serving: an open-file limit leaving less room is refused at start.
pub const MIN_CONNECTIONS: usize = 16;
/// Most connections, whatever the configuration and the limit.
pub const MAX_CONNECTIONS: usize = 1 << 20;
/// Longest keep-alive comment interval of an event stream.
pub const MAX_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The timeouts and the cap of every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections open at once (below the open-file limit).
    pub max_connections: usize,
    /// The request's head must arrive within this.
    pub header_timeout: Duration,
    /// The request's body must arrive within this of its head.
    pub body_timeout: Duration,
    /// A connection with nothing read or written for this long is closed.
    pub idle_timeout: Duration,
}

/// The process's limit on open files, after [`raise_open_files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit found at start (`None`: unlimited, or not known on this system).
    pub found: Option<u64>,
    /// The hard limit, to which the soft one is raised.
    pub hard: Option<u64>,
    /// The soft limit in force now.
    pub soft: Option<u64>,
}

/// Raises the soft limit on open files to the hard limit (Linux; elsewhere reads nothing and
/// changes nothing). A refused raise leaves the limit as found.
pub fn raise_open_files() -> OpenFiles {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let found = getrlimit(Resource::Nofile);
        if found.current != found.maximum {
            let raised = Rlimit {
                current: found.maximum,
                maximum: found.maximum,
            };
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                tracing::warn!(error = %e, "raising the open-file limit failed");
            }
        }
        OpenFiles {
            found: found.current,
            hard: found.maximum,
            soft: getrlimit(Resource::Nofile).current,
        }
    }
    #[cfg(not(target_os = "linux"))]
    OpenFiles {
        found: None,
        hard: None,
        soft: None,
    }
}

/// The connection cap: `configured`, lowered to fit under the soft open-file limit `soft`
/// less [`FD_RESERVE`]; an error when that leaves fewer than [`MIN_CONNECTIONS`].
pub fn connection_cap(configured: usize, soft: Option<u64>) -> Result<usize, String> {
    let room =
        soft.map(|soft| usize::try_from(soft.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX));
    let cap = configured
        .min(room.unwrap_or(usize::MAX))
        .min(MAX_CONNECTIONS);
    if cap < MIN_CONNECTIONS {
        let limit = soft.map_or_else(|| "unlimited".to_owned(), |s| s.to_string());
        return Err(format!(
            "{cap} connections at most (--max-connections {configured}, open-file limit \
             {limit} with {FD_RESERVE} kept for the service's own files): at least \
             {MIN_CONNECTIONS} are needed; raise the limit (ulimit -n) or --max-connections"
        ));
    }
    Ok(cap)
}

/// The event-stream cap: `configured`, and never more than half the connections, so that
/// streams cannot take the room other requests need.
pub fn event_stream_cap(configured: usize, connections: usize) -> usize {
    configured.min(connections / 2).max(1)
}

/// How often an event stream writes a comment line: a third of the idle timeout (so a stream
/// never looks idle), at most [`MAX_KEEP_ALIVE`].
pub fn keep_alive_for(idle_timeout: Duration) -> Duration {
    (idle_timeout / 3).min(MAX_KEEP_ALIVE)
}

/// What was shed since start, and how many connections are open: for `/metrics` and the log.
#[derive(Debug, Default)]
struct Stats {
    open: AtomicU64,
    evicted: AtomicU64,
    idle: AtomicU64,
    header_timeouts: AtomicU64,
    body_timeouts: AtomicU64,
    accept_errors: AtomicU64,
}

static STATS: Stats = Stats {
    open: AtomicU64::new(0),
    evicted: AtomicU64::new(0),
    idle: AtomicU64::new(0),
    header_timeouts: AtomicU64::new(0),
    body_timeouts: AtomicU64::new(0),
    accept_errors: AtomicU64::new(0),
};

/// A copy of the connection counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections open now.
    pub open: u64,
    /// Closed to make room for a newer one, the connection cap reached.
    pub evicted: u64,
    /// Closed after the idle timeout.
    pub idle: u64,
    /// Closed because the request's head did not arrive in time.
    pub header_timeouts: u64,
    /// Answered 408 because the body did not arrive in time.
    pub body_timeouts: u64,
    /// Failed accepts (the open-file limit reached, most likely).
    pub accept_errors: u64,
}

impl Counters {
    /// How many connections were shed, whatever the reason.
    fn shed(&self) -> u64 {
        self.evicted + self.idle + self.header_timeouts + self.body_timeouts + self.accept_errors
    }
}

/// The connection counters now.
pub fn counters() -> Counters {
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Counters {
        open: l(&STATS.open),
        evicted: l(&STATS.evicted),
        idle: l(&STATS.idle),
        header_timeouts: l(&STATS.header_timeouts),
        body_timeouts: l(&STATS.body_timeouts),
        accept_errors: l(&STATS.accept_errors),
    }
}

fn count(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// The origin of the connections' activity clock.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since [`EPOCH`].
fn now_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One open connection: when it last read or wrote, whether a route is answering one of its
/// requests, and the signal that closes it.
#[derive(Debug)]
struct Conn {
    last: AtomicU64,
    in_flight: AtomicU64,
    close: Notify,
}

impl Conn {
    fn new() -> Self {
        Self {
            last: AtomicU64::new(now_ms()),
            in_flight: AtomicU64::new(0),
            close: Notify::new(),
        }
    }

    /// Which to close first at the cap: those without a request being answered, then the
    /// least recently active.
    fn eviction_order(&self) -> (bool, u64) {
        (self.in_flight.load(Ordering::Relaxed) > 0, self.last())
    }

    fn touch(&self) {
        self.last.store(now_ms(), Ordering::Relaxed);
    }

    fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

/// The open connections, by id.
#[derive(Debug, Default)]
struct Table {
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Table {
    /// Adds connection `id`; past `max`, first closes the least recently active ones.
    fn admit(&self, id: u64, conn: Arc<Conn>, max: usize) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while open.len() >= max.max(1) {
            if !evict_one(&mut open) {
                break;
            }
            count(&STATS.evicted);
        }
        open.insert(id, conn);
        STATS.open.store(open.len() as u64, Ordering::Relaxed);
    }

    /// Closes the least recently active connection (to free a file descriptor).
    fn evict(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let evicted = evict_one(&mut open);
        STATS.open.store(open.len() as u64, Ordering::Relaxed);
        evicted
    }

    fn remove(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&id);
        STATS.open.store(open.len() as u64, Ordering::Relaxed);
    }
}

/// Takes the connection least worth keeping out of `open` and tells it to close: the least
/// recently active of those with no request being answered, else of all (so a flood cannot
/// push out a request in flight by opening connections faster than it is answered). A scan of
/// every connection: it happens only at the cap, and the cap is a few thousand.
fn evict_one(open: &mut HashMap<u64, Arc<Conn>>) -> bool {
    let victim = open
        .iter()
        .min_by_key(|(_, c)| c.eviction_order())
        .map(|(id, _)| *id);
    let Some(victim) = victim else {
        return false;
    };
    if let Some(conn) = open.remove(&victim) {
        // A permit is kept if its task is not waiting yet.
        conn.close.notify_one();
    }
    true
}

/// Takes a connection out of the table, and returns its permit, when its task ends, however
/// it ends.
struct Entry {
    table: Arc<Table>,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.table.remove(self.id);
    }
}

/// Connections evicted but not closed yet that the accept loop lets pile up before it waits
/// for them: connections never hold more than `max_connections` plus this many descriptors.
const CLOSING_SLACK: usize = (FD_RESERVE / 2) as usize;

/// Serves `app` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting, lets every connection finish its request in flight (hyper's graceful shutdown;
/// the timeouts still apply) and returns once all are closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let http = Arc::new(http);
    let table = Arc::new(Table::default());
    // One permit per file descriptor a connection may hold, returned when its task ends (its
    // socket closed): a connection evicted at the cap still holds its descriptor until its task
    // runs, and a burst of accepts must not outrun those closes to the open-file limit.
    let slots = limits.max_connections.saturating_add(CLOSING_SLACK);
    let permits = Arc::new(Semaphore::new(slots));
    let (stop, stopping) = watch::channel(false);
    let logger = tokio::spawn(log_shed());
    tokio::pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit,
        };
        // Invariant: the semaphore is never closed.
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                next_id += 1;
                let conn = Arc::new(Conn::new());
                table.admit(next_id, conn.clone(), limits.max_connections);
                let entry = Entry {
                    table: table.clone(),
                    id: next_id,
                    _permit: permit,
                };
                tokio::spawn(connection(
                    Accepted {
                        stream,
                        peer,
                        conn,
                        entry,
                    },
                    app.clone(),
                    http.clone(),
                    limits,
                    stopping.clone(),
                ));
            }
            Err(e) => accept_failed(e, &table).await,
        }
    }
    drop(listener);
    stop.send_replace(true);
    // Every connection closed once every permit is back.
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    logger.abort();
    Ok(())
}

/// A failed accept. One about a single connection (reset before it was accepted) is nothing;
/// any other is the process out of something, file descriptors most likely: the least
/// recently active connection is closed to make room, and accepting pauses briefly rather
/// than spinning.
async fn accept_failed(e: io::Error, table: &Table) {
    use io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) {
        return;
    }
    count(&STATS.accept_errors);
    tracing::debug!(error = %e, "accept failed");
    table.evict();
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Logs what was shed, at most once a second and only when something was.
async fn log_shed() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = counters();
    loop {
        tick.tick().await;
        let now = counters();
        if now.shed() != seen.shed() {
            tracing::warn!(
                open = now.open,
                evicted_at_cap = now.evicted - seen.evicted,
                idle_closed = now.idle - seen.idle,
                header_timeouts = now.header_timeouts - seen.header_timeouts,
                body_timeouts = now.body_timeouts - seen.body_timeouts,
                accept_errors = now.accept_errors - seen.accept_errors,
                "connections shed in the last second"
            );
        }
        seen = now;
    }
}

/// A connection just accepted, with its place in the table.
struct Accepted {
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    entry: Entry,
}

/// Serves one connection until it closes, goes idle past the idle timeout, or is told to close
/// (the cap reached).
async fn connection(
    accepted: Accepted,
    app: Router,
    http: Arc<http1::Builder>,
    limits: ConnLimits,
    mut stopping: watch::Receiver<bool>,
) {
    let Accepted {
        stream,
        peer,
        conn,
        entry: _entry,
    } = accepted;
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: conn.clone(),
    });
    let body_timeout = limits.body_timeout;
    let answering = conn.clone();
    let service = hyper::service::service_fn(move |req| {
        respond(app.clone(), peer, body_timeout, answering.clone(), req)
    });
    let served = http.serve_connection(io, service);
    tokio::pin!(served);
    let idle_ms = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    let mut draining = false;
    loop {
        if !draining && *stopping.borrow_and_update() {
            draining = true;
            served.as_mut().graceful_shutdown();
        }
        let idle_at = tokio::time::Instant::from_std(
            *EPOCH + Duration::from_millis(conn.last().saturating_add(idle_ms)),
        );
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    if e.is_timeout() {
                        count(&STATS.header_timeouts);
                    }
                    tracing::debug!(error = %e, %peer, "connection ended");
                }
                return;
            }
            // Counted by whoever asked.
            () = conn.close.notified() => return,
            () = tokio::time::sleep_until(idle_at) => {
                if now_ms().saturating_sub(conn.last()) >= idle_ms {
                    count(&STATS.idle);
                    return;
                }
            }
            _ = stopping.changed(), if !draining => {}
        }
    }
}

/// Answers one request: the peer's address for the rate limiter, and a body that must arrive
/// within `body_timeout`; a body that did not is answered 408 whatever the route made of it,
/// and one declared over the body limit is 413 before it is waited for.
async fn respond(
    app: Router,
    peer: SocketAddr,
    body_timeout: Duration,
    conn: Arc<Conn>,
    req: hyper::Request<Incoming>,
) -> Result<Response, Infallible> {
    if declared_len(&req).is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        // Refused before a byte of it is waited for; the rest cannot be read on this connection.
        let mut response = ApiError::TooLarge(MAX_BODY_BYTES).into_response();
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        return Ok(response);
    }
    let expired = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    // A request counts as being answered once its body is all there (at once, for one without):
    // a half-sent body is no reason to keep its connection at the cap.
    let answering = Arc::new(Mutex::new(None));
    if body.is_end_stream() {
        *answering.lock().unwrap_or_else(|e| e.into_inner()) = Some(InFlight::new(conn.clone()));
    }
    let body = TimedBody {
        conn,
        answering: answering.clone(),
        inner: body,
        deadline: tokio::time::Instant::now() + body_timeout,
        sleep: None,
        expired: expired.clone(),
    };
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::new(body));
    let response = app.oneshot(request).await?;
    if expired.load(Ordering::Acquire) {
        count(&STATS.body_timeouts);
        return Ok(ApiError::RequestTimeout(body_timeout.as_secs()).into_response());
    }
    Ok(response)
}

/// Marks a connection as having a request being answered, while it lives.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(conn: Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The body length a request declares (`Content-Length`), if it declares one that parses.
fn declared_len<B>(req: &hyper::Request<B>) -> Option<u64> {
    req.headers()
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The body did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

/// A request body that fails once its deadline passes (and says so in `expired`). The timer
/// starts when the route first reads the body; the deadline counts from the request's head.
struct TimedBody {
    conn: Arc<Conn>,
    /// Set once the body is all there; dropped when the answer is made.
    answering: Arc<Mutex<Option<InFlight>>>,
    inner: Incoming,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if frame.is_none() || this.inner.is_end_stream() {
                let mut answering = this.answering.lock().unwrap_or_else(|e| e.into_inner());
                if answering.is_none() {
                    *answering = Some(InFlight::new(this.conn.clone()));
                }
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream that records when it last read or wrote a byte.
struct Tracked {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.touch();
        }
        read
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap fits under the open-file limit with the reserve kept, and a limit too low to
    /// serve anything is refused.
    #[test]
    fn caps_fit_the_open_file_limit() {
        assert_eq!(connection_cap(10_000, None), Ok(10_000));
        assert_eq!(connection_cap(10_000, Some(1024)), Ok(1024 - 64));
        assert_eq!(connection_cap(100, Some(1024)), Ok(100));
        assert!(connection_cap(10_000, Some(70)).is_err());
        assert!(connection_cap(8, None).is_err());
        assert_eq!(event_stream_cap(1024, 960), 480);
        assert_eq!(event_stream_cap(1024, 100_000), 1024);
    }

    /// An event stream's comment line comes well within the idle timeout.
    #[test]
    fn keep_alive_is_shorter_than_the_idle_timeout() {
        for secs in [2, 3, 10, 45, 60, 3600] {
            let idle = Duration::from_secs(secs);
            let k = keep_alive_for(idle);
            assert!(k < idle && k <= MAX_KEEP_ALIVE, "{secs}: {k:?}");
        }
        assert_eq!(keep_alive_for(Duration::from_secs(60)), MAX_KEEP_ALIVE);
    }

    /// At the cap, the connection least recently active is the one told to close.
    #[test]
    fn the_least_recently_active_is_evicted() {
        let table = Table::default();
        let conns: Vec<Arc<Conn>> = (0..3).map(|_| Arc::new(Conn::new())).collect();
        for (i, c) in conns.iter().enumerate() {
            c.last.store(100 + i as u64, Ordering::Relaxed);
        }
        // The oldest one active just now.
        conns[0].last.store(1_000, Ordering::Relaxed);
        for (i, c) in conns.iter().enumerate() {
            table.admit(i as u64, c.clone(), 3);
        }
        table.admit(3, Arc::new(Conn::new()), 3);
        let open = table.open.lock().unwrap();
        assert!(
            !open.contains_key(&1),
            "connection 1 was the least recently active"
        );
        assert_eq!(open.len(), 3);
    }
}
