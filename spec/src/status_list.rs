//! W3C Bitstring Status List v1.0 (spec section 6.3): the bitstring, its `encodedList` form and the
//! status list credential.
//!
//! `encodedList` is `u` + base64url-no-pad(GZIP(bitstring)); bit 0 is the most significant bit of
//! byte 0 (Bitstring Status List section 3.2).

use std::io::{Read, Write};

use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use serde::{Deserialize, Serialize};

use crate::id::Did;
use crate::jose::{b64u, b64u_decode};
use crate::time::Timestamp;

/// The smallest list the specification allows: 16 KiB, 131,072 entries (herd privacy).
pub const MIN_BITS: usize = 131_072;
/// The largest decoded list agentid accepts (2 MiB, 16,777,216 entries): a GZIP bomb stops here.
pub const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Why an `encodedList` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusListError {
    /// Not `u` + base64url.
    #[error("encodedList is not multibase base64url")]
    Encoding,
    /// Not valid GZIP.
    #[error("encodedList is not valid GZIP")]
    Gzip,
    /// Decompresses past [`MAX_BYTES`].
    #[error("decoded status list exceeds {MAX_BYTES} bytes")]
    TooLarge,
}

/// A bitstring of statuses, one bit per credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitstring(Vec<u8>);

impl Bitstring {
    /// A cleared list of `bits` entries, rounded up to whole bytes.
    pub fn new(bits: usize) -> Self {
        Self(vec![0; bits.div_ceil(8)])
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len() * 8
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The status at `index`; `None` past the end.
    pub fn get(&self, index: usize) -> Option<bool> {
        let byte = self.0.get(index / 8)?;
        Some(byte & (0x80 >> (index % 8)) != 0)
    }

    /// Sets the status at `index`; returns false past the end.
    pub fn set(&mut self, index: usize, value: bool) -> bool {
        let Some(byte) = self.0.get_mut(index / 8) else {
            return false;
        };
        let mask = 0x80 >> (index % 8);
        if value {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
        true
    }

    /// Indices of set bits, in order.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).filter(|&i| self.get(i) == Some(true))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The list from raw bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// `u` + base64url(GZIP(bytes)).
    pub fn encode(&self) -> String {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        // Writing into a Vec cannot fail.
        gz.write_all(&self.0).expect("write to Vec");
        let compressed = gz.finish().expect("write to Vec");
        format!("u{}", b64u(&compressed))
    }

    /// Decodes an `encodedList`, refusing lists that decompress past [`MAX_BYTES`].
    pub fn decode(encoded: &str) -> Result<Self, StatusListError> {
        let b64 = encoded.strip_prefix('u').ok_or(StatusListError::Encoding)?;
        let compressed = b64u_decode(b64).ok_or(StatusListError::Encoding)?;
        let mut out = Vec::new();
        GzDecoder::new(compressed.as_slice())
            .take(MAX_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| StatusListError::Gzip)?;
        if out.len() > MAX_BYTES {
            return Err(StatusListError::TooLarge);
        }
        Ok(Self(out))
    }
}

/// `credentialStatus` of a delegation credential (Bitstring Status List section 2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BitstringStatusListEntry {
    /// `<statusListCredential>#<index>`.
    pub id: String,
    /// Always `BitstringStatusListEntry`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Always `revocation` in this version.
    pub status_purpose: String,
    /// The bit index, as a decimal string.
    pub status_list_index: String,
    /// URL of the status list credential.
    pub status_list_credential: String,
}

impl BitstringStatusListEntry {
    /// The revocation entry for bit `index` of the list served at `list_url`.
    pub fn revocation(list_url: &str, index: usize) -> Self {
        Self {
            id: format!("{list_url}#{index}"),
            type_: "BitstringStatusListEntry".to_owned(),
            status_purpose: "revocation".to_owned(),
            status_list_index: index.to_string(),
            status_list_credential: list_url.to_owned(),
        }
    }

    /// The parsed bit index, if it is a canonical decimal within bounds.
    pub fn index(&self) -> Option<usize> {
        let s = &self.status_list_index;
        if s.is_empty() || s.len() > 9 || (s.len() > 1 && s.starts_with('0')) {
            return None;
        }
        s.parse().ok().filter(|&i: &usize| i < MAX_BYTES * 8)
    }
}

/// The `credentialSubject` of a status list credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BitstringStatusList {
    /// `<credential id>#list`.
    pub id: String,
    /// Always `BitstringStatusList`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Always `revocation` in this version.
    pub status_purpose: String,
    /// The encoded bitstring.
    pub encoded_list: String,
    /// Suggested cache lifetime in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// A `BitstringStatusListCredential` (section 2.2), the payload of a `vc+jwt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BitstringStatusListCredential {
    /// JSON-LD contexts; the first is the VC 2.0 context.
    #[serde(rename = "@context")]
    pub context: Vec<String>,
    /// The URL it is served at.
    pub id: String,
    /// `["VerifiableCredential", "BitstringStatusListCredential"]`.
    #[serde(rename = "type")]
    pub type_: Vec<String>,
    /// The DID of the issuer of the credentials it covers.
    pub issuer: Did,
    /// When this version of the list was issued.
    pub valid_from: Timestamp,
    /// After this the list must be fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    /// The list.
    pub credential_subject: BitstringStatusList,
}

