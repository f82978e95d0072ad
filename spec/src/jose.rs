//! Compact JWS with `alg` EdDSA (RFC 7515, RFC 8037), profiled by RFC 8725 (spec section 3).
//!
//! Parsing is strict: exactly three base64url parts without padding or non-canonical trailing
//! bits, a JSON header whose `alg` is `EdDSA` and that carries no `crit`, `jku`, `jwk`, `x5u` or
//! `x5c` (keys come from DID resolution, never from the token), an explicit `typ`, and a 64-byte
//! signature. A parsed token is not trusted: only [`CompactJws::verify`] with a resolved key
//! says the signature holds.

use std::borrow::Cow;

use base64_simd::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The only JWS algorithm agentid accepts (RFC 8037 section 3.1).
pub const ALG_EDDSA: &str = "EdDSA";

/// Why a compact JWS was refused before any signature check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// Structure, encoding or JSON is wrong.
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),
    /// The token is larger than the caller's limit.
    #[error("JWS larger than {0} bytes")]
    TooLarge(usize),
    /// `alg` is not `EdDSA`.
    #[error("unsupported JWS algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// `typ` is not the one the caller expects.
    #[error("unexpected JWS typ {found:?}, expected {expected:?}")]
    WrongType {
        /// What the header said.
        found: Option<String>,
        /// What the caller expected.
        expected: &'static str,
    },
}

/// The protected header of an agentid JWS: what a verifier may use of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoseHeader {
    /// Always `EdDSA`.
    pub alg: String,
    /// A DID URL naming the signing key's verification method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The media type of the whole token (RFC 8725 section 3.11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The media type of the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
}

impl JoseHeader {
    /// An EdDSA header with the given `typ`, `cty` and `kid`.
    pub fn eddsa(typ: &str, cty: Option<&str>, kid: &str) -> Self {
        Self {
            alg: ALG_EDDSA.to_owned(),
            kid: Some(kid.to_owned()),
            typ: Some(typ.to_owned()),
            cty: cty.map(str::to_owned),
        }
    }
}

/// The header as received: the members agentid refuses are only noted as present, whatever
/// their value (`"crit": null` is as present as `"crit": ["b64"]`).
#[derive(Deserialize)]
struct ReceivedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    cty: Option<String>,
    /// agentid defines no critical extensions.
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    /// Keys come from DID resolution, never from the token.
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// True for a member that is there at all, with any value.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// A parsed, not yet verified, compact JWS.
#[derive(Clone, Debug)]
pub struct CompactJws<'a> {
    /// The decoded protected header.
    pub header: JoseHeader,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
    /// The text holding the token, borrowed or owned, and where the signing input lies in it.
    text: Cow<'a, str>,
    signing_input: std::ops::Range<usize>,
    signature: Signature,
}

impl<'a> CompactJws<'a> {
    /// Parses `token`, refusing anything over `max_len` bytes and any `typ` but `expected_typ`.
    pub fn parse(
        token: &'a str,
        max_len: usize,
        expected_typ: &'static str,
    ) -> Result<Self, JoseError> {
        let parts = Self::parts(token, max_len, expected_typ)?;
        Ok(Self::assemble(Cow::Borrowed(token), 0, parts))
    }

