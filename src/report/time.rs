//! Times in reports: packet times (nanoseconds since the Unix epoch) written as RFC 3339 in
//! UTC with microseconds (`2026-12-02T07:10:00.123456Z`), the precision of a classic pcap.
//! Reading accepts any RFC 3339 UTC time. Truncating to microseconds keeps order, so the
//! earliest and latest of several reports are the same whether taken before or after.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 text of a packet time.
pub fn rfc3339(ns: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(ns - ns % 1_000);
    humantime::format_rfc3339_micros(t).to_string()
}

/// The packet time of RFC 3339 text.
pub fn parse(s: &str) -> Result<u64, String> {
    let t =
        humantime::parse_rfc3339(s).map_err(|e| format!("'{s}' is not an RFC 3339 time: {e}"))?;
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("'{s}' is before 1970"))?;
    u64::try_from(d.as_nanos()).map_err(|_| format!("'{s}' is too late"))
}

/// Latest time written for a certificate date (9999-12-31T23:59:59Z, X.509's "no expiry").
const MAX_CERT_TIME_S: i64 = 253_402_300_799;

/// RFC 3339 text of a certificate date (Unix seconds; dates before 1970 are written as
/// 1970-01-01T00:00:00Z, after 9999 as 9999-12-31T23:59:59Z).
pub fn rfc3339_s(secs: i64) -> String {
    let s = u64::try_from(secs.clamp(0, MAX_CERT_TIME_S)).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string()
}

/// The Unix seconds of a certificate date's RFC 3339 text.
pub fn parse_s(s: &str) -> Result<i64, String> {
    let ns = parse(s)?;
    i64::try_from(ns / 1_000_000_000).map_err(|_| format!("'{s}' is too late"))
}

/// Unix time now, in whole seconds (for names of files set aside).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `#[serde(with = "time::opt")]` for an `Option<u64>` of packet time (`None`: absent).
pub mod opt {
    use super::*;

    /// Writes the time as RFC 3339.
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ns) => s.serialize_str(&rfc3339(*ns)),
            None => s.serialize_none(),
        }
    }

    /// Reads an RFC 3339 time (or null).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The earlier of two optional times.
pub fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// The later of two optional times.
pub fn latest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_times_survive_their_text_to_the_microsecond() {
        let ns = 1_796_195_400_123_456_789;
        let s = rfc3339(ns);
        assert_eq!(s, "2026-12-02T07:10:00.123456Z");
        assert_eq!(parse(&s).unwrap(), ns - 789);
        assert!(parse("yesterday").is_err());
        assert_eq!(earliest(Some(3), None), Some(3));
        assert_eq!(earliest(Some(3), Some(2)), Some(2));
        assert_eq!(latest(None, Some(2)), Some(2));
        assert_eq!(rfc3339_s(1_577_836_800), "2020-01-01T00:00:00Z");
        assert_eq!(parse_s("2020-01-01T00:00:00Z").unwrap(), 1_577_836_800);
        assert_eq!(rfc3339_s(-5), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_s(i64::MAX), "9999-12-31T23:59:59Z");
    }
}
