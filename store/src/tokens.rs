//! Bearer tokens at rest: stored as a keyed hash, never as the token or a bare digest of it.
//!
//! A token is `<account id>.<secret>`. Its stored form is `k1.` followed by the seal (see
//! [`Sealer`]) of the account's kind, the facts its row must keep (a principal's DID, ...) and
//! the token's SHA-256. Whoever can write the database but lacks the master key cannot make a
//! stored form for a token of theirs: an operator account inserted, a principal's hash replaced,
//! the root's setting rewritten, or a row's DID swapped under its token, all authenticate
//! nobody.
//!
//! Earlier releases stored the bare SHA-256 (base64url, no prefix). Such a form is converted
//! ([`TokenKey::from_legacy`]) only by a node upgrading from such a release, and is otherwise
//! refused: see the README's runbook.

use agentid_spec::jose::{b64u, b64u_decode};
use sha2::{Digest, Sha256};

use crate::Sealer;

/// The seal purpose of stored tokens.
const PURPOSE: &str = "bearer-tokens";
/// The prefix of the keyed form.
const PREFIX: &str = "k1.";

/// The kind of account a token opens, sealed with its stored form, so no kind's stored form
/// opens another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    /// The root operator (the admin token).
    Root,
    /// A named operator account.
    Operator,
    /// A wallet principal.
    Principal,
}

impl Account {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Root => b"root",
            Self::Operator => b"operator",
            Self::Principal => b"principal",
        }
    }
}

/// Makes and checks tokens' stored forms. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TokenKey(Sealer);

impl TokenKey {
    /// The token key under the 32-byte `master` key.
    pub fn new(master: &[u8; 32]) -> Self {
        Self(Sealer::new(master, PURPOSE))
    }

    /// The token key under the base64url `master` key; `None` if it is not 32 bytes.
    pub fn from_b64u(master: &str) -> Option<Self> {
        Sealer::from_b64u(master, PURPOSE).map(Self)
    }

    fn keyed(&self, account: Account, bound: &[&str], digest: &[u8]) -> String {
        format!("{PREFIX}{}", self.0.seal(&parts(account, bound, digest)))
    }

    /// The stored form of `token` for an `account` whose row keeps the facts `bound`.
    pub fn stored(&self, account: Account, bound: &[&str], token: &str) -> String {
        self.keyed(account, bound, &Sha256::digest(token.as_bytes()))
    }

    /// Whether `stored` is the stored form of `token` for this account and these facts
    /// (compared in constant time). A form of an earlier release is never a match.
    pub fn matches(&self, account: Account, bound: &[&str], token: &str, stored: &str) -> bool {
        let Some(seal) = stored.strip_prefix(PREFIX) else {
            return false;
        };
        let digest = Sha256::digest(token.as_bytes());
        self.0.verify(&parts(account, bound, &digest), seal)
    }

    /// Whether `stored` is the keyed form (this release's), rather than an earlier release's.
    pub fn is_keyed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// The keyed form of an earlier release's stored form (the token's bare SHA-256,
    /// base64url), for a node upgrading from it to vouch for; `None` if `legacy` is not one.
    pub fn from_legacy(&self, account: Account, bound: &[&str], legacy: &str) -> Option<String> {
        let digest = b64u_decode(legacy).filter(|d| d.len() == 32)?;
        Some(self.keyed(account, bound, &digest))
    }
}

/// What a stored form seals: the account's kind, the row's facts, the token's digest.
fn parts<'a>(account: Account, bound: &[&'a str], digest: &'a [u8]) -> Vec<&'a [u8]> {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(bound.len() + 2);
    parts.push(account.label());
    parts.extend(bound.iter().map(|b| b.as_bytes()));
    parts.push(digest);
    parts
}

/// An earlier release's stored form of `token` (its bare SHA-256, base64url): what an
/// upgrading database holds, for tests of the upgrade.
pub fn legacy_form(token: &str) -> String {
    b64u(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_form_opens_only_its_account_and_facts() {
        let k = TokenKey::new(&[9; 32]);
        let t = "abc.secret";
        let s = k.stored(Account::Principal, &["abc", "did:key:z1"], t);
        assert!(TokenKey::is_keyed(&s));
        assert!(k.matches(Account::Principal, &["abc", "did:key:z1"], t, &s));
        assert!(!k.matches(Account::Principal, &["abc", "did:key:z2"], t, &s));
        assert!(!k.matches(Account::Principal, &["abcdid:key:z1"], t, &s));
        assert!(!k.matches(Account::Operator, &["abc", "did:key:z1"], t, &s));
        assert!(!k.matches(Account::Principal, &["abc", "did:key:z1"], "abc.other", &s));
        assert!(!TokenKey::new(&[8; 32]).matches(
            Account::Principal,
            &["abc", "did:key:z1"],
            t,
            &s
        ));
        // An earlier release's form, or a stranger's digest, opens nothing.
        let legacy = legacy_form(t);
        assert!(!k.matches(Account::Principal, &["abc", "did:key:z1"], t, &legacy));
        assert!(!k.matches(
            Account::Principal,
            &["abc", "did:key:z1"],
            t,
            &format!("k1.{legacy}")
        ));
        assert!(!k.matches(Account::Root, &[], t, ""));
        // Converted by an upgrading node, it is the keyed form.
        let converted = k
            .from_legacy(Account::Principal, &["abc", "did:key:z1"], &legacy)
            .unwrap();
        assert_eq!(converted, s);
        assert!(k.from_legacy(Account::Root, &[], "short").is_none());
        assert!(k.from_legacy(Account::Root, &[], &s).is_none());
    }
}
