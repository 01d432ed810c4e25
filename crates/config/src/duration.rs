//! Collector-style durations (`250ms`, `1.5s`, `1m30s`) and a serde helper for `Duration` fields.

use std::time::Duration;

/// Parses a Go-style duration: one or more `<number><unit>` parts with units `ns`, `us` (or
/// `µs`), `ms`, `s`, `m`, `h`; numbers may have a fraction (`1.5s`). A bare `0` is zero.
/// Negative durations are rejected: no lambdatel setting means anything by them.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration \"{s}\": {why}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid("it is empty; write e.g. \"5s\" or \"250ms\""));
    }
    if s.starts_with('-') {
        return Err(invalid("it must not be negative"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(invalid("a unit is missing; use ns, us, ms, s, m or h")),
            other => return Err(invalid(&format!("unknown unit \"{other}\"; use ns, us, ms, s, m or h"))),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(invalid(&format!("\"{number}\" is not a number")));
        }
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| invalid("it is too large"))? };
        // Exact fixed-point arithmetic on the fraction: avoids float rounding (e.g. 1.1s).
        let mut frac_nanos: u128 = 0;
        let mut scale = unit_nanos;
        for digit in frac.bytes().take(18) {
            scale /= 10;
            frac_nanos += u128::from(digit - b'0') * scale;
        }
        total_nanos = whole
            .checked_mul(unit_nanos)
            .and_then(|n| n.checked_add(frac_nanos))
            .and_then(|n| n.checked_add(total_nanos))
            .ok_or_else(|| invalid("it is too large"))?;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| invalid("it is too large"))?;
    Ok(Duration::new(secs, (total_nanos % 1_000_000_000) as u32))
}

/// Formats a duration the way [`parse_duration`] reads it back (`1.5s`, `250ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    const SEC: u128 = 1_000_000_000;
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0s".to_owned()
    } else if nanos >= SEC {
        match nanos % SEC {
            0 => format!("{}s", nanos / SEC),
            frac => {
                let frac = format!("{frac:09}");
                format!("{}.{}s", nanos / SEC, frac.trim_end_matches('0'))
            }
        }
    } else {
        // The largest unit that divides the duration exactly (sub-second values).
        let (size, unit) = [(1_000_000u128, "ms"), (1_000, "us"), (1, "ns")]
            .into_iter()
            .find(|(size, _)| nanos % size == 0)
            .unwrap_or((1, "ns"));
        format!("{}{unit}", nanos / size)
    }
}

/// Serde helpers for `Duration` fields: `#[serde(with = "lambdatel_config::duration_serde")]`.
///
/// Deserializes from a duration string (`"5s"`, `"250ms"`) or an unsigned integer number of
/// milliseconds; serializes as a duration string.
pub mod duration_serde {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Deserializes a duration string or an integer of milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    /// Serializes as a string that [`super::parse_duration`] accepts.
    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*d))
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"5s\" or \"250ms\", or an integer of milliseconds")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            super::parse_duration(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_millis(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_millis)
                .map_err(|_| E::custom(format!("invalid duration {v}: it must not be negative")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_collector_durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.1s"), Ok(Duration::from_millis(1100)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("500µs"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("+3s"), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn rejects_bad_durations() {
        assert_eq!(
            parse_duration(""),
            Err("invalid duration \"\": it is empty; write e.g. \"5s\" or \"250ms\"".into())
        );
        assert_eq!(
            parse_duration("5"),
            Err("invalid duration \"5\": a unit is missing; use ns, us, ms, s, m or h".into())
        );
        assert_eq!(
            parse_duration("5d"),
            Err("invalid duration \"5d\": unknown unit \"d\"; use ns, us, ms, s, m or h".into())
        );
        assert_eq!(parse_duration("-1s"), Err("invalid duration \"-1s\": it must not be negative".into()));
        assert_eq!(parse_duration("s"), Err("invalid duration \"s\": \"\" is not a number".into()));
        assert_eq!(parse_duration("1.2.3s"), Err("invalid duration \"1.2.3s\": \"1.2.3\" is not a number".into()));
        assert_eq!(
            parse_duration("99999999999999999999999h"),
            Err("invalid duration \"99999999999999999999999h\": it is too large".into())
        );
    }

    #[test]
    fn formats_round_trip() {
        for (d, text) in [
            (Duration::from_secs(5), "5s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_micros(500), "500us"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::from_nanos(1_500), "1500ns"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
    struct WithTimeout {
        #[serde(with = "duration_serde")]
        timeout: Duration,
    }

    #[test]
    fn serde_helper_accepts_strings_and_milliseconds() {
        let t: WithTimeout = serde_json::from_str(r#"{"timeout": "5s"}"#).unwrap();
        assert_eq!(t.timeout, Duration::from_secs(5));
        let t: WithTimeout = serde_json::from_str(r#"{"timeout": 250}"#).unwrap();
        assert_eq!(t.timeout, Duration::from_millis(250));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"timeout":"250ms"}"#);
        let e = serde_json::from_value::<WithTimeout>(json!({"timeout": "5x"})).unwrap_err();
        assert_eq!(e.to_string(), "invalid duration \"5x\": unknown unit \"x\"; use ns, us, ms, s, m or h");
        let e = serde_json::from_value::<WithTimeout>(json!({"timeout": -5})).unwrap_err();
        assert_eq!(e.to_string(), "invalid duration -5: it must not be negative");
        let e = serde_json::from_value::<WithTimeout>(json!({"timeout": true})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type: boolean `true`, expected a duration such as \"5s\" or \"250ms\", or an integer of milliseconds"
        );
    }
}