    /// Parses the token that is `text[start..]`, keeping `text` rather than copying the token
    /// out of it (an enveloped credential inside a `data:` URL).
    pub fn parse_owned(
        text: String,
        start: usize,
        max_len: usize,
        expected_typ: &'static str,
    ) -> Result<CompactJws<'static>, JoseError> {
        let token = text
            .get(start..)
            .ok_or(JoseError::Malformed("no token at the given offset"))?;
        let parts = Self::parts(token, max_len, expected_typ)?;
        Ok(CompactJws::assemble(Cow::Owned(text), start, parts))
    }

    fn assemble(text: Cow<'a, str>, start: usize, parts: Parts) -> Self {
        Self {
            header: parts.header,
            payload: parts.payload,
            text,
            signing_input: start..start + parts.signing_input_len,
            signature: parts.signature,
        }
    }

    fn parts(token: &str, max_len: usize, expected_typ: &'static str) -> Result<Parts, JoseError> {
        if token.len() > max_len {
            return Err(JoseError::TooLarge(max_len));
        }
        let (signing_input, sig_b64) = token
            .rsplit_once('.')
            .ok_or(JoseError::Malformed("not three dot-separated parts"))?;
        let (header_b64, payload_b64) = signing_input
            .split_once('.')
            .ok_or(JoseError::Malformed("not three dot-separated parts"))?;
        let header_bytes = decode(header_b64)?;
        let received: ReceivedHeader = serde_json::from_slice(&header_bytes)
            .map_err(|_| JoseError::Malformed("header is not the expected JSON object"))?;
        if received.alg != ALG_EDDSA {
            return Err(JoseError::UnsupportedAlgorithm(
                received.alg.chars().take(32).collect(),
            ));
        }
        if received.crit {
            return Err(JoseError::UnsupportedAlgorithm("crit".to_owned()));
        }
        if received.jwk || received.jku || received.x5u || received.x5c {
            return Err(JoseError::Malformed(
                "embedded or remote keys are not accepted",
            ));
        }
        let header = JoseHeader {
            alg: received.alg,
            kid: received.kid,
            typ: received.typ,
            cty: received.cty,
        };
        if header.typ.as_deref() != Some(expected_typ) {
            return Err(JoseError::WrongType {
                found: header.typ.clone(),
                expected: expected_typ,
            });
        }
        // A dot in the payload fails its decoding (it is not in the base64url alphabet); the
        // payload, nearly all of a presentation, is scanned once, by the decoder.
        let payload = b64u_decode(payload_b64).ok_or_else(|| {
            JoseError::Malformed(if payload_b64.contains('.') {
                "not three dot-separated parts"
            } else {
                "invalid base64url"
            })
        })?;
        let sig_bytes: [u8; 64] = decode(sig_b64)?
            .try_into()
            .map_err(|_| JoseError::Malformed("signature is not 64 bytes"))?;
        Ok(Parts {
            header,
            payload,
            signing_input_len: signing_input.len(),
            signature: Signature::from_bytes(&sig_bytes),
        })
    }

    /// The JWS signing input, `BASE64URL(header) || '.' || BASE64URL(payload)`.
    pub fn signing_input(&self) -> &str {
        &self.text[self.signing_input.clone()]
    }

    /// The whole compact token as received.
    pub fn token(&self) -> &str {
        &self.text[self.signing_input.start..]
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Whether the signature verifies under `key` (RFC 8032 strict verification).
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        key.verify_strict(self.signing_input().as_bytes(), &self.signature)
            .is_ok()
    }
}

/// What parsing finds in a token.
struct Parts {
    header: JoseHeader,
    payload: Vec<u8>,
    signing_input_len: usize,
    signature: Signature,
}

/// Signs `payload` with `header` and returns the compact serialization.
pub fn sign_compact(header: &JoseHeader, payload: &[u8], key: &SigningKey) -> String {
    // Serialising a struct of strings to JSON cannot fail.
    let header_json = serde_json::to_vec(header).expect("header serialises");
    let mut out = b64u(&header_json);
    out.push('.');
    out.push_str(&b64u(payload));
    let sig = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&b64u(&sig.to_bytes()));
    out
}

fn decode(part: &str) -> Result<Vec<u8>, JoseError> {
    b64u_decode(part).ok_or(JoseError::Malformed("invalid base64url"))
}

/// base64url without padding (RFC 7515 section 2).
pub fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode_to_string(bytes)
}

/// Decodes base64url without padding, refusing padding and non-canonical trailing bits. SIMD:
/// decoding is the largest cost of verification after the signatures themselves.
pub fn b64u_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode_to_vec(s.as_bytes()).ok()
}

