//! Time on the wire: RFC 3339 timestamps (VC 2.0 `dateTimeStamp`) and Unix seconds.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The latest instant agentid represents: 9999-12-31T23:59:59Z. Later times cannot be written in
/// RFC 3339's four-digit years, and bounding them keeps arithmetic on them far from overflow.
pub const MAX_UNIX: i64 = 253_402_300_799;

/// Parses an RFC 3339 timestamp with a time zone into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if s.len() > 40 {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An instant between 1970-01-01T00:00:00Z and [`MAX_UNIX`], whole seconds. On the wire it is an
/// RFC 3339 string with a time zone (read in any offset, written in UTC with `Z`); a value that
/// exists is in range, so adding a bounded duration to it cannot overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct Timestamp(i64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time with a zone, between 1970 and 9999")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Timestamp, E> {
                Timestamp::parse(s).ok_or_else(|| E::custom(RANGE_MESSAGE))
            }
        }
        d.deserialize_str(Visitor)
    }
}

const RANGE_MESSAGE: &str = "expected an RFC 3339 time with a zone, between 1970 and 9999";

impl Timestamp {
    /// The instant `secs` after the Unix epoch, if within range.
    pub fn from_unix(secs: i64) -> Option<Self> {
        (0..=MAX_UNIX).contains(&secs).then_some(Self(secs))
    }

    /// Parses an RFC 3339 timestamp.
    pub fn parse(s: &str) -> Option<Self> {
        parse_rfc3339(s).and_then(Self::from_unix)
    }

    /// Unix seconds.
    pub fn unix(self) -> i64 {
        self.0
    }
}

impl TryFrom<String> for Timestamp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| RANGE_MESSAGE.to_owned())
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        format_rfc3339(t.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rfc3339(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects() {
        assert_eq!(parse_rfc3339("2026-11-21T10:00:00Z"), Some(1_795_255_200));
        assert_eq!(format_rfc3339(1_795_255_200), "2026-11-21T10:00:00Z");
        assert_eq!(
            parse_rfc3339("2026-11-21T11:00:00+01:00"),
            Some(1_795_255_200)
        );
        for bad in ["", "2026-11-21", "2026-11-21T10:00:00", "yesterday"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_bounded() {
        let t = Timestamp::parse("2026-11-21T11:00:00+01:00").unwrap();
        assert_eq!(t.unix(), 1_795_255_200);
        assert_eq!(String::from(t), "2026-11-21T10:00:00Z");
        assert_eq!(
            Timestamp::from_unix(MAX_UNIX).unwrap().to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert!(Timestamp::from_unix(MAX_UNIX + 1).is_none());
        assert!(Timestamp::from_unix(-1).is_none());
        assert!(Timestamp::parse("1969-12-31T23:59:59Z").is_none());
        assert!(serde_json::from_str::<Timestamp>("\"tomorrow\"").is_err());
        assert_eq!(
            serde_json::to_string(&Timestamp::from_unix(0).unwrap()).unwrap(),
            "\"1970-01-01T00:00:00Z\""
        );
    }
}

/// Serde for Unix seconds written as RFC 3339 (`#[serde(with = "agentid_spec::time::unix_as_rfc3339")]`).
pub mod unix_as_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `secs` as RFC 3339.
    pub fn serialize<S: Serializer>(secs: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(*secs))
    }

    /// Reads RFC 3339 into Unix seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_rfc3339(&s).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 time"))
    }
}
