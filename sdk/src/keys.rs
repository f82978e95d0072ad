//! Ed25519 keys held by agents and principals, as OKP JWKs (RFC 8037 section 2).

use agentid_spec::id::DidKey;
use agentid_spec::jose::{b64u, b64u_decode};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A private Ed25519 key. Its secret never appears in `Debug` output or errors.
pub struct KeyPair(SigningKey);

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("did", &self.did_key().as_str())
            .finish_non_exhaustive()
    }
}

/// Why a key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a private OKP Ed25519 JWK.
    #[error("not a private Ed25519 OKP JWK")]
    NotEd25519Jwk,
    /// `x` does not match `d`.
    #[error("public key does not match private key")]
    Mismatch,
}

#[derive(Serialize, Deserialize)]
struct PrivateJwk {
    kty: String,
    crv: String,
    x: String,
    d: String,
}

impl KeyPair {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// The key with this 32-byte seed (for deterministic tests and vectors).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The seed, for encrypting at rest. Zeroized when dropped.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The public key.
    pub fn public(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The `did:key` of the public key.
    pub fn did_key(&self) -> DidKey {
        DidKey::from_public_key(&self.public())
    }

    /// The private JWK `{"kty":"OKP","crv":"Ed25519","x":..,"d":..}`.
    pub fn to_private_jwk(&self) -> Zeroizing<String> {
        let jwk = PrivateJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: b64u(self.public().as_bytes()),
            d: b64u(&self.0.to_bytes()),
        };
        Zeroizing::new(serde_json::to_string_pretty(&jwk).expect("strings serialise"))
    }

    /// Reads a private JWK, checking that `x` matches `d`.
    pub fn from_private_jwk(json: &str) -> Result<Self, KeyError> {
        let jwk: PrivateJwk = serde_json::from_str(json).map_err(|_| KeyError::NotEd25519Jwk)?;
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(KeyError::NotEd25519Jwk);
        }
        let d = Zeroizing::new(b64u_decode(&jwk.d).ok_or(KeyError::NotEd25519Jwk)?);
        let seed: &[u8; 32] = d
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::NotEd25519Jwk)?;
        let key = Self::from_seed(seed);
        if b64u(key.public().as_bytes()) != jwk.x {
            return Err(KeyError::Mismatch);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwk_roundtrip_and_checks() {
        let k = KeyPair::from_seed(&[1; 32]);
        let jwk = k.to_private_jwk();
        let back = KeyPair::from_private_jwk(&jwk).unwrap();
        assert_eq!(back.public(), k.public());
        assert!(!format!("{k:?}").contains(&b64u(&[1; 32])));
        let other = KeyPair::from_seed(&[2; 32]);
        let mixed = jwk.replace(
            &b64u(k.public().as_bytes()),
            &b64u(other.public().as_bytes()),
        );
        assert_eq!(
            KeyPair::from_private_jwk(&mixed).unwrap_err(),
            KeyError::Mismatch
        );
        assert_eq!(
            KeyPair::from_private_jwk("{}").unwrap_err(),
            KeyError::NotEd25519Jwk
        );
    }
}
