//! Bearer tokens: `<account id>.<secret>`, shown once, stored only in the keyed form of
//! [`agentid_store::tokens`], compared in constant time.

use agentid_spec::jose::b64u;
use rand::RngCore;
use zeroize::Zeroizing;

/// A fresh token for `account_id`: 256 random bits.
pub fn new_token(account_id: &str) -> Zeroizing<String> {
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(secret.as_mut_slice());
    Zeroizing::new(format!("{account_id}.{}", b64u(secret.as_slice())))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = new_token("abc");
        assert_ne!(*t, *new_token("abc"));
        let header = format!("Bearer {}", *t);
        assert_eq!(parse_bearer(Some(&header)), Some(("abc", t.as_str())));
        assert_eq!(parse_bearer(Some("Basic abc")), None);
        assert_eq!(parse_bearer(Some("Bearer nodot")), None);
        assert_eq!(parse_bearer(None), None);
    }
}
