//! Seals: an HMAC-SHA256 under a key derived (HKDF-SHA256) from the master key, which never
//! enters the database. A seal says "a process holding the master key wrote this": whoever can
//! write the database but lacks the master key (a stolen backup, a compromised database host, a
//! careless script) can delete what is sealed, but cannot forge, alter or move it.
//!
//! A seal binds a purpose (`"registry-log"`, ...) and every part of the sealed value, each
//! length-prefixed, so no value's seal is another's. Seals are not public: an outsider verifies
//! the service's answers by their signatures; seals are how the service checks its own rows.

use agentid_spec::jose::{b64u, b64u_decode};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The HKDF `info` prefix of every seal key.
const INFO: &[u8] = b"agentid seal v1 ";

/// Seals and checks seals for one purpose. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealer for `purpose` under the 32-byte `master` key.
    pub fn new(master: &[u8; 32], purpose: &str) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(None, master);
        let mut key = Zeroizing::new([0u8; 32]);
        let info = [INFO, purpose.as_bytes()].concat();
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
        hk.expand(&info, key.as_mut_slice())
            .expect("32 bytes from HKDF-SHA256");
        Self { key }
    }

    /// The sealer for `purpose` under the base64url `master` key; `None` if it is not 32 bytes.
    pub fn from_b64u(master: &str, purpose: &str) -> Option<Self> {
        let raw = Zeroizing::new(b64u_decode(master)?);
        let bytes: &[u8; 32] = raw.as_slice().try_into().ok()?;
        Some(Self::new(bytes, purpose))
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        // Any key length is accepted by HMAC.
        let mut mac = HmacSha256::new_from_slice(self.key.as_slice()).expect("HMAC takes any key");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The seal of the value made of `parts`, base64url.
    pub fn seal(&self, parts: &[&[u8]]) -> String {
        b64u(&self.mac(parts).finalize().into_bytes())
    }

    /// Whether `seal` is the seal of `parts` (compared in constant time).
    pub fn verify(&self, parts: &[&[u8]], seal: &str) -> bool {
        let Some(tag) = b64u_decode(seal) else {
            return false;
        };
        self.mac(parts).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_binds_its_key_purpose_and_parts() {
        let s = Sealer::new(&[7; 32], "registry-log");
        let seal = s.seal(&[b"entry", b"42"]);
        assert!(s.verify(&[b"entry", b"42"], &seal));
        // Another value, another split of the same bytes, another purpose, another master key.
        assert!(!s.verify(&[b"entry", b"43"], &seal));
        assert!(!s.verify(&[b"entry4", b"2"], &seal));
        assert!(!Sealer::new(&[7; 32], "wallet").verify(&[b"entry", b"42"], &seal));
        assert!(!Sealer::new(&[8; 32], "registry-log").verify(&[b"entry", b"42"], &seal));
        assert!(!s.verify(&[b"entry", b"42"], "not base64url!"));
        assert!(!s.verify(&[b"entry", b"42"], ""));
        let m = agentid_spec::jose::b64u(&[7; 32]);
        let same = Sealer::from_b64u(&m, "registry-log").unwrap();
        assert!(same.verify(&[b"entry", b"42"], &seal));
        assert!(Sealer::from_b64u("c2hvcnQ", "registry-log").is_none());
    }
}
