//! The `MERGE` dialects: SQL Server and Oracle upsert with one `MERGE` statement per row, matching the
//! keys of a one-row source against the table.

use super::convert::Column;
use super::dialect::Dialect;
use super::table::TableSchema;

/// The parts of a `MERGE` upsert that the two databases spell alike; `source` is the one-row source
/// (`(VALUES (...)) AS s (cols)` or `(SELECT ... FROM dual) s`) and `target_alias` how the table is
/// aliased (`AS t` or `t`).
fn merge_sql<D: Dialect + ?Sized>(
    d: &D,
    table: &TableSchema,
    target_alias: &str,
    source: &str,
) -> String {
    let names: Vec<String> = table.columns.iter().map(|c| d.quote(&c.name)).collect();
    let on: Vec<String> = names[..table.keys]
        .iter()
        .map(|k| format!("t.{k} = s.{k}"))
        .collect();
    let mut sql = format!(
        "MERGE INTO {} {target_alias} USING {source} ON ({})",
        d.table_name(table),
        on.join(" AND ")
    );
    if table.keys < names.len() {
        let sets: Vec<String> = names[table.keys..]
            .iter()
            .map(|n| format!("t.{n} = s.{n}"))
            .collect();
        sql.push_str(&format!(
            " WHEN MATCHED THEN UPDATE SET {}",
            sets.join(", ")
        ));
    }
    let values: Vec<String> = names.iter().map(|n| format!("s.{n}")).collect();
    sql.push_str(&format!(
        " WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
        names.join(", "),
        values.join(", ")
    ));
    sql
}

fn placeholders<D: Dialect + ?Sized>(d: &D, table: &TableSchema) -> Vec<String> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| d.placeholder(i + 1, c))
        .collect()
}

/// SQL Server: `[name]` quoting, `@P1` placeholders, `MERGE ... WITH (HOLDLOCK)` so that two writers
/// upserting the same new key cannot both insert it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqlServerDialect;

impl Dialect for SqlServerDialect {
    fn quote(&self, ident: &str) -> String {
        format!("[{}]", ident.replace(']', "]]"))
    }

    fn placeholder(&self, index: usize, _column: &Column) -> String {
        format!("@P{index}")
    }

    fn upsert_sql(&self, table: &TableSchema) -> String {
        if table.keys == 0 {
            return self.insert_sql(table);
        }
        let names: Vec<String> = table.columns.iter().map(|c| self.quote(&c.name)).collect();
        let source = format!(
            "(VALUES ({})) AS s ({})",
            placeholders(self, table).join(", "),
            names.join(", ")
        );
        // MERGE statements must end with a semicolon.
        format!(
            "{};",
            merge_sql(self, table, "WITH (HOLDLOCK) AS t", &source)
        )
    }
}

/// Oracle: `"NAME"` quoting (names as the catalog spells them, usually upper case), `:1` placeholders,
/// `MERGE` from a one-row `SELECT ... FROM dual`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OracleDialect;

impl Dialect for OracleDialect {
    fn placeholder(&self, index: usize, _column: &Column) -> String {
        format!(":{index}")
    }

    fn upsert_sql(&self, table: &TableSchema) -> String {
        if table.keys == 0 {
            return self.insert_sql(table);
        }
        let selected: Vec<String> = placeholders(self, table)
            .iter()
            .zip(&table.columns)
            .map(|(p, c)| format!("{p} AS {}", self.quote(&c.name)))
            .collect();
        let source = format!("(SELECT {} FROM dual) s", selected.join(", "));
        merge_sql(self, table, "t", &source)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::writer::relational::convert::ColumnKind;

    fn table(schema: Option<&str>, cols: &[&str], keys: usize) -> TableSchema {
        TableSchema {
            schema: schema.map(str::to_string),
            table: "EMP".into(),
            columns: cols
                .iter()
                .map(|n| Column {
                    name: n.to_string(),
                    sql_type: "t".into(),
                    kind: ColumnKind::Other,
                })
                .collect(),
            keys,
        }
    }

    #[test]
    fn sqlserver_merges_from_a_values_row_with_holdlock() {
        let t = table(Some("dbo"), &["id", "na]me", "age"], 1);
        assert_eq!(SqlServerDialect.quote("na]me"), "[na]]me]");
        assert_eq!(
            SqlServerDialect.upsert_sql(&t),
            "MERGE INTO [dbo].[EMP] WITH (HOLDLOCK) AS t USING (VALUES (@P1, @P2, @P3)) AS s ([id], [na]]me], [age]) \
             ON (t.[id] = s.[id]) WHEN MATCHED THEN UPDATE SET t.[na]]me] = s.[na]]me], t.[age] = s.[age] \
             WHEN NOT MATCHED THEN INSERT ([id], [na]]me], [age]) VALUES (s.[id], s.[na]]me], s.[age]);"
        );
        assert_eq!(
            SqlServerDialect.delete_sql(&t),
            "DELETE FROM [dbo].[EMP] WHERE [id] = @P1"
        );
        assert_eq!(
            SqlServerDialect.insert_sql(&t),
            "INSERT INTO [dbo].[EMP] ([id], [na]]me], [age]) VALUES (@P1, @P2, @P3)"
        );
    }

    #[test]
    fn sqlserver_merge_of_keys_only_has_no_update_branch() {
        let t = table(None, &["a", "b"], 2);
        assert_eq!(
            SqlServerDialect.upsert_sql(&t),
            "MERGE INTO [EMP] WITH (HOLDLOCK) AS t USING (VALUES (@P1, @P2)) AS s ([a], [b]) \
             ON (t.[a] = s.[a] AND t.[b] = s.[b]) WHEN NOT MATCHED THEN INSERT ([a], [b]) VALUES (s.[a], s.[b]);"
        );
        let append = table(None, &["a"], 0);
        assert_eq!(
            SqlServerDialect.upsert_sql(&append),
            "INSERT INTO [EMP] ([a]) VALUES (@P1)"
        );
    }

    #[test]
    fn oracle_merges_from_dual_with_numbered_binds() {
        let t = table(Some("HR"), &["ID", "NAME"], 1);
        assert_eq!(
            OracleDialect.upsert_sql(&t),
            "MERGE INTO \"HR\".\"EMP\" t USING (SELECT :1 AS \"ID\", :2 AS \"NAME\" FROM dual) s \
             ON (t.\"ID\" = s.\"ID\") WHEN MATCHED THEN UPDATE SET t.\"NAME\" = s.\"NAME\" \
             WHEN NOT MATCHED THEN INSERT (\"ID\", \"NAME\") VALUES (s.\"ID\", s.\"NAME\")"
        );
        assert_eq!(
            OracleDialect.delete_sql(&t),
            "DELETE FROM \"HR\".\"EMP\" WHERE \"ID\" = :1"
        );
        assert_eq!(
            OracleDialect.insert_sql(&table(None, &["A"], 0)),
            "INSERT INTO \"EMP\" (\"A\") VALUES (:1)"
        );
    }
}
