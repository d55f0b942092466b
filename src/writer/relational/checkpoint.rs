//! The checkpoint table of SQL targets: the last queue position applied per stream, written in the same
//! transaction as each batch (applier.exactly_once).

/// Quotes a `table` or `schema.table` name with double quotes (PostgreSQL and SQLite).
pub fn quoted(table: &str) -> String {
    quoted_with(table, '"')
}

/// Quotes each part of a `table` or `schema.table` name with `quote`, doubling it inside.
fn quoted_with(table: &str, quote: char) -> String {
    let doubled = format!("{quote}{quote}");
    table
        .split('.')
        .map(|p| format!("{quote}{}{quote}", p.replace(quote, &doubled)))
        .collect::<Vec<_>>()
        .join(".")
}

/// `CREATE TABLE IF NOT EXISTS` for the checkpoint table.
pub fn create_sql(table: &str, timestamp_type: &str, now: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (stream TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at {timestamp_type} NOT NULL DEFAULT {now})",
        quoted(table)
    )
}

/// Reads one stream's position; `p1` is the dialect's first placeholder.
pub fn select_sql(table: &str, p1: &str) -> String {
    format!("SELECT position FROM {} WHERE stream = {p1}", quoted(table))
}

/// Records one stream's position.
pub fn upsert_sql(table: &str, p1: &str, p2: &str, now: &str) -> String {
    format!(
        "INSERT INTO {} (stream, position, updated_at) VALUES ({p1}, {p2}, {now}) \
         ON CONFLICT (stream) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
        quoted(table)
    )
}

/// MySQL and MariaDB: names in backquotes, a `VARCHAR` key (a `TEXT` column cannot be a key there),
/// an InnoDB table (the checkpoint must commit with the batch), `ON DUPLICATE KEY UPDATE`.
pub mod mysql {
    /// Longest stream name the table's key holds.
    pub const STREAM_CHARS: usize = 512;

    /// Quotes a `table` or `schema.table` name with backquotes.
    pub fn quoted(table: &str) -> String {
        super::quoted_with(table, '`')
    }

    /// `CREATE TABLE IF NOT EXISTS` for the checkpoint table.
    pub fn create_sql(table: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (stream VARCHAR({STREAM_CHARS}) NOT NULL PRIMARY KEY, \
             position VARCHAR(64) NOT NULL, \
             updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
            quoted(table)
        )
    }

    /// Reads one stream's position.
    pub fn select_sql(table: &str) -> String {
        format!("SELECT position FROM {} WHERE stream = ?", quoted(table))
    }

    /// Records one stream's position.
    pub fn upsert_sql(table: &str) -> String {
        format!(
            "INSERT INTO {} (stream, position, updated_at) VALUES (?, ?, CURRENT_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE position = VALUES(position), updated_at = VALUES(updated_at)",
            quoted(table)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_qualified_names_are_quoted_part_by_part() {
        assert_eq!(quoted("rdi_checkpoints"), "\"rdi_checkpoints\"");
        assert_eq!(quoted("ops.cp"), "\"ops\".\"cp\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
        assert_eq!(mysql::quoted("ops.c`p"), "`ops`.`c``p`");
    }

    #[test]
    fn statements_name_the_table_and_use_the_placeholders() {
        assert_eq!(
            select_sql("cp", "$1"),
            "SELECT position FROM \"cp\" WHERE stream = $1"
        );
        let up = upsert_sql("cp", "?1", "?2", "CURRENT_TIMESTAMP");
        assert!(up.starts_with(
            "INSERT INTO \"cp\" (stream, position, updated_at) VALUES (?1, ?2, CURRENT_TIMESTAMP)"
        ));
        assert!(up.ends_with("ON CONFLICT (stream) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at"));
        assert!(create_sql("cp", "timestamptz", "now()").contains("stream TEXT PRIMARY KEY"));
    }
}
