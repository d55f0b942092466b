//! A table of malformed job and config files, each answered with its file, line, column, field path and
//! a message saying what to change.

#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::panic)]

use super::deployment::parse_deployment;
use super::reference::SystemResolver;

const CONFIG: &str = "connections:\n  pg: {type: sqlite, path: x.db}\n";
const SOURCE: &str = "source:\n  redis:\n    key_pattern: emp:*\n    trigger: write-behind\n";
const OUTPUT: &str =
    "output:\n  - uses: relational.write\n    with: {connection: pg, table: emp, keys: [id]}\n";

/// A job with `transform` lines (from line 5) and the standard output.
fn with_transform(transform: &str) -> String {
    format!("{SOURCE}transform:\n{transform}{OUTPUT}")
}

/// A job whose output `with` holds `with` (from line 7, indented 6).
fn with_output(with: &str) -> String {
    format!("{SOURCE}output:\n  - uses: relational.write\n    with:\n{with}")
}

/// Every problem of the deployment, one per line (or `deployed`).
fn problems(config: &str, job: &str) -> String {
    let jobs = [("emp".to_string(), job.to_string())];
    match parse_deployment(config, &jobs, &SystemResolver::default()) {
        Ok(_) => "deployed".into(),
        Err(problems) => problems.iter().map(|p| format!("{p}\n")).collect(),
    }
}

