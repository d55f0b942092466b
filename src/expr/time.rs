//! `time_delta_days(dt)` and `time_delta_seconds(dt)`: how far `dt` is from now (positive = future).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use jmespath::{Context, Rcvar, Variable};

use super::functions::{fail, null, Outcome};

/// Parses an ISO-8601 date or date-time (UTC unless it carries an offset) or Unix seconds.
pub fn parse_instant(v: &Variable) -> Option<Option<DateTime<Utc>>> {
    match v {
        Variable::Null => Some(None),
        Variable::Number(n) => {
            let secs = n.as_f64()?;
            DateTime::from_timestamp_millis((secs * 1000.0) as i64).map(Some)
        }
        Variable::String(s) => {
            let s = s.trim();
            if let Ok(secs) = s.parse::<f64>() {
                return DateTime::from_timestamp_millis((secs * 1000.0) as i64).map(Some);
            }
            if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
                return Some(Some(dt.with_timezone(&Utc)));
            }
            for format in [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M",
            ] {
                if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
                    return Some(Some(dt.and_utc()));
                }
            }
            let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            Some(Some(date.and_hms_opt(0, 0, 0)?.and_utc()))
        }
        _ => None,
    }
}

fn delta(args: &[Rcvar], ctx: &Context<'_>, name: &str, unit_secs: i64) -> Outcome {
    let Some(instant) = parse_instant(&args[0]) else {
        let message =
            format!("{name}: the argument must be an ISO-8601 date or date-time, or Unix seconds");
        return Err(fail(ctx, message));
    };
    let Some(instant) = instant else {
        return null();
    };
    let secs = (instant - Utc::now()).num_seconds() / unit_secs;
    Ok(Rcvar::new(Variable::Number(secs.into())))
}

/// `time_delta_days(dt)`: whole days from now to `dt`.
pub fn delta_days(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    delta(args, ctx, "time_delta_days", 86_400)
}

/// `time_delta_seconds(dt)`: whole seconds from now to `dt`.
pub fn delta_seconds(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    delta(args, ctx, "time_delta_seconds", 1)
}

#[cfg(test)]
mod tests {
    use super::super::jmes::JmesExpr;
    use chrono::{Duration, Utc};
    use serde_json::{json, Value};

    fn eval(expr: &str, rec: Value) -> Result<Value, String> {
        JmesExpr::compile(expr)
            .map_err(|e| e.to_string())?
            .eval(&rec)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn golden_time_deltas() {
        let now = Utc::now();
        let in_ten_days = (now + Duration::days(10) + Duration::hours(1)).to_rfc3339();
        let ago = (now - Duration::days(3) - Duration::hours(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let rec = json!({"f": in_ten_days, "p": ago, "u": now.timestamp() + 120, "n": null});
        assert_eq!(eval("time_delta_days(f)", rec.clone()), Ok(json!(10)));
        assert_eq!(eval("time_delta_days(p)", rec.clone()), Ok(json!(-3)));
        let secs = eval("time_delta_seconds(u)", rec.clone())
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((118..=120).contains(&secs), "{secs}");
        assert_eq!(
            eval("time_delta_days('1970-01-01') < `-19000`", rec.clone()),
            Ok(json!(true))
        );
        assert_eq!(eval("time_delta_days(n)", rec), Ok(Value::Null));
    }

    #[test]
    fn time_delta_errors() {
        let rec = json!({"s": "tomorrow-ish", "b": true});
        let e = eval("time_delta_days(s)", rec.clone()).unwrap_err();
        assert!(
            e.contains("time_delta_days: the argument must be an ISO-8601"),
            "{e}"
        );
        assert!(!e.contains("tomorrow-ish"));
        assert!(eval("time_delta_seconds(b)", rec)
            .unwrap_err()
            .contains("argument 1 must be string|number|null, not boolean"));
    }
}
