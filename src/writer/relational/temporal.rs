//! Dates and times: the text forms and Unix seconds accepted for timestamp, date and time columns.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::Value;

use super::convert::Why;

/// Timestamps: RFC 3339, `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` (UTC), `YYYY-MM-DD` (midnight), PostgreSQL's
/// `...+00` offsets, ISO 8601's basic forms `YYYYMMDD` and `YYYYMMDDTHHMMSS[Z]`, and Unix seconds (a
/// number, or a digit string of at least 9 digits: a shorter one is more likely a date or a year than a
/// second of 1970-1973, and is refused rather than written as one).
pub(super) fn to_instant(value: &Value) -> Result<DateTime<Utc>, Why> {
    let instant = match value {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(secs), _) => DateTime::from_timestamp(secs, 0),
            (None, Some(f)) if f.is_finite() && f.abs() < 1e15 => {
                let secs = f.floor();
                DateTime::from_timestamp(
                    secs as i64,
                    ((f - secs) * 1e9).round().min(999_999_999.0) as u32,
                )
            }
            _ => None,
        }
        .ok_or("out of range")?,
        Value::String(s) => parse_instant(s.trim()).ok_or("not a timestamp")?,
        _ => return Err("not a timestamp"),
    };
    check_year(instant.year())?;
    Ok(instant)
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // ISO 8601 allows the seconds to be left out (`2024-05-01T10:30`, what an HTML datetime-local
    // input gives).
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M%#z",
        "%Y-%m-%dT%H:%M%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_time(NaiveTime::MIN).and_utc());
    }
    for format in ["%Y%m%dT%H%M%S%.f", "%Y%m%dT%H%M%S%.fZ"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y%m%dT%H%M%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() == 8 {
            return NaiveDate::parse_from_str(s, "%Y%m%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN).and_utc());
        }
        if digits.len() >= 9 {
            return DateTime::from_timestamp(s.parse().ok()?, 0);
        }
    }
    None
}

/// Years outside 1..=9999 have no common text form across databases (PostgreSQL writes `BC`).
fn check_year(year: i32) -> Result<(), Why> {
    if (1..=9999).contains(&year) {
        Ok(())
    } else {
        Err("out of range (years 1 to 9999)")
    }
}

/// Dates: `YYYY-MM-DD`, `YYYYMMDD`, or a timestamp's date as written (its own offset, as PostgreSQL
/// and MySQL cast one to a date: `2024-01-02T23:00:00-05:00` is 2 January).
pub(super) fn to_date(value: &Value) -> Result<NaiveDate, Why> {
    let Value::String(s) = value else {
        return Err("not a date");
    };
    let date = parse_date(s.trim()).ok_or("not a date")?;
    check_year(date.year())?;
    Ok(date)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if s.len() == 8 {
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    // The date part of a valid timestamp written with its date first.
    match (s.get(..10), s.get(10..11)) {
        (Some(day), Some("T" | " ")) if parse_instant(s).is_some() => {
            NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
        }
        _ => None,
    }
}

pub(super) fn to_time(value: &Value) -> Result<NaiveTime, Why> {
    let Value::String(s) = value else {
        return Err("not a time of day");
    };
    let s = s.trim();
    NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .map_err(|_| "not a time of day")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::writer::relational::convert::tests::{accepts, refuses};
    use crate::writer::relational::convert::{ColumnKind, SqlValue};
    use serde_json::json;

    #[test]
    fn timestamps_accept_rfc3339_plain_forms_and_unix_seconds() {
        let want = DateTime::parse_from_rfc3339("2024-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let forms = [
            "2024-01-02T03:04:05Z",
            "2024-01-02T05:04:05+02:00",
            "2024-01-02 03:04:05",
            "2024-01-02T03:04:05",
            "2024-01-02 03:04:05+00",
            "1704164645",
            "20240102T030405Z",
            "20240102T050405+0200",
        ];
        let mut cases = forms
            .map(|s| (json!(s), SqlValue::TimestampTz(want)))
            .to_vec();
        cases.push((json!(1704164645), SqlValue::TimestampTz(want)));
        accepts(ColumnKind::TimestampTz, &cases);
        let naive = |s: &str| {
            SqlValue::Timestamp(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap())
        };
        accepts(
            ColumnKind::Timestamp,
            &[
                (
                    json!("2024-01-02T05:04:05+02:00"),
                    naive("2024-01-02 03:04:05"),
                ),
                (
                    json!("2024-01-02 03:04:05.25"),
                    naive("2024-01-02 03:04:05.25"),
                ),
                (json!("2024-01-02"), naive("2024-01-02 00:00:00")),
                (json!("2024-01-02T03:04"), naive("2024-01-02 03:04:00")),
                (json!("2024-01-02 03:04"), naive("2024-01-02 03:04:00")),
                (
                    json!("2024-01-02T05:04+02:00"),
                    naive("2024-01-02 03:04:00"),
                ),
                (json!("20240102"), naive("2024-01-02 00:00:00")),
                (json!("20240102T030405"), naive("2024-01-02 03:04:05")),
                (json!(1.5), naive("1970-01-01 00:00:01.5")),
            ],
        );
        // A short digit string is not taken for seconds of 1970.
        refuses(
            ColumnKind::Timestamp,
            &[
                json!("yesterday"),
                json!("2024-13-01"),
                json!("2024-01-02T03"),
                json!("2024-01-02T25:00"),
                json!(true),
                json!("-99999999999999"),
                json!("2024"),
                json!("20241301"),
                json!("1234567"),
            ],
        );
    }

    #[test]
    fn dates_and_times() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        accepts(
            ColumnKind::Date,
            &[
                (json!("2024-02-29"), SqlValue::Date(d)),
                (json!("20240229"), SqlValue::Date(d)),
                (json!("2024-02-29T23:30:00-05:00"), SqlValue::Date(d)),
                (json!("2024-02-29 10:00:00"), SqlValue::Date(d)),
            ],
        );
        refuses(
            ColumnKind::Date,
            &[
                json!("2023-02-29"),
                json!(20240229),
                json!("0000-01-01"),
                json!("2024-02-29Tnonsense"),
            ],
        );
        let t = SqlValue::Time(NaiveTime::from_hms_opt(13, 5, 0).unwrap());
        accepts(
            ColumnKind::Time,
            &[(json!("13:05"), t.clone()), (json!("13:05:00"), t)],
        );
        refuses(ColumnKind::Time, &[json!("25:00"), json!(1300)]);
    }
}
