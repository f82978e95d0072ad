//! Writes N spend requests (`{"presentation": ...}`, one JSON body per line) for the load test
//! of `POST /v1/spend/authorizations`: each for a fresh nonce, cycling over the delegations given.
//!
//! ```sh
//! spend_requests <agent key (plain JWK)> <agent DID> <credentials file, one vc+jwt per line> \
//!   <merchant DID> <amount> <count> > bodies.jsonl
//! ```

use std::io::Write;

use agentid_sdk::keys::KeyPair;
use agentid_sdk::present::{order_hash, present, CheckoutRequest, DEFAULT_LIFETIME_SECS};
use agentid_spec::credential::{Amount, Currency};
use agentid_spec::id::Did;
use agentid_spec::presentation::Nonce;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key, agent, credentials, merchant, amount, count] = &args[..] else {
        eprintln!("usage: spend_requests <key> <agent> <credentials> <merchant> <amount> <count>");
        std::process::exit(2);
    };
    let key = KeyPair::from_private_jwk(&std::fs::read_to_string(key).unwrap()).unwrap();
    let agent = Did::parse(agent).unwrap();
    let merchant = Did::parse(merchant).unwrap();
    let credentials: Vec<String> = std::fs::read_to_string(credentials)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let amount = Amount::new(amount.parse().unwrap()).unwrap();
    let count: usize = count.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let nonce = Nonce::parse(&format!("load-{run}-{i}")).unwrap();
        let vp = present(
            &CheckoutRequest {
                agent: &agent,
                key_fragment: "key-1",
                credential: &credentials[i % credentials.len()],
                links: &[],
                merchant: &merchant,
                nonce: &nonce,
                amount,
                currency: Currency::parse("USD").unwrap(),
                order_hash: order_hash(b"load"),
                category: None,
                now,
                lifetime: DEFAULT_LIFETIME_SECS.max(300),
                authorization: None,
            },
            &key,
        );
        writeln!(out, "{}", serde_json::json!({ "presentation": vp })).unwrap();
    }
}
