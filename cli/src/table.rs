//! Plain-text tables and the small formatting helpers (durations, timestamps, progress bars).

use std::fmt::Write as _;

/// A table with a header row; columns are as wide as their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each ending in a newline; cells never hold newlines.
    pub fn render(&self) -> String {
        let cell = |row: &[String], i: usize| -> String {
            row.get(i)
                .map(|c| c.replace(['\n', '\r'], " "))
                .unwrap_or_default()
        };
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| cell(r, i).chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let c = cell(row, i);
                let _ = write!(line, "{c:<w$}  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Milliseconds for people: `0 ms`, `850 ms`, `12.3 s`, `4m05s`, `2h10m`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS` UTC; `-` for 0.
pub fn timestamp_ms(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A progress bar `[#####-----]  50%` of `width` cells; `done` is capped at `total`.
pub fn progress_bar(done: u64, total: u64, width: usize) -> String {
    let fraction = if total == 0 {
        0.0
    } else {
        (done.min(total) as f64) / (total as f64)
    };
    let filled = ((fraction * width as f64).round() as usize).min(width);
    format!(
        "[{}{}] {:>3}%",
        "#".repeat(filled),
        "-".repeat(width - filled),
        (fraction * 100.0).floor() as u64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let mut t = Table::new(&["JOB", "PENDING"]);
        t.row(vec!["employees".into(), "3".into()]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "JOB        PENDING\nemployees  3\nx\n");
    }

    #[test]
    fn newlines_in_cells_do_not_break_rows() {
        let mut t = Table::new(&["A"]);
        t.row(vec!["one\ntwo".into()]);
        assert_eq!(t.render(), "A\none two\n");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_ms(0), "0 ms");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(12_345), "12.3 s");
        assert_eq!(duration_ms(245_000), "4m05s");
        assert_eq!(duration_ms(7_800_000), "2h10m");
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp_ms(0), "-");
        assert_eq!(timestamp_ms(1_000), "1970-01-01 00:00:01");
        assert_eq!(timestamp_ms(1_709_251_200_000), "2024-03-01 00:00:00");
        assert_eq!(
            timestamp_ms(951_782_400_000 + 3_723_000),
            "2000-02-29 01:02:03"
        );
    }

    #[test]
    fn progress_bars_fill_and_cap() {
        assert_eq!(progress_bar(0, 10, 10), "[----------]   0%");
        assert_eq!(progress_bar(5, 10, 10), "[#####-----]  50%");
        assert_eq!(progress_bar(12, 10, 4), "[####] 100%");
        assert_eq!(progress_bar(3, 0, 4), "[----]   0%");
    }
}
