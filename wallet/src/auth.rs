//! Bearer tokens: `<account id>.<secret>`, shown once, stored only as SHA-256, compared in
//! constant time.

use agentid_spec::jose::b64u;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh token for `account_id`, and the hash to store.
pub fn new_token(account_id: &str) -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("{account_id}.{}", b64u(&secret));
    let hash = hash_token(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    b64u(&Sha256::digest(token.as_bytes()))
}

/// Splits `Authorization: Bearer <id>.<secret>` into the account id and the whole token.
pub fn parse_bearer(header: Option<&str>) -> Option<(&str, &str)> {
    split_token(header?.strip_prefix("Bearer ")?.trim())
}

/// Splits a token `<id>.<secret>` into the account id and the whole token, if well-formed: an
/// id of 1 to 64 bytes, a non-empty secret, at most 256 bytes in all.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    (!id.is_empty() && id.len() <= 64 && !secret.is_empty() && token.len() <= 256)
        .then_some((id, token))
}

/// Whether `token` hashes to `stored`, in constant time.
pub fn token_matches(token: &str, stored: &str) -> bool {
    hash_token(token).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let (t, h) = new_token("abc");
        assert!(token_matches(&t, &h));
        assert!(!token_matches(&format!("{t}x"), &h));
        let header = format!("Bearer {t}");
        assert_eq!(parse_bearer(Some(&header)), Some(("abc", t.as_str())));
        assert_eq!(parse_bearer(Some("Basic abc")), None);
        assert_eq!(parse_bearer(Some("Bearer nodot")), None);
        assert_eq!(parse_bearer(None), None);
    }
}
