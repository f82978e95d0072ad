//! Writes N registrations (`{"operation": ...}`, one JSON body per line) for the load test of
//! `POST /v1/agents`: each a fresh agent's signed genesis operation, claiming a name of its own.
//! With a second argument, also writes the DIDs they define there, one per line.
//!
//! ```sh
//! genesis_operations <count> [dids.txt] > bodies.jsonl
//! ```

use std::io::Write;

use agentid_sdk::keys::KeyPair;
use agentid_sdk::operation::create;
use agentid_spec::id::AgentName;

fn main() {
    let count: usize = match std::env::args().nth(1).map(|n| n.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: genesis_operations <count>");
            std::process::exit(2);
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Names unique to this run: agent<i>.r<run>.
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut dids = std::env::args().nth(2).map(|path| {
        std::io::BufWriter::new(std::fs::File::create(path).expect("the DIDs file is writable"))
    });
    for i in 0..count {
        let key = KeyPair::generate();
        let name = AgentName::parse(&format!("agent{i}.r{run}")).unwrap();
        let genesis = create(&key, &key, Some(name), now);
        writeln!(
            out,
            "{}",
            serde_json::json!({ "operation": genesis.operation })
        )
        .unwrap();
        if let Some(d) = dids.as_mut() {
            writeln!(d, "{}", genesis.did).unwrap();
        }
    }
}