impl BitstringStatusListCredential {
    /// The revocation list served at `url` by `issuer`, holding `bits`, issued at `valid_from`
    /// and to be fetched again after `valid_until`; `ttl_ms` is the suggested cache lifetime. The
    /// one constructor: the wallet, the vectors and the benches all build status lists here.
    pub fn revocation(
        url: &str,
        issuer: Did,
        bits: &Bitstring,
        valid_from: Timestamp,
        valid_until: Option<Timestamp>,
        ttl_ms: Option<u64>,
    ) -> Self {
        Self {
            context: vec![crate::credential::VC_CONTEXT_V2.to_owned()],
            id: url.to_owned(),
            type_: vec![
                "VerifiableCredential".to_owned(),
                "BitstringStatusListCredential".to_owned(),
            ],
            issuer,
            valid_from,
            valid_until,
            credential_subject: BitstringStatusList {
                id: format!("{url}#list"),
                type_: "BitstringStatusList".to_owned(),
                status_purpose: "revocation".to_owned(),
                encoded_list: bits.encode(),
                ttl: ttl_ms,
            },
        }
    }
}

/// The media type of a signed status list credential.
pub const STATUS_LIST_TYP: &str = "vc+jwt";

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        let text = crate::external_vector("w3c-vc-bitstring-status-list/encodedList-vectors.json");
        serde_json::from_str(&text).unwrap()
    }

    /// Every upstream `encodedList` decodes to the documented length and MSB-first set bits, and
    /// re-encoding ours decodes back to the same bits (GZIP bytes differ between encoders).
    #[test]
    fn w3c_encoded_list_vectors() {
        let v = vectors();
        let lists = v["status_lists"].as_array().unwrap();
        assert!(lists.len() >= 4);
        for case in lists {
            let name = case["name"].as_str().unwrap();
            let list = Bitstring::decode(case["encodedList"].as_str().unwrap()).unwrap();
            let want_len = case["computed"]["length_bits"].as_u64().unwrap() as usize;
            assert_eq!(list.len(), want_len, "{name}");
            let want: Vec<usize> = case["computed"]["set_bit_indices_msb_first"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(list.ones().collect::<Vec<_>>(), want, "{name}");
            assert_eq!(Bitstring::decode(&list.encode()).unwrap(), list, "{name}");
        }
    }

    #[test]
    fn set_get_and_edges() {
        let mut l = Bitstring::new(MIN_BITS);
        assert_eq!(l.len(), MIN_BITS);
        assert!(l.set(0, true) && l.set(MIN_BITS - 1, true));
        assert!(!l.set(MIN_BITS, true));
        assert_eq!(
            l.as_bytes()[0],
            0x80,
            "bit 0 is the most significant bit of byte 0"
        );
        assert_eq!(l.get(MIN_BITS), None);
        assert_eq!(l.ones().collect::<Vec<_>>(), vec![0, MIN_BITS - 1]);
        let back = Bitstring::decode(&l.encode()).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn refuses_bombs_and_garbage() {
        let at_limit = Bitstring::new(MAX_BYTES * 8);
        assert_eq!(
            Bitstring::decode(&at_limit.encode()).unwrap().len(),
            MAX_BYTES * 8
        );
        let over = Bitstring::new(MAX_BYTES * 8 + 8);
        assert_eq!(
            Bitstring::decode(&over.encode()),
            Err(StatusListError::TooLarge)
        );
        assert_eq!(Bitstring::decode("H4sI"), Err(StatusListError::Encoding));
        assert_eq!(Bitstring::decode("u!!"), Err(StatusListError::Encoding));
        assert_eq!(Bitstring::decode("uAAAA"), Err(StatusListError::Gzip));
    }

    #[test]
    fn entry_index_is_canonical() {
        let mut e = BitstringStatusListEntry::revocation("x", 94567);
        assert_eq!(e.id, "x#94567");
        assert_eq!(e.index(), Some(94567));
        for bad in ["", "01", "-1", "1e3", "99999999999", " 1"] {
            e.status_list_index = bad.into();
            assert_eq!(e.index(), None, "{bad}");
        }
    }
}
