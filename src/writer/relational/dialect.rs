//! SQL generation: quoting, placeholders, upsert and delete statements, one dialect per database.
//!
//! PostgreSQL and SQLite share the `INSERT ... ON CONFLICT` upsert form, so the statements are default
//! methods and each database supplies only what differs (its placeholders); MySQL overrides the upsert.

use super::convert::Column;
use super::table::TableSchema;

/// How one database spells the statements the writers run.
pub trait Dialect {
    /// Quotes an identifier, doubling embedded quotes.
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// The placeholder of the 1-based parameter `index`, bound for `column`.
    fn placeholder(&self, index: usize, column: &Column) -> String;

    /// `"schema"."table"` or `"table"`.
    fn table_name(&self, table: &TableSchema) -> String {
        match &table.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(&table.table)),
            None => self.quote(&table.table),
        }
    }

    /// `INSERT ... ON CONFLICT (keys) DO UPDATE SET c = excluded.c`, binding every column in order.
    /// When every column is a key there is nothing to update: `DO NOTHING`. Without keys: a plain
    /// insert (an append-only target).
    fn upsert_sql(&self, table: &TableSchema) -> String {
        let mut sql = self.insert_sql(table);
        if table.keys == 0 {
            return sql;
        }
        let names: Vec<String> = table.columns.iter().map(|c| self.quote(&c.name)).collect();
        sql.push_str(&format!(
            " ON CONFLICT ({})",
            names[..table.keys].join(", ")
        ));
        if table.keys == names.len() {
            sql.push_str(" DO NOTHING");
        } else {
            let sets: Vec<String> = names[table.keys..]
                .iter()
                .map(|n| format!("{n} = excluded.{n}"))
                .collect();
            sql.push_str(&format!(" DO UPDATE SET {}", sets.join(", ")));
        }
        sql
    }

    /// `INSERT INTO t (...) VALUES (...)`: a new row every time (`load_strategy: APPEND`).
    fn insert_sql(&self, table: &TableSchema) -> String {
        let names: Vec<String> = table.columns.iter().map(|c| self.quote(&c.name)).collect();
        let values: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| self.placeholder(i + 1, c))
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.table_name(table),
            names.join(", "),
            values.join(", ")
        )
    }

    /// `DELETE FROM t WHERE k1 = ? AND ...`, binding the keys in order.
    fn delete_sql(&self, table: &TableSchema) -> String {
        let conditions: Vec<String> = table
            .key_columns()
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} = {}", self.quote(&c.name), self.placeholder(i + 1, c)))
            .collect();
        format!(
            "DELETE FROM {} WHERE {}",
            self.table_name(table),
            conditions.join(" AND ")
        )
    }
}

/// PostgreSQL: every value is bound as text and cast to the column's type as the catalog formats it,
/// so one statement shape serves every type (many-row statements bind integer columns as integer
/// arrays, `postgres/arrays.rs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    fn placeholder(&self, index: usize, column: &Column) -> String {
        format!("CAST(${index} AS {})", column.sql_type)
    }
}

/// SQLite: numbered `?N` placeholders; values are bound natively by column affinity.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn placeholder(&self, index: usize, _column: &Column) -> String {
        format!("?{index}")
    }
}

/// MySQL and MariaDB: backtick quoting, `?` placeholders, `INSERT ... ON DUPLICATE KEY UPDATE`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MysqlDialect;

/// An expression that fails with error 1242 (subquery returns more than one row) when evaluated.
const MYSQL_FAIL: &str = "(SELECT 1 UNION ALL SELECT 2)";

