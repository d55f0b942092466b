//! Module settings: `CONFIG SET/GET rdi.*` and load arguments (`--loadmodule librdi.so pending-warning 50000`).

use std::sync::atomic::{AtomicI64, Ordering};

/// Default of `rdi.pending-warning`.
pub const PENDING_WARNING_DEFAULT: i64 = 1_000_000;
/// Bounds of `rdi.pending-warning` (0 turns the warning off).
pub const PENDING_WARNING_MIN: i64 = 0;
/// Upper bound of `rdi.pending-warning`.
pub const PENDING_WARNING_MAX: i64 = 1_000_000_000_000;

/// Default of `rdi.reset-scan-count`.
pub const RESET_SCAN_COUNT_DEFAULT: i64 = 200;
/// Lower bound of `rdi.reset-scan-count`.
pub const RESET_SCAN_COUNT_MIN: i64 = 1;
/// Upper bound of `rdi.reset-scan-count`.
pub const RESET_SCAN_COUNT_MAX: i64 = 100_000;

/// `rdi.pending-warning`: RDI.STATUS warns when a job without `max_pending` queues more changes.
pub static PENDING_WARNING: AtomicI64 = AtomicI64::new(PENDING_WARNING_DEFAULT);

/// `rdi.reset-scan-count`: the COUNT of each SCAN of `RDI.RESET`; a section under the server lock also
/// stops after its budget of work (`lock::SECTION_BUDGET`, up to 2 ms when handed over), whatever this
/// count.
pub static RESET_SCAN_COUNT: AtomicI64 = AtomicI64::new(RESET_SCAN_COUNT_DEFAULT);

/// The pending threshold that raises a warning, if any.
pub fn pending_warning() -> Option<u64> {
    u64::try_from(PENDING_WARNING.load(Ordering::Relaxed))
        .ok()
        .filter(|n| *n > 0)
}

/// The COUNT of each SCAN of a backfill.
pub fn reset_scan_count() -> String {
    RESET_SCAN_COUNT.load(Ordering::Relaxed).to_string()
}

/// The settings a load argument may name, with their bounds.
const BOUNDS: [(&str, i64, i64); 2] = [
    ("pending-warning", PENDING_WARNING_MIN, PENDING_WARNING_MAX),
    (
        "reset-scan-count",
        RESET_SCAN_COUNT_MIN,
        RESET_SCAN_COUNT_MAX,
    ),
];

/// Checks the load arguments (`<setting> <value>` pairs), which `redis-module` applies as the
/// settings' initial values without checking names, pairs or bounds: a misspelt name would be
/// ignored and an out-of-bounds value kept. The error says what to change.
pub fn check_load_args(args: &[String]) -> Result<(), String> {
    let names = || {
        BOUNDS
            .iter()
            .map(|(n, _, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for pair in args.chunks(2) {
        let name = pair[0].as_str();
        let Some((_, min, max)) = BOUNDS.iter().find(|(n, _, _)| *n == name) else {
            let hint = match name.strip_prefix("rdi.") {
                Some(short) if BOUNDS.iter().any(|(n, _, _)| *n == short) => {
                    format!("; write `{short}` (without `rdi.`)")
                }
                _ => format!("; the settings are {}", names()),
            };
            return Err(format!(
                "unknown setting `{name}` in the load arguments{hint}"
            ));
        };
        let Some(value) = pair.get(1) else {
            return Err(format!(
                "the load argument `{name}` has no value; write `{name} <value>`"
            ));
        };
        match value.parse::<i64>() {
            Ok(n) if (*min..=*max).contains(&n) => {}
            _ => {
                return Err(format!(
                "load argument `{name} {value}`: the value must be an integer from {min} to {max}"
            ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_load_args;

    fn check(args: &[&str]) -> Result<(), String> {
        check_load_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn load_arguments_are_pairs_of_known_settings_within_bounds() {
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(
            check(&["pending-warning", "0", "reset-scan-count", "100000"]),
            Ok(())
        );
        assert_eq!(
            check(&["reset-scan-count", "0"]),
            Err(
                "load argument `reset-scan-count 0`: the value must be an integer from 1 to 100000"
                    .into()
            )
        );
        assert_eq!(
            check(&["pending-warning", "-5"]),
            Err("load argument `pending-warning -5`: the value must be an integer from 0 to 1000000000000".into())
        );
        assert_eq!(
            check(&["pending-warning", "abc"]),
            Err("load argument `pending-warning abc`: the value must be an integer from 0 to 1000000000000".into())
        );
        assert_eq!(
            check(&["rdi.pending-warning", "5"]),
            Err("unknown setting `rdi.pending-warning` in the load arguments; write `pending-warning` (without `rdi.`)".into())
        );
        assert_eq!(
            check(&["pending-warnings", "5"]),
            Err("unknown setting `pending-warnings` in the load arguments; the settings are `pending-warning`, `reset-scan-count`".into())
        );
        assert_eq!(
            check(&["reset-scan-count"]),
            Err("the load argument `reset-scan-count` has no value; write `reset-scan-count <value>`".into())
        );
    }
}
