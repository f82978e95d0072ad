//! Following a registry's event stream (`GET /v1/events`, spec section 5.5): server-sent events
//! of the registry's log, resumed from the last event id after a dropped connection.
//!
//! [`HttpSource::follow`] keeps a verifier's caches honest: every entry that changes an existing
//! agent (a key update, a deactivation, a suspension, a deplatforming, a reinstatement) moves
//! the source's generation, so a verifier drops what it cached from this source and never keeps
//! an answer fetched while it moved. An event only ever causes a fresh, checked resolution, so a
//! forged or replayed event can cost a request, never an acceptance; the `checkpoint` events
//! carry the log's signed checkpoint for followers that keep a verified mirror.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentid_spec::log::PublicEntry;
use tokio::sync::watch;

use crate::http::HttpSource;

/// Longest event accepted, in bytes: an entry holds at most one 8 KiB operation and its
/// metadata.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// A stream silent for this long (the server sends a comment every 15 s) is reconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One event of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// A log entry (`id` is its `seq`).
    Entry(PublicEntry),
    /// The log's signed checkpoint (the body of `GET /v1/log/checkpoint`).
    Checkpoint(serde_json::Value),
}

/// Splits server-sent events out of bytes as they arrive (the WHATWG "event stream"
/// interpretation, for the fields this stream uses: `event`, `data`, `id`; comments ignored).
#[derive(Default, Debug)]
pub struct EventParser {
    buffer: Vec<u8>,
}

/// Why a stream's bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// An event over [`MAX_EVENT_BYTES`].
    #[error("event over {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    /// An event that is not UTF-8, or whose data is not what its type says.
    #[error("malformed event: {0}")]
    Malformed(String),
}

impl EventParser {
    /// Adds `bytes` and returns the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<RegistryEvent>, StreamError> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = find_blank_line(&self.buffer) {
            let block: Vec<u8> = self.buffer.drain(..end.0 + end.1).collect();
            let text = std::str::from_utf8(&block[..end.0])
                .map_err(|_| StreamError::Malformed("not UTF-8".into()))?;
            if let Some(event) = parse_block(text)? {
                events.push(event);
            }
        }
        if self.buffer.len() > MAX_EVENT_BYTES {
            return Err(StreamError::TooLarge);
        }
        Ok(events)
    }
}

/// Where the first blank line ends an event: (length of the block, length of the separator).
fn find_blank_line(b: &[u8]) -> Option<(usize, usize)> {
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(c)) => Some(if a.0 <= c.0 { a } else { c }),
        (a, c) => a.or(c),
    }
}

fn parse_block(text: &str) -> Result<Option<RegistryEvent>, StreamError> {
    let (mut kind, mut data, mut id) = ("message", String::new(), None);
    for line in text.lines() {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => {
                kind = if value == "entry" {
                    "entry"
                } else if value == "checkpoint" {
                    "checkpoint"
                } else {
                    "other"
                }
            }
            "data" => {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            "id" => id = Some(value.to_owned()),
            _ => {}
        }
    }
    let bad = |m: &str| StreamError::Malformed(m.to_owned());
    match kind {
        "entry" => {
            let entry: PublicEntry =
                serde_json::from_str(&data).map_err(|_| bad("entry data is not a log entry"))?;
            if id.as_deref() != Some(entry.seq.to_string().as_str()) {
                return Err(bad("an entry's id is not its seq"));
            }
            Ok(Some(RegistryEvent::Entry(entry)))
        }
        "checkpoint" => serde_json::from_str(&data)
            .map(|v| Some(RegistryEvent::Checkpoint(v)))
            .map_err(|_| bad("checkpoint data is not JSON")),
        _ => Ok(None),
    }
}

/// A running subscription to a registry's events; stops when dropped.
#[derive(Debug)]
pub struct Following {
    task: tokio::task::JoinHandle<()>,
    seen: watch::Receiver<i64>,
}

impl Following {
    /// The `seq` of the last entry received (0 before any).
    pub fn last_seq(&self) -> i64 {
        *self.seen.borrow()
    }

