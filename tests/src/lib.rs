//! End-to-end and conformance tests for agentid. The tests live in `tests/e2e.rs` (one binary)
//! and drive the real `agentid` process over HTTP and its command line.