#[test]
fn malformed_files_are_answered_with_position_path_and_remedy() {
    let w = |s: &str| with_output(&format!("      connection: pg\n      table: emp\n{s}"));
    let cases: Vec<(String, String, &str)> = vec![
        // transform blocks
        (CONFIG.into(), with_transform("  - uses: filterr\n    with: {}\n"),
         "jobs/emp.yaml:6:11: transform[0].uses: unknown block `filterr`; expected one of: filter, add_field, remove_field, rename_field, map"),
        (CONFIG.into(), with_transform("  - with: {}\n"), "jobs/emp.yaml:6:5: transform[0]: missing required key `uses`"),
        (CONFIG.into(), with_transform("  - uses: filter\n"), "jobs/emp.yaml:6:5: transform[0]: missing required key `with`"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {expression: a}\n"),
         "jobs/emp.yaml:7:11: transform[0].with: missing required key `language`"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {language: sql}\n"),
         "jobs/emp.yaml:7:11: transform[0].with: missing required key `expression`"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {expression: a, language: python}\n"),
         "jobs/emp.yaml:7:37: transform[0].with.language: must be one of: jmespath, sql, not `python`"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {expression: 'a ==', language: jmespath}\n"),
         "jobs/emp.yaml:7:24: transform[0].with.expression: jmespath expression does not parse"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {expression: 'age >', language: sql}\n"),
         "jobs/emp.yaml:7:24: transform[0].with.expression: sql expression does not parse: incomplete expression"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {expression: 'nosuch(a)', language: sql}\n"),
         "jobs/emp.yaml:7:24: transform[0].with.expression: sql expression does not parse: no such function: nosuch"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {expression: 'nosuch(a)', language: jmespath}\n"),
         "jobs/emp.yaml:7:24: transform[0].with.expression: jmespath expression does not parse: unknown function `nosuch`"),
        (CONFIG.into(), with_transform("  - uses: filter\n    with: {expression: a, language: sql, lang: x}\n"),
         "jobs/emp.yaml:7:42: transform[0].with.lang: unknown key `lang`; expected one of: expression, language"),
        (CONFIG.into(), with_transform("  - uses: add_field\n    with: {expression: a, language: sql}\n"),
         "jobs/emp.yaml:7:11: transform[0].with: missing required key `field`"),
        (CONFIG.into(), with_transform("  - uses: add_field\n    with: {field: '', expression: a, language: sql}\n"),
         "jobs/emp.yaml:7:19: transform[0].with.field: must not be empty"),
        (CONFIG.into(), with_transform("  - uses: add_field\n    with: {field: x, fields: []}\n"),
         "jobs/emp.yaml:7:12: transform[0].with.field: use either `fields: [...]` or `field` directly in `with`, not both"),
        (CONFIG.into(), with_transform("  - uses: add_field\n    with: {fields: []}\n"),
         "jobs/emp.yaml:7:20: transform[0].with.fields: must list at least one entry"),
        (CONFIG.into(), with_transform("  - uses: add_field\n    with: {fields: x}\n"),
         "jobs/emp.yaml:7:20: transform[0].with.fields: must be a list"),
        (CONFIG.into(), with_transform("  - uses: add_field\n    with:\n      fields:\n        - {field: a, expression: b}\n"),
         "jobs/emp.yaml:9:11: transform[0].with.fields[0]: missing required key `language`"),
        (CONFIG.into(), with_transform("  - uses: add_field\n    with:\n      fields:\n        - {field: a, expr: b, language: sql}\n"),
         "jobs/emp.yaml:9:22: transform[0].with.fields[0].expr: unknown key `expr`; expected one of: field, expression, language"),
        (CONFIG.into(), with_transform("  - uses: remove_field\n    with: {}\n"),
         "jobs/emp.yaml:7:11: transform[0].with: missing required key `field`"),
        (CONFIG.into(), with_transform("  - uses: remove_field\n    with: {fields: [a]}\n"),
         "jobs/emp.yaml:7:21: transform[0].with.fields[0]: must be a map"),
        (CONFIG.into(), with_transform("  - uses: rename_field\n    with: {from_field: a}\n"),
         "jobs/emp.yaml:7:11: transform[0].with: missing required key `to_field`"),
        (CONFIG.into(), with_transform("  - uses: rename_field\n    with: {from: a, to: b}\n"),
         "jobs/emp.yaml:7:12: transform[0].with.from: unknown key `from`; expected one of: from_field, to_field"),
        (CONFIG.into(), with_transform("  - uses: map\n    with: {language: jmespath}\n"),
         "jobs/emp.yaml:7:11: transform[0].with: missing required key `expression`"),
        (CONFIG.into(), with_transform("  - uses: map\n    with:\n      language: jmespath\n      expression:\n        a: 'b.['\n"),
         "jobs/emp.yaml:10:12: transform[0].with.expression.a: jmespath expression does not parse"),
        (CONFIG.into(), with_transform("  - uses: map\n    with: {expression: '{a: b', language: jmespath}\n"),
         "jobs/emp.yaml:7:24: transform[0].with.expression: jmespath expression does not parse"),
        (CONFIG.into(), with_transform("  - uses: map\n    with: {expression: 'upper(name)', language: sql}\n"),
         "jobs/emp.yaml:7:24: transform[0].with.expression: one SQL expression gives a single value, not a record"),
        (CONFIG.into(), with_transform("  uses: filter\n"), "jobs/emp.yaml:6:3: transform: must be a list"),
        (CONFIG.into(), with_transform("  - filter\n"), "jobs/emp.yaml:6:5: transform[0]: must be a map"),
        // outputs
        (CONFIG.into(), w("      keys: [id]\n      load_strategy: TYPE2\n"),
         "jobs/emp.yaml:11:22: output[0].with.load_strategy: load strategy `TYPE2` is not supported yet; use UPSERT, APPEND or REPLACE"),
        (CONFIG.into(), w("      keys: [id]\n      load_strategy: MERGE\n"),
         "jobs/emp.yaml:11:22: output[0].with.load_strategy: must be one of: UPSERT, APPEND, REPLACE, not `MERGE`"),
        (CONFIG.into(), w("      keys: []\n"),
         "jobs/emp.yaml:10:13: output[0].with.keys: must list at least one key column (only `load_strategy: APPEND` may omit keys)"),
        (CONFIG.into(), w("      load_strategy: REPLACE\n"), "jobs/emp.yaml:8:7: output[0].with: missing required key `keys`"),
        (CONFIG.into(), w("      keys: [id]\n      foreach: lines\n"),
         "jobs/emp.yaml:11:16: output[0].with.foreach: must be `alias: <JMESPath to an array>`, for example `line: order_lines`"),
        (CONFIG.into(), w("      keys: [id]\n      foreach: 'a b: lines'\n"),
         "jobs/emp.yaml:11:16: output[0].with.foreach: the alias before `:` must be a name of letters, digits and `_`"),
        (CONFIG.into(), w("      keys: [id]\n      foreach: 'l: lines[?'\n"),
         "jobs/emp.yaml:11:16: output[0].with.foreach: jmespath expression does not parse"),
        (CONFIG.into(), w("      keys: [{id: 'a.['}]\n"),
         "jobs/emp.yaml:10:19: output[0].with.keys[0].id: jmespath expression does not parse"),
        (CONFIG.into(), w("      keys: [id]\n      mapping: [{name: 'upper(name'}]\n"),
         "jobs/emp.yaml:11:24: output[0].with.mapping[0].name: jmespath expression does not parse"),
        (CONFIG.into(), w("      keys: [id]\n      opcode_field: ''\n"),
         "jobs/emp.yaml:11:21: output[0].with.opcode_field: the field name must not be empty"),
        (CONFIG.into(), w("      keys: [id]\n      mapping: [[a]]\n"),
         "jobs/emp.yaml:11:17: output[0].with.mapping[0]: must be a column name or a one-entry map `column: expression`"),
        (CONFIG.into(), w("      keys: [id]\n      mode: upsert\n"),
         "jobs/emp.yaml:11:7: output[0].with.mode: unknown key `mode`; expected one of: connection, schema, table, keys, mapping, foreach, opcode_field, load_strategy"),
        (CONFIG.into(), with_output("      connection: nope\n      table: emp\n      keys: [id]\n"),
         "jobs/emp.yaml:8:19: output[0].with.connection: unknown connection `nope`; config.yaml declares: pg"),
        (CONFIG.into(), format!("{SOURCE}output:\n  - uses: redis.write\n    with: {{}}\n"),
         "jobs/emp.yaml:7:11: output[0].with: missing required key `key`"),
        (CONFIG.into(), format!("{SOURCE}output:\n  - uses: redis.write\n    with: {{connection: pg, key: {{expression: id, language: jmespath}}}}\n"),
         "jobs/emp.yaml:7:24: output[0].with.connection: connection `pg` is a sqlite connection; redis.write writes through a `redis` connection"),
        (CONFIG.into(), format!("{SOURCE}output: []\n"), "jobs/emp.yaml:5:9: output: must list at least one writer"),
        // sources
        (CONFIG.into(), format!("source:\n  redis:\n    key_pattern: a:*\n{OUTPUT}"),
         "jobs/emp.yaml:3:5: source.redis: missing required key `trigger`"),
        (CONFIG.into(), format!("source:\n  redis:\n    pattern: a:*\n    trigger: write-behind\n{OUTPUT}"),
         "jobs/emp.yaml:3:5: source.redis.pattern: `pattern` was renamed in RDI 0.105; use `key_pattern`"),
        (CONFIG.into(), format!("source:\n  keyspace: {{}}\n{OUTPUT}"),
         "jobs/emp.yaml:2:3: source.keyspace: `keyspace` was renamed in RDI 0.105; use `redis`"),
        (CONFIG.into(), format!("{SOURCE}    exclude-commands: [hdel]\n{OUTPUT}"),
         "jobs/emp.yaml:5:5: source.redis.exclude-commands: `exclude-commands` was renamed in RDI 0.105; use `exclude_commands`"),
        (CONFIG.into(), format!("{SOURCE}    row_format: raw\n{OUTPUT}"),
         "jobs/emp.yaml:5:17: source.redis.row_format: must be one of: data_only, full, not `raw`"),
        (CONFIG.into(), format!("{SOURCE}{OUTPUT}extra: 1\n"),
         "jobs/emp.yaml:8:1: extra: unknown key `extra`; expected one of: source, transform, output"),
        (CONFIG.into(), "source: [\n".into(), "jobs/emp.yaml:2:1: invalid YAML: while parsing a node, did not find expected node content"),
        // config.yaml
        ("connections:\n  pg: {type: sqlite, path: x.db}\napplier: {read_batch_size: 10, write_batch_size: 20}\n".into(),
         format!("{SOURCE}{OUTPUT}"), "config.yaml:3:"),
        ("connections:\n  pg: {type: mysql}\n".into(), format!("{SOURCE}{OUTPUT}"),
         "config.yaml:2:7: connections.pg: missing required key `host`"),
        ("connections:\n  pg: {type: postgresql, host: h, database: d}\n".into(), format!("{SOURCE}{OUTPUT}"),
         "config.yaml:2:7: connections.pg: missing required key `user`"),
        ("connection: {}\n".into(), format!("{SOURCE}{OUTPUT}"), "config.yaml:1:1: missing required key `connections`"),
    ];
    assert!(cases.len() >= 40, "{}", cases.len());
    let mut wrong = Vec::new();
    for (config, job, want) in &cases {
        let got = problems(config, job);
        if !got.lines().any(|line| line.starts_with(want)) {
            wrong.push(format!("want {want}\n got {got}\n job:\n{job}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn every_problem_of_a_job_is_reported_at_once_and_nothing_is_deployed() {
    let job = with_transform(
        "  - uses: filter\n    with: {expression: 'a ==', language: jmespath}\n  - uses: nope\n    with: {}\n",
    )
    .replace("keys: [id]", "keys: [id], load_strategy: TYPE2");
    let jobs = [("emp".to_string(), job)];
    let problems = parse_deployment(CONFIG, &jobs, &SystemResolver::default()).unwrap_err();
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}:{} {}", p.line, p.column, p.path))
        .collect();
    assert_eq!(
        lines,
        [
            "7:24 transform[0].with.expression",
            "8:11 transform[1].uses",
            "12:67 output[0].with.load_strategy"
        ]
    );
}