    /// Waits until an entry at or after `seq` has been received.
    pub async fn wait_for(&mut self, seq: i64) {
        let _ = self.seen.wait_for(|s| *s >= seq).await;
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an entry of this kind changes what a resolution of an existing agent says.
fn changes_an_agent(kind: &str) -> bool {
    kind != "create"
}

impl HttpSource {
    /// Follows the registry's event stream from now on, in a task, reconnecting (from the last
    /// event received) when the connection drops: each entry that changes an agent moves this
    /// source's generation (shared by its clones), so a verifier over it drops what it cached.
    /// A (re)connection with no event received yet moves it too: anything may have changed
    /// before.
    pub fn follow(&self) -> Following {
        let (tx, seen) = watch::channel(0i64);
        let source = self.clone();
        let task = tokio::spawn(async move {
            let mut last: Option<i64> = None;
            let mut backoff = Duration::from_millis(100);
            loop {
                match source.stream_once(&mut last, &tx).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => {
                        tracing_warn(&e);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        });
        Following { task, seen }
    }

    /// One connection: reads events until it drops. `Ok` when it ended after events flowed.
    async fn stream_once(
        &self,
        last: &mut Option<i64>,
        seen: &watch::Sender<i64>,
    ) -> Result<(), String> {
        let mut request = self
            .stream_client()
            .get(format!("{}/v1/events", self.registry_url()))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(seq) = last {
            request = request.header("last-event-id", seq.to_string());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status() != 200 {
            return Err(format!("event stream answered HTTP {}", response.status()));
        }
        if last.is_none() {
            self.changes().fetch_add(1, Ordering::AcqRel);
        }
        let mut parser = EventParser::default();
        loop {
            let chunk = tokio::time::timeout(IDLE_TIMEOUT, response.chunk())
                .await
                .map_err(|_| "event stream idle".to_owned())?
                .map_err(|e| e.without_url().to_string())?;
            let Some(chunk) = chunk else {
                return Ok(());
            };
            for event in parser.push(&chunk).map_err(|e| e.to_string())? {
                if let RegistryEvent::Entry(entry) = event {
                    if changes_an_agent(&entry.kind) {
                        self.changes().fetch_add(1, Ordering::AcqRel);
                    }
                    *last = Some(entry.seq);
                    seen.send_replace(entry.seq);
                }
            }
        }
    }
}

fn tracing_warn(e: &str) {
    // The resolver has no logging dependency: report on stderr only in debug builds.
    if cfg!(debug_assertions) {
        eprintln!("agentid event stream: {e}");
    }
}

/// A generation counter shared by a source and its clones.
pub(crate) type Changes = Arc<AtomicU64>;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, kind: &str) -> String {
        let e = PublicEntry {
            actor: "a".into(),
            created_at: 1_790_000_000,
            did: "did:agentid:x".into(),
            entry_hash: "h".into(),
            kind: kind.into(),
            operation: "{}".into(),
            prev_hash: "p".into(),
            reason_hash: None,
            seq,
        };
        format!(
            "event: entry\nid: {seq}\ndata: {}\n\n",
            serde_json::to_string(&e).unwrap()
        )
    }

    #[test]
    fn events_split_across_chunks() {
        let text = format!(
            ": keep-alive\n\n{}event: checkpoint\ndata: {{\"treeSize\":2}}\n\n{}",
            entry(1, "create"),
            entry(2, "deplatform")
        );
        // Every way of cutting the bytes in two yields the same events.
        for cut in 0..text.len() {
            let mut p = EventParser::default();
            let mut events = p.push(&text.as_bytes()[..cut]).unwrap();
            events.extend(p.push(&text.as_bytes()[cut..]).unwrap());
            assert_eq!(events.len(), 3, "cut at {cut}");
            assert!(matches!(&events[0], RegistryEvent::Entry(e) if e.seq == 1));
            assert!(matches!(&events[1], RegistryEvent::Checkpoint(v) if v["treeSize"] == 2));
            assert!(matches!(&events[2], RegistryEvent::Entry(e) if e.kind == "deplatform"));
        }
        let crlf = entry(3, "suspend").replace('\n', "\r\n");
        let events = EventParser::default().push(crlf.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn hostile_streams_are_refused() {
        let mut p = EventParser::default();
        assert_eq!(
            p.push(&vec![b'a'; MAX_EVENT_BYTES + 1]),
            Err(StreamError::TooLarge)
        );
        let mut p = EventParser::default();
        // At the limit, an unfinished event is kept.
        assert!(p.push(&vec![b'a'; MAX_EVENT_BYTES]).unwrap().is_empty());
        for bad in [
            "event: entry\nid: 1\ndata: {}\n\n".to_owned(),
            entry(1, "create").replace("id: 1", "id: 2"),
            "event: checkpoint\ndata: {\n\n".to_owned(),
        ] {
            assert!(
                EventParser::default().push(bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
        let invalid_utf8 = [b"event: entry\ndata: ".as_slice(), &[0xff, 0xfe], b"\n\n"].concat();
        assert!(EventParser::default().push(&invalid_utf8).is_err());
        // Unknown event types are skipped.
        assert!(EventParser::default()
            .push(b"event: other\ndata: x\n\n")
            .unwrap()
            .is_empty());
    }
}