/// An Ed25519 public key as an OKP JWK (RFC 8037 section 2).
pub fn public_jwk(key: &VerifyingKey) -> serde_json::Value {
    serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": b64u(key.as_bytes()) })
}

/// RFC 7638 thumbprint of an Ed25519 public key, base64url.
pub fn jwk_thumbprint(key: &VerifyingKey) -> String {
    use sha2::{Digest, Sha256};
    let canonical = format!(
        "{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{}\"}}",
        b64u(key.as_bytes())
    );
    b64u(&Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc8037() -> serde_json::Value {
        let text = crate::external_vector("rfc8032-rfc8037-ed25519/rfc8037-appendix-A.json");
        serde_json::from_str(&text).unwrap()
    }

    fn key32(s: &serde_json::Value) -> [u8; 32] {
        b64u_decode(s.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    }

    /// RFC 8037 A.1-A.5: key derivation, thumbprint, byte-exact signature, verification.
    #[test]
    fn rfc8037_appendix_a() {
        let v = rfc8037();
        let sk = SigningKey::from_bytes(&key32(&v["A1_private_jwk"]["d"]));
        let pk = sk.verifying_key();
        assert_eq!(
            b64u(pk.as_bytes()),
            v["A1_private_jwk"]["x"].as_str().unwrap()
        );
        assert_eq!(public_jwk(&pk), {
            let mut j = v["A2_public_jwk"].clone();
            j.as_object_mut().unwrap().remove("kid");
            j
        });
        assert_eq!(
            jwk_thumbprint(&pk),
            v["A3_thumbprint"]["base64url"].as_str().unwrap()
        );

        // A.4: Ed25519 is deterministic, so our signature must equal the RFC's byte for byte.
        let payload = v["A4_sign"]["payload_utf8"].as_str().unwrap();
        let input = v["A4_sign"]["signing_input"].as_str().unwrap();
        let sig = sk.sign(input.as_bytes());
        assert_eq!(
            b64u(&sig.to_bytes()),
            v["A4_sign"]["signature_b64u"].as_str().unwrap()
        );
        assert_eq!(
            input,
            format!(
                "{}.{}",
                v["A4_sign"]["protected_b64u"].as_str().unwrap(),
                b64u(payload.as_bytes())
            )
        );

        // A.5: verification of the RFC's token. It has no typ, so check the signature directly.
        let jws = v["A5_verify"]["jws_compact"].as_str().unwrap();
        let (si, s) = jws.rsplit_once('.').unwrap();
        let sig = Signature::from_bytes(&b64u_decode(s).unwrap().try_into().unwrap());
        assert!(pk.verify_strict(si.as_bytes(), &sig).is_ok());
        // Our strict parser refuses it for its missing typ (RFC 8725 section 3.11).
        assert!(matches!(
            CompactJws::parse(jws, 4096, "vc+jwt"),
            Err(JoseError::WrongType { found: None, .. })
        ));
    }

    /// RFC 8032 section 7.1: seed -> public key, byte-exact deterministic signatures, and strict
    /// verification of each; a flipped message bit never verifies.
    #[test]
    fn rfc8032_section_7_1() {
        let v: serde_json::Value = serde_json::from_str(&crate::external_vector(
            "rfc8032-rfc8037-ed25519/rfc8032-section-7.1.json",
        ))
        .unwrap();
        let hex = |s: &serde_json::Value| -> Vec<u8> {
            let s = s.as_str().unwrap();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let cases = v["vectors"].as_array().unwrap();
        assert_eq!(cases.len(), 5);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let seed: [u8; 32] = hex(&case["secret_key_hex"]).try_into().unwrap();
            let sk = SigningKey::from_bytes(&seed);
            assert_eq!(
                sk.verifying_key().as_bytes().to_vec(),
                hex(&case["public_key_hex"]),
                "{name}"
            );
            let message = hex(&case["message_hex"]);
            let sig = sk.sign(&message);
            assert_eq!(
                sig.to_bytes().to_vec(),
                hex(&case["signature_hex"]),
                "{name}"
            );
            let pk = sk.verifying_key();
            assert!(pk.verify_strict(&message, &sig).is_ok(), "{name}");
            let mut other = message.clone();
            other.push(0);
            assert!(pk.verify_strict(&other, &sig).is_err(), "{name}");
        }
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64u_decode("AQ"), Some(vec![1]));
        assert_eq!(b64u_decode("AR"), None, "non-canonical trailing bits");
        assert_eq!(b64u_decode("AQ=="), None, "padding");
        assert_eq!(b64u_decode("A+"), None, "standard alphabet");
        assert_eq!(b64u_decode("A"), None, "impossible length");
        assert_eq!(b64u(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn parse_refuses_hostile_headers() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let ok = sign_compact(
            &JoseHeader::eddsa("vc+jwt", None, "did:key:z#z"),
            b"{}",
            &sk,
        );
        let parsed = CompactJws::parse(&ok, 4096, "vc+jwt").unwrap();
        assert!(parsed.verify(&sk.verifying_key()));
        let owned = CompactJws::parse_owned(format!("x,{ok}"), 2, 4096, "vc+jwt").unwrap();
        assert_eq!(owned.signing_input(), parsed.signing_input());
        assert!(owned.verify(&sk.verifying_key()));
        assert!(CompactJws::parse_owned(ok.clone(), ok.len() + 1, 4096, "vc+jwt").is_err());
        assert_eq!(
            CompactJws::parse(&ok, ok.len() - 1, "vc+jwt").unwrap_err(),
            JoseError::TooLarge(ok.len() - 1)
        );

        let forge = |header: &str| {
            let (_, rest) = ok.split_once('.').unwrap();
            format!("{}.{rest}", b64u(header.as_bytes()))
        };
        for (header, want) in [
            (r#"{"alg":"none","typ":"vc+jwt"}"#, "alg"),
            (r#"{"alg":"HS256","typ":"vc+jwt"}"#, "alg"),
            (r#"{"alg":"EdDSA","typ":"vc+jwt","crit":["b64"]}"#, "alg"),
            (r#"{"alg":"EdDSA","typ":"vc+jwt","jwk":{}}"#, "malformed"),
            (r#"{"alg":"EdDSA","typ":"vc+jwt","crit":null}"#, "alg"),
            (r#"{"alg":"EdDSA","typ":"vc+jwt","jwk":null}"#, "malformed"),
            (r#"{"alg":"EdDSA","typ":"vc+jwt","x5c":null}"#, "malformed"),
            (r#"{"alg":"EdDSA","typ":"vp+jwt"}"#, "typ"),
            (
                r#"{"alg":"EdDSA","alg":"EdDSA","typ":"vc+jwt"}"#,
                "malformed",
            ),
            (r#"[]"#, "malformed"),
        ] {
            let err = CompactJws::parse(&forge(header), 4096, "vc+jwt").unwrap_err();
            let kind = match err {
                JoseError::UnsupportedAlgorithm(_) => "alg",
                JoseError::WrongType { .. } => "typ",
                _ => "malformed",
            };
            assert_eq!(kind, want, "{header}");
        }
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            &format!("{ok}="),
            &ok.replace('.', ".."),
        ] {
            assert!(CompactJws::parse(bad, 4096, "vc+jwt").is_err(), "{bad}");
        }
        // A fourth part inside a well-formed token's payload is named as such.
        let (head, rest) = ok.split_once('.').unwrap();
        let four = format!("{head}.{}.{}", &rest[..4], &rest[4..]);
        assert!(matches!(
            CompactJws::parse(&four, 4096, "vc+jwt"),
            Err(JoseError::Malformed("not three dot-separated parts"))
        ));
    }
}
