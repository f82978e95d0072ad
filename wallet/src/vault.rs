//! Private keys at rest: sealed with XChaCha20-Poly1305 under a master key that never enters the
//! database. The associated data binds each sealed key to its owner's DID, so a sealed key copied
//! to another row does not open.

use agentid_sdk::keys::KeyPair;
use agentid_spec::jose::{b64u, b64u_decode};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Why the vault could not be opened or a key unsealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The master key is not 32 bytes of base64url.
    #[error("master key is not 32 bytes of base64url")]
    BadMasterKey,
    /// A sealed key failed authentication (wrong master key, or tampered).
    #[error("sealed key does not open")]
    Unseal,
}

/// Seals and unseals principals' keys.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

impl Vault {
    /// A vault under a 32-byte master key.
    pub fn new(master: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(master.into()),
        }
    }

    /// A fresh random master key, base64url, for its keeper to store (never in the database).
    pub fn generate_master_key() -> Zeroizing<String> {
        use chacha20poly1305::aead::rand_core::RngCore;
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut_slice());
        Zeroizing::new(b64u(key.as_slice()))
    }

    /// A vault from a base64url master key (from its file, or from the environment).
    pub fn from_b64u(s: &str) -> Result<Self, VaultError> {
        let raw = Zeroizing::new(b64u_decode(s).ok_or(VaultError::BadMasterKey)?);
        let bytes: &[u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::BadMasterKey)?;
        Ok(Self::new(bytes))
    }

    /// Seals `key` for `owner`: base64url(nonce || ciphertext).
    pub fn seal(&self, key: &KeyPair, owner: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let seed = key.seed();
        // Encryption into a Vec only fails on absurd lengths; a 32-byte seed is not one.
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: seed.as_slice(),
                    aad: owner.as_bytes(),
                },
            )
            .expect("seal 32 bytes");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        b64u(&out)
    }

    /// Unseals the key of `owner`.
    pub fn unseal(&self, sealed: &str, owner: &str) -> Result<KeyPair, VaultError> {
        let raw = b64u_decode(sealed).ok_or(VaultError::Unseal)?;
        if raw.len() != 24 + 32 + 16 {
            return Err(VaultError::Unseal);
        }
        let (nonce, ct) = raw.split_at(24);
        let seed = Zeroizing::new(
            self.cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: owner.as_bytes(),
                    },
                )
                .map_err(|_| VaultError::Unseal)?,
        );
        let seed: &[u8; 32] = seed.as_slice().try_into().map_err(|_| VaultError::Unseal)?;
        Ok(KeyPair::from_seed(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_binds_owner_and_master_key() {
        let v = Vault::new(&[9; 32]);
        let key = KeyPair::from_seed(&[3; 32]);
        let sealed = v.seal(&key, "did:key:alice");
        assert!(!sealed.contains(&b64u(&[3; 32])));
        assert_eq!(
            v.unseal(&sealed, "did:key:alice").unwrap().public(),
            key.public()
        );
        assert!(matches!(
            v.unseal(&sealed, "did:key:mallory"),
            Err(VaultError::Unseal)
        ));
        assert!(matches!(
            Vault::new(&[8; 32]).unseal(&sealed, "did:key:alice"),
            Err(VaultError::Unseal)
        ));
        assert!(matches!(
            v.unseal("AAAA", "did:key:alice"),
            Err(VaultError::Unseal)
        ));
        let master = Vault::generate_master_key();
        assert!(Vault::from_b64u(&master).is_ok());
        assert!(matches!(
            Vault::from_b64u("AAAA"),
            Err(VaultError::BadMasterKey)
        ));
    }
}
