//! RFC 3339 timestamps (VC 2.0 `dateTimeStamp`) to and from Unix seconds.

use chrono::{DateTime, SecondsFormat, Utc};

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
}
