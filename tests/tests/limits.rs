//! Strangers' floods against the real `agentid serve` under a low open-file limit: idle
//! connections, half-sent requests, trickled headers and bodies, and event streams. `/health`
//! answers throughout; stalled connections are closed within their timeouts; event streams past
//! their cap are 429.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, Server};

/// The server's `host:port`.
fn addr(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Reads from `stream` until the peer closes it (or `limit` passes: `None`); what it read.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            // A reset is a close too.
            Ok(Ok(0)) | Ok(Err(_)) => return Some(out),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The status and the JSON body of a whole HTTP/1.1 response (read to its close).
fn parse_response(bytes: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(bytes);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// `GET /health` on a connection of its own: how long it took, or why it failed.
async fn health(addr: &str) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut s = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let bytes = read_to_close(&mut s, Duration::from_secs(2))
        .await
        .ok_or("no answer within 2 s")?;
    if !bytes.starts_with(b"HTTP/1.1 200") {
        return Err(format!("answered {:?}", String::from_utf8_lossy(&bytes)));
    }
    Ok(t0.elapsed())
}

/// Polls `/health` every 25 ms until stopped: the slowest answer and every failure.
struct Poller {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Duration, Vec<String>)>,
}

impl Poller {
    fn start(addr: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut polls, mut slowest, mut failures) = (0, Duration::ZERO, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                polls += 1;
                match health(&addr).await {
                    Ok(took) => slowest = slowest.max(took),
                    Err(e) => failures.push(e),
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            (polls, slowest, failures)
        });
        Self { stop, task }
    }

    /// Stops polling; asserts every poll was answered 200 and returns the slowest answer.
    async fn finish(self, what: &str) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        let (polls, slowest, failures) = self.task.await.unwrap();
        assert!(
            failures.is_empty(),
            "{what}: /health failed {} of {polls} times: {failures:?}",
            failures.len()
        );
        assert!(polls >= 5, "{what}: only {polls} polls");
        eprintln!("{what}: /health answered {polls} polls, slowest {slowest:?}");
        slowest
    }
}

/// A request whose head declares a body of `declared` bytes, of which it sends 2.
async fn half_sent(addr: &str, path: &str, declared: u64) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n{{\""
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Opens `GET /v1/events` and reads the response head: the status, and the stream.
async fn event_stream(addr: &str) -> (u16, TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the stream's head within 5 s")
            .unwrap();
        assert!(n > 0, "closed before its head");
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, s, text)
}

/// How many file descriptors process `pid` holds (Linux).
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The open-file limit the floods run under: a soft limit of 128 that the server raises to
/// the hard limit of 300, leaving 300 - 64 connections.
const OPEN_FILES: (u64, u64) = (128, 300);

/// Twice the connection cap of idle connections, 200 requests that declare a body and send 2
/// bytes of it, and as many event streams as allowed, all open at once under an open-file
/// limit of 300: `/health`, polled on fresh connections all along, answers every time; the
/// server never holds more descriptors than its limit and says what it shed.
#[tokio::test]
async fn floods_leave_health_answering() {
    let server = Server::start_with_open_files(
        &Backend::Sqlite,
        &[
            "--header-timeout-secs",
            "5",
            "--body-timeout-secs",
            "5",
            "--idle-timeout-secs",
            "10",
        ],
        OPEN_FILES,
    )
    .await;
    let cap = server.info["maxConnections"].as_u64().unwrap() as usize;
    assert_eq!(
        cap,
        (OPEN_FILES.1 - 64) as usize,
        "the soft limit is raised to the hard one, 64 kept for the service's files"
    );
    let max_streams = server.info["maxEventStreams"].as_u64().unwrap() as usize;
    assert_eq!(
        max_streams,
        cap / 2,
        "event streams fit within the connections"
    );
    let addr = addr(&server);
    let poller = Poller::start(addr.clone());
    let mut held = Vec::new();
    let mut most_fds = 0;
    for _ in 0..max_streams {
        let (status, s, head) = event_stream(&addr).await;
        assert_eq!(status, 200, "{head}");
        held.push(s);
    }
    for i in 0..2 * cap {
        held.push(TcpStream::connect(&addr).await.unwrap());
        if i % 50 == 0 {
            most_fds = most_fds.max(open_fds(server.pid()));
        }
    }
    for i in 0..200 {
        held.push(half_sent(&addr, "/v1/verify", 1000).await);
        if i % 50 == 0 {
            most_fds = most_fds.max(open_fds(server.pid()));
        }
    }
    // The flood goes on a while: new idle connections as fast as they open.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        held.push(TcpStream::connect(&addr).await.unwrap());
        most_fds = most_fds.max(open_fds(server.pid()));
    }
    let slowest = poller.finish("under the flood").await;
    eprintln!(
        "{} connections opened; the server held at most {most_fds} descriptors (limit {}); \
         slowest /health {slowest:?}",
        held.len(),
        OPEN_FILES.1
    );
    assert!(most_fds < OPEN_FILES.1 as usize, "{most_fds} descriptors");
    let (_, metrics) = server.http().get_text("/metrics").await;
    let shed: u64 = metrics
        .lines()
        .find(|l| l.starts_with("agentid_connections_shed_total{reason=\"cap\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no shed counter in {metrics}"));
    assert!(shed as usize >= held.len() - cap, "{shed} shed: {metrics}");
}

