//! Key files: an agent's (or a self-custodial principal's) private key on its owner's disk, as a
//! JWE (RFC 7516, compact) whose payload is the private JWK, encrypted under a passphrase with
//! `PBES2-HS512+A256KW` (RFC 7518 section 4.8, 210,000 PBKDF2 iterations) and `A256GCM`. Any
//! JOSE library opens it with the passphrase. A plaintext JWK file is only ever written when its
//! owner asks for one by name (`--unencrypted`).

use agentid_sdk::keys::KeyPair;
use josekit::jwe::{JweHeader, PBES2_HS512_A256KW};
use zeroize::Zeroizing;

/// PBKDF2 iterations (OWASP's figure for PBKDF2-HMAC-SHA512).
pub const ITERATIONS: usize = 210_000;
/// `cty` of the JWE payload.
const CONTENT_TYPE: &str = "jwk+json";

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file is encrypted and no passphrase was given.
    #[error("the key file is encrypted: set AGENTID_KEY_PASSPHRASE")]
    NeedsPassphrase,
    /// The passphrase does not open the file (or the file was altered).
    #[error("wrong passphrase, or the key file was altered")]
    WrongPassphrase,
    /// Neither an encrypted key file nor a private Ed25519 JWK.
    #[error("not an agentid key file: {0}")]
    Invalid(String),
    /// The JOSE library failed to encrypt.
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// Encrypts `key` under `passphrase`.
pub fn seal(key: &KeyPair, passphrase: &str) -> Result<String, KeyFileError> {
    if passphrase.is_empty() {
        return Err(KeyFileError::NeedsPassphrase);
    }
    let mut encrypter = PBES2_HS512_A256KW
        .encrypter_from_bytes(passphrase.as_bytes())
        .map_err(|e| KeyFileError::Encrypt(e.to_string()))?;
    encrypter.set_iter_count(ITERATIONS);
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type(CONTENT_TYPE);
    header.set_key_id(key.did_key().key_id());
    let jwk = key.to_private_jwk();
    josekit::jwe::serialize_compact(jwk.as_bytes(), &header, &encrypter)
        .map_err(|e| KeyFileError::Encrypt(e.to_string()))
}

/// Reads a key file: an encrypted one with `passphrase`, or a plaintext private JWK.
pub fn open(text: &str, passphrase: Option<&str>) -> Result<KeyPair, KeyFileError> {
    let text = text.trim();
    if text.starts_with('{') {
        return KeyPair::from_private_jwk(text).map_err(|e| KeyFileError::Invalid(e.to_string()));
    }
    if text.split('.').count() != 5 {
        return Err(KeyFileError::Invalid("neither a JWE nor a JWK".into()));
    }
    let passphrase = passphrase
        .filter(|p| !p.is_empty())
        .ok_or(KeyFileError::NeedsPassphrase)?;
    let decrypter = PBES2_HS512_A256KW
        .decrypter_from_bytes(passphrase.as_bytes())
        .map_err(|e| KeyFileError::Invalid(e.to_string()))?;
    let (jwk, header) = josekit::jwe::deserialize_compact(text, &decrypter)
        .map_err(|_| KeyFileError::WrongPassphrase)?;
    let jwk = Zeroizing::new(jwk);
    if header.content_type() != Some(CONTENT_TYPE) {
        return Err(KeyFileError::Invalid("payload is not a JWK".into()));
    }
    let text = std::str::from_utf8(&jwk)
        .map_err(|_| KeyFileError::Invalid("payload is not UTF-8".into()))?;
    KeyPair::from_private_jwk(text).map_err(|e| KeyFileError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = KeyPair::from_seed(&[5; 32]);
        let sealed = seal(&key, "correct horse").unwrap();
        assert_eq!(sealed.split('.').count(), 5);
        assert!(!sealed.contains(&agentid_spec::jose::b64u(&[5; 32])));
        assert_eq!(
            open(&sealed, Some("correct horse")).unwrap().public(),
            key.public()
        );
        assert!(matches!(
            open(&sealed, Some("wrong")),
            Err(KeyFileError::WrongPassphrase)
        ));
        assert!(matches!(
            open(&sealed, None),
            Err(KeyFileError::NeedsPassphrase)
        ));
        assert!(matches!(
            open(&sealed, Some("")),
            Err(KeyFileError::NeedsPassphrase)
        ));
        assert!(matches!(seal(&key, ""), Err(KeyFileError::NeedsPassphrase)));
        // A plaintext JWK written on request still opens.
        assert_eq!(
            open(&key.to_private_jwk(), None).unwrap().public(),
            key.public()
        );
        assert!(matches!(
            open("garbage", Some("x")),
            Err(KeyFileError::Invalid(_))
        ));
        // The header says how it was sealed.
        let header: serde_json::Value = serde_json::from_slice(
            &agentid_spec::jose::b64u_decode(sealed.split('.').next().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "PBES2-HS512+A256KW");
        assert_eq!(header["enc"], "A256GCM");
        assert_eq!(header["p2c"], ITERATIONS);
    }
}
