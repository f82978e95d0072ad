//! agentid end to end: the real `agentid serve` process on 127.0.0.1, driven over HTTP and
//! through the `agentid` command line, on SQLite and (when `AGENTID_TEST_POSTGRES_URL` is set)
//! PostgreSQL. Build the binary first: `cargo build --bin agentid`.

#![allow(unreachable_pub)]

mod bad_input;
mod chains;
mod client;
mod did_web;
mod events;
mod fixture;
mod interop;
mod ledger;
mod limits;
mod moderation;
mod nodes;
mod operations;
mod races;
mod rejections;
mod startup;
mod story;
mod strangers;
mod support;
mod transparency;
mod zones;
