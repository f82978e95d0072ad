//! Issued nonces (section 8, step 14): a nonce the merchant signs, so that nobody else can make
//! one. A verifier's replay memory bounds the live nonces of each merchant; a stranger's
//! checkouts addressed to a merchant with nonces of its own making count against that bound. A
//! nonce issued by the merchant is one only the merchant could have made: the memory counts it
//! apart, so no one else's checkouts fill the room it needs.
//!
//! Form: `mn1.` + base64url(`exp` as 8 bytes big-endian, then 16 random bytes) + `.` +
//! base64url(Ed25519 signature), 123 characters. The signature is over
//! `"agentid issued nonce v1\0" || audience || "\0" || the 24 bytes`, by the key of the
//! merchant's `did:key` (the presentation's `aud`). `exp` is when it stops being accepted, at
//! most [`MAX_ISSUED_NONCE_SECS`] after it was made.

use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::id::DidKey;
use crate::jose::{b64u, b64u_decode};
use crate::presentation::Nonce;

/// The prefix of an issued nonce.
pub const PREFIX: &str = "mn1.";
/// The longest an issued nonce is accepted for, from the moment it is made, in seconds.
pub const MAX_ISSUED_NONCE_SECS: i64 = 3600;

const CONTEXT: &[u8] = b"agentid issued nonce v1\0";

fn message(audience: &str, body: &[u8; 24]) -> Vec<u8> {
    [CONTEXT, audience.as_bytes(), b"\0", body].concat()
}

/// A nonce issued by the merchant whose `did:key` signing key is `key`, accepted until `exp`
/// (Unix seconds), made unique by `random`.
pub fn issue(key: &SigningKey, exp: i64, random: [u8; 16]) -> Nonce {
    let audience = DidKey::from_public_key(&key.verifying_key());
    let mut body = [0u8; 24];
    body[..8].copy_from_slice(&exp.to_be_bytes());
    body[8..].copy_from_slice(&random);
    let signature = key.sign(&message(audience.as_str(), &body));
    let text = format!("{PREFIX}{}.{}", b64u(&body), b64u(&signature.to_bytes()));
    Nonce::parse(&text).expect("an issued nonce is 123 visible ASCII characters")
}

/// What a nonce is, for the merchant `audience`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issued {
    /// Not in the issued form, or for an audience that is not a `did:key`: an ordinary nonce.
    Open,
    /// Issued by the audience, live at the time asked.
    Valid,
    /// In the issued form for a `did:key` audience, and not one it issued live now: why.
    Invalid(&'static str),
}

/// Whether `nonce` is one `audience` issued, live at `now`.
pub fn check(nonce: &str, audience: &str, now: i64) -> Issued {
    let Some(rest) = nonce.strip_prefix(PREFIX) else {
        return Issued::Open;
    };
    let Ok(merchant) = DidKey::parse(audience) else {
        return Issued::Open;
    };
    let Some((body, signature)) = rest.split_once('.') else {
        return Issued::Invalid("an issued nonce is mn1.<body>.<signature>");
    };
    let (Some(body), Some(signature)) = (b64u_decode(body), b64u_decode(signature)) else {
        return Issued::Invalid("an issued nonce is base64url");
    };
    let (Ok(body), Ok(signature)) = (
        <[u8; 24]>::try_from(body.as_slice()),
        <[u8; 64]>::try_from(signature.as_slice()),
    ) else {
        return Issued::Invalid("an issued nonce has a 24-byte body and a 64-byte signature");
    };
    let Ok(key) = merchant.verifying_key() else {
        return Issued::Invalid("the merchant's did:key is not a usable Ed25519 key");
    };
    let signed = message(audience, &body);
    if key
        .verify_strict(&signed, &Signature::from_bytes(&signature))
        .is_err()
    {
        return Issued::Invalid("the nonce was not issued by this merchant");
    }
    let exp = i64::from_be_bytes(body[..8].try_into().expect("8 bytes"));
    if exp < now {
        return Issued::Invalid("the issued nonce has expired");
    }
    if exp.saturating_sub(now) > MAX_ISSUED_NONCE_SECS {
        return Issued::Invalid("an issued nonce lives at most an hour");
    }
    Issued::Valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_merchant_issues_its_nonces() {
        let merchant = SigningKey::from_bytes(&[0x4d; 32]);
        let aud = DidKey::from_public_key(&merchant.verifying_key());
        let other = SigningKey::from_bytes(&[0x4e; 32]);
        let other_aud = DidKey::from_public_key(&other.verifying_key());
        let n = issue(&merchant, 1_000, [7; 16]);
        assert_eq!(n.as_str().len(), 123);
        assert!(n.as_str().starts_with(PREFIX));
        assert_eq!(check(n.as_str(), aud.as_str(), 900), Issued::Valid);
        assert_eq!(check(n.as_str(), aud.as_str(), 1_000), Issued::Valid);
        assert!(matches!(
            check(n.as_str(), aud.as_str(), 1_001),
            Issued::Invalid(_)
        ));
        assert!(matches!(
            check(n.as_str(), aud.as_str(), 1_000 - MAX_ISSUED_NONCE_SECS - 1),
            Issued::Invalid(_)
        ));
        // Another merchant's, or a stranger's made for this merchant.
        assert!(matches!(
            check(n.as_str(), other_aud.as_str(), 900),
            Issued::Invalid(_)
        ));
        let forged = issue(&other, 1_000, [7; 16]);
        assert!(matches!(
            check(forged.as_str(), aud.as_str(), 900),
            Issued::Invalid(_)
        ));
        // A bit flipped in the body.
        let (head, sig) = n.as_str().rsplit_once('.').unwrap();
        let mut body = b64u_decode(&head[PREFIX.len()..]).unwrap();
        body[23] ^= 1;
        let flipped = format!("{PREFIX}{}.{sig}", b64u(&body));
        assert!(matches!(
            check(&flipped, aud.as_str(), 900),
            Issued::Invalid(_)
        ));
        for bad in ["mn1.", "mn1.x", "mn1.AAAA.AAAA", "mn1.!!.!!"] {
            assert!(
                matches!(check(bad, aud.as_str(), 900), Issued::Invalid(_)),
                "{bad}"
            );
        }
        // Ordinary nonces, and any nonce for a merchant that is not a did:key.
        assert_eq!(check("n-1", aud.as_str(), 900), Issued::Open);
        assert_eq!(check(n.as_str(), "did:web:shop.example", 900), Issued::Open);
    }
}