/// A request that declares 1000 bytes and sends 2 is answered 408 `request_timeout` once the
/// body timeout passes, and its connection closed; so is one that trickles its body a byte at
/// a time (the timeout is for the whole body, not between bytes); one that declares 10 MB is
/// 413 `body_too_large` at once.
#[tokio::test]
async fn stalled_bodies_are_answered_within_the_body_timeout() {
    let server = Server::start_with_open_files(
        &Backend::Sqlite,
        &["--body-timeout-secs", "1", "--idle-timeout-secs", "10"],
        OPEN_FILES,
    )
    .await;
    let addr = addr(&server);
    for path in ["/v1/verify", "/v1/agents", "/v1/spend/authorizations"] {
        let t0 = Instant::now();
        let mut s = half_sent(&addr, path, 1000).await;
        let bytes = read_to_close(&mut s, Duration::from_secs(5))
            .await
            .expect("answered and closed within 5 s");
        let took = t0.elapsed();
        let (status, body) = parse_response(&bytes);
        assert_eq!(status, 408, "{path}: {body}");
        assert_eq!(body["error"]["code"], "request_timeout", "{path}: {body}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{path}: answered after {took:?}"
        );
        eprintln!("{path}: half-sent body answered 408 after {took:?}");
    }

    // A byte every 100 ms keeps the connection active, not the body in time.
    let mut s = half_sent(&addr, "/v1/verify", 1000).await;
    let t0 = Instant::now();
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if s.write_all(b" ").await.is_err() {
                break;
            }
            let mut probe = [0u8; 1];
            // Stops once the answer is there.
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(1), s.peek(&mut probe)).await
            {
                if n > 0 {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), trickle)
        .await
        .expect("the trickle is answered within 5 s");
    let bytes = read_to_close(&mut s, Duration::from_secs(5)).await.unwrap();
    let (status, body) = parse_response(&bytes);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (408, Some("request_timeout"))
    );
    eprintln!("trickled body answered 408 after {:?}", t0.elapsed());

    let t0 = Instant::now();
    let mut s = half_sent(&addr, "/v1/verify", 10_000_000).await;
    let bytes = read_to_close(&mut s, Duration::from_secs(5)).await.unwrap();
    let (status, body) = parse_response(&bytes);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(health(&addr).await.is_ok());
}

/// Connections that say nothing, and a keep-alive connection after its request, are closed
/// once the idle timeout passes; an event stream, which writes a comment line every third of
/// it, stays open.
#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let server =
        Server::start_with_open_files(&Backend::Sqlite, &["--idle-timeout-secs", "2"], OPEN_FILES)
            .await;
    let addr = addr(&server);
    let t0 = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let (status, mut stream, _) = event_stream(&addr).await;
    assert_eq!(status, 200);

    for s in idle.iter_mut().chain(std::iter::once(&mut kept)) {
        read_to_close(s, Duration::from_secs(5))
            .await
            .expect("an idle connection is closed within 5 s");
        assert!(
            t0.elapsed() >= Duration::from_millis(1900),
            "closed after {:?}, before the idle timeout",
            t0.elapsed()
        );
    }
    eprintln!("21 idle connections closed after {:?}", t0.elapsed());

    // The stream outlives twice the idle timeout, with comment lines.
    let mut got = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                panic!("the event stream was closed after {:?}", t0.elapsed())
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        String::from_utf8_lossy(&got).contains(':'),
        "no keep-alive comment in {:?}",
        String::from_utf8_lossy(&got)
    );
}

/// A request head trickled a header line at a time is cut off by the header timeout, though
/// each line keeps the connection active.
#[tokio::test]
async fn trickled_headers_are_cut_off_by_the_header_timeout() {
    let server = Server::start_with_open_files(
        &Backend::Sqlite,
        &["--header-timeout-secs", "1", "--idle-timeout-secs", "10"],
        OPEN_FILES,
    )
    .await;
    let addr = addr(&server);
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let t0 = Instant::now();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut closed_after = None;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let line = format!("X-Slow-{i}: y\r\n");
        if s.write_all(line.as_bytes()).await.is_err() {
            closed_after = Some(t0.elapsed());
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await {
            // Closed (0 or reset), or answered (hyper's 408 to a slow head).
            let _ = r;
            closed_after = Some(t0.elapsed());
            break;
        }
    }
    let took = closed_after.expect("the trickled head is still open after 5 s");
    assert!(took < Duration::from_secs(4), "closed after {took:?}");
    eprintln!("trickled head cut off after {took:?}");
    assert!(health(&addr).await.is_ok());
}

/// Event streams fit under the connection cap: with a soft and hard open-file limit of 128
/// (64 connections), 32 streams open and the next is 429 `rate_limited` with `Retry-After`,
/// while `/health` answers.
#[tokio::test]
async fn event_streams_past_their_cap_are_429() {
    let server = Server::start_with_open_files(&Backend::Sqlite, &[], (128, 128)).await;
    assert_eq!(server.info["maxConnections"], 64);
    assert_eq!(server.info["maxEventStreams"], 32);
    let addr = addr(&server);
    let mut streams = Vec::new();
    for _ in 0..32 {
        let (status, s, head) = event_stream(&addr).await;
        assert_eq!(status, 200, "{head}");
        streams.push(s);
    }
    let poller = Poller::start(addr.clone());
    for _ in 0..10 {
        let (status, mut s, head) = event_stream(&addr).await;
        assert_eq!(status, 429, "{head}");
        assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
        let mut rest = Vec::new();
        let body = if head.contains("\r\n\r\n{") {
            head.split_once("\r\n\r\n").unwrap().1.to_owned()
        } else {
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            rest.extend_from_slice(&buf[..n]);
            String::from_utf8_lossy(&rest).into_owned()
        };
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(body["error"]["code"], "rate_limited", "{head}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    poller.finish("with every event stream taken").await;
}