impl Dialect for MysqlDialect {
    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }

    fn placeholder(&self, _index: usize, _column: &Column) -> String {
        "?".into()
    }

    /// `ON DUPLICATE KEY UPDATE` fires on a clash with *any* unique index, where PostgreSQL's
    /// `ON CONFLICT (keys)` fires only on the keys. So the first assignment checks that the clashing row
    /// has the written keys, and otherwise fails the statement (error 1242, a refused row like any
    /// unique violation) instead of overwriting another row.
    fn upsert_sql(&self, table: &TableSchema) -> String {
        let mut sql = self.insert_sql(table);
        if table.keys == 0 {
            return sql;
        }
        let names: Vec<String> = table.columns.iter().map(|c| self.quote(&c.name)).collect();
        let same_keys: Vec<String> = names[..table.keys]
            .iter()
            .map(|k| format!("{k} <=> VALUES({k})"))
            .collect();
        let first = &names[0];
        let mut sets = vec![format!(
            "{first} = IF({}, {first}, {MYSQL_FAIL})",
            same_keys.join(" AND ")
        )];
        sets.extend(
            names[table.keys..]
                .iter()
                .map(|n| format!("{n} = VALUES({n})")),
        );
        sql.push_str(&format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", ")));
        sql
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::writer::relational::convert::ColumnKind;

    fn table(schema: Option<&str>, cols: &[(&str, &str)], keys: usize) -> TableSchema {
        TableSchema {
            schema: schema.map(str::to_string),
            table: "emp".into(),
            columns: cols
                .iter()
                .map(|(n, t)| Column {
                    name: n.to_string(),
                    sql_type: t.to_string(),
                    kind: ColumnKind::Other,
                })
                .collect(),
            keys,
        }
    }

    #[test]
    fn identifiers_are_quoted_with_embedded_quotes_doubled() {
        assert_eq!(PostgresDialect.quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(SqliteDialect.quote("select"), "\"select\"");
    }

    #[test]
    fn postgres_upsert_casts_text_parameters_to_column_types() {
        let t = table(
            Some("hr"),
            &[
                ("id", "bigint"),
                ("name", "character varying(10)"),
                ("doc", "jsonb"),
            ],
            1,
        );
        assert_eq!(
            PostgresDialect.upsert_sql(&t),
            "INSERT INTO \"hr\".\"emp\" (\"id\", \"name\", \"doc\") \
             VALUES (CAST($1 AS bigint), CAST($2 AS character varying(10)), CAST($3 AS jsonb)) \
             ON CONFLICT (\"id\") DO UPDATE SET \"name\" = excluded.\"name\", \"doc\" = excluded.\"doc\""
        );
    }

    #[test]
    fn sqlite_upsert_uses_numbered_placeholders() {
        let t = table(None, &[("a", "INTEGER"), ("b", "TEXT"), ("c", "REAL")], 2);
        assert_eq!(
            SqliteDialect.upsert_sql(&t),
            "INSERT INTO \"emp\" (\"a\", \"b\", \"c\") VALUES (?1, ?2, ?3) \
             ON CONFLICT (\"a\", \"b\") DO UPDATE SET \"c\" = excluded.\"c\""
        );
    }

    #[test]
    fn upsert_with_only_key_columns_does_nothing_on_conflict() {
        let t = table(None, &[("a", "int"), ("b", "int")], 2);
        assert_eq!(
            SqliteDialect.upsert_sql(&t),
            "INSERT INTO \"emp\" (\"a\", \"b\") VALUES (?1, ?2) ON CONFLICT (\"a\", \"b\") DO NOTHING"
        );
    }

    #[test]
    fn upsert_without_keys_is_a_plain_insert() {
        let t = table(None, &[("a", "int")], 0);
        assert_eq!(
            PostgresDialect.upsert_sql(&t),
            "INSERT INTO \"emp\" (\"a\") VALUES (CAST($1 AS int))"
        );
    }

    #[test]
    fn mysql_quotes_with_backticks_and_upserts_on_duplicate_key_with_a_key_guard() {
        assert_eq!(MysqlDialect.quote("a`b"), "`a``b`");
        let t = table(Some("hr"), &[("a", "int"), ("b", "int"), ("c", "text")], 2);
        assert_eq!(
            MysqlDialect.upsert_sql(&t),
            "INSERT INTO `hr`.`emp` (`a`, `b`, `c`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE \
             `a` = IF(`a` <=> VALUES(`a`) AND `b` <=> VALUES(`b`), `a`, (SELECT 1 UNION ALL SELECT 2)), \
             `c` = VALUES(`c`)"
        );
        assert_eq!(
            MysqlDialect.delete_sql(&t),
            "DELETE FROM `hr`.`emp` WHERE `a` = ? AND `b` = ?"
        );
        let keys_only = table(None, &[("a", "int")], 1);
        assert_eq!(
            MysqlDialect.upsert_sql(&keys_only),
            "INSERT INTO `emp` (`a`) VALUES (?) ON DUPLICATE KEY UPDATE \
             `a` = IF(`a` <=> VALUES(`a`), `a`, (SELECT 1 UNION ALL SELECT 2))"
        );
        let append = table(None, &[("a", "int")], 0);
        assert_eq!(
            MysqlDialect.upsert_sql(&append),
            "INSERT INTO `emp` (`a`) VALUES (?)"
        );
    }

    #[test]
    fn delete_matches_every_key() {
        let t = table(
            Some("public"),
            &[("a", "integer"), ("b", "text"), ("c", "date")],
            2,
        );
        assert_eq!(
            PostgresDialect.delete_sql(&t),
            "DELETE FROM \"public\".\"emp\" WHERE \"a\" = CAST($1 AS integer) AND \"b\" = CAST($2 AS text)"
        );
        assert_eq!(
            SqliteDialect.delete_sql(&t),
            "DELETE FROM \"public\".\"emp\" WHERE \"a\" = ?1 AND \"b\" = ?2"
        );
    }
}
