//! Mutated deployments: every example folder, its files cut, spliced and garbled at random, goes
//! through the whole parse. The parse may refuse a mutant, never panic on one, and every problem it
//! reports names a file and a line of that file. `RDI_MUTATIONS` sets how many mutants per example.
//! Test-only: declared under #[cfg(test)] in `config/mod.rs`.

use crate::fuzz::{count, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::examples::{example_dirs, read_example, AnyReference};
use super::parse_deployment;

/// Mutants per example folder by default (each parse takes tens of microseconds).
const MUTANTS: usize = 3_000;

/// Tokens a mutation may insert: YAML syntax, and values that fields take or nearly take.
const TOKENS: &[&str] = &[
    ":",
    "- ",
    "\n",
    "  ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "#",
    "&a",
    "*a",
    "!!str",
    "|",
    ">",
    "? ",
    "---",
    "${env:X}",
    "${secret:",
    "null",
    "~",
    "true",
    "-1",
    "0",
    "99999999999999999999",
    "1e400",
    "nan",
    "é",
    "\u{0}",
    "\t",
    ",",
    "*",
    "jmespath",
    "sql",
    "expression: ",
    "language: ",
    "keys:",
    "mapping:",
    "uses: ",
    "with:",
    "key_pattern: ",
    "table: ",
    "type: ",
    "connection: ",
    "id",
];

/// A char boundary of `text` at or before `at`.
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `text` with one to four random edits: a span deleted, a token inserted, a line duplicated or
/// moved, a span copied elsewhere.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut out = text.to_string();
    for _ in 0..=rng.below(4) {
        let at = boundary(&out, rng.below(out.len() + 1));
        match rng.below(5) {
            0 => {
                let end = boundary(&out, at + rng.below(12) + 1);
                out.replace_range(at..end, "");
            }
            1 | 2 => out.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            3 => {
                let lines: Vec<&str> = out.lines().collect();
                if lines.is_empty() {
                    continue;
                }
                let line = lines[rng.below(lines.len())].to_string();
                let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                lines.insert(rng.below(lines.len() + 1), line);
                out = lines.join("\n");
            }
            _ => {
                let end = boundary(&out, at + rng.below(40) + 1);
                let span = out[at..end].to_string();
                let to = boundary(&out, rng.below(out.len() + 1));
                out.insert_str(to, &span);
            }
        }
    }
    out
}

#[test]
fn mutated_examples_are_refused_or_parsed_never_panic() {
    let mutants = count("RDI_MUTATIONS", MUTANTS);
    let mut refused = 0usize;
    let mut parsed = 0usize;
    for (n, dir) in example_dirs().into_iter().enumerate() {
        let (config, jobs) = read_example(&dir);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (n as u64 + 1));
        for i in 0..mutants {
            // One file mutated per mutant: the config or one job.
            let pick = rng.below(jobs.len() + 1);
            let mut config = config.clone();
            let mut jobs = jobs.clone();
            match pick {
                0 => config = mutate(&config, &mut rng),
                j => jobs[j - 1].1 = mutate(&jobs[j - 1].1, &mut rng),
            }
            let result = catch_unwind(AssertUnwindSafe(|| {
                parse_deployment(&config, &jobs, &AnyReference)
            }));
            let outcome = result.unwrap_or_else(|_| {
                panic!(
                    "{} mutant {i} panicked.\nconfig.yaml:\n{config}\njobs: {jobs:#?}",
                    dir.display()
                )
            });
            let Err(problems) = outcome else {
                parsed += 1;
                continue;
            };
            refused += 1;
            assert!(
                !problems.is_empty(),
                "{} mutant {i}: refused with no problem",
                dir.display()
            );
            for p in &problems {
                let text = if p.file == "config.yaml" {
                    Some(&config)
                } else {
                    jobs.iter()
                        .find(|(name, _)| p.file == format!("jobs/{name}.yaml"))
                        .map(|(_, text)| text)
                };
                let text = text.unwrap_or_else(|| {
                    panic!("{} mutant {i}: problem in no file: {p}", dir.display())
                });
                let lines = text.lines().count().max(1);
                assert!(
                    p.line >= 1 && p.line <= lines + 1,
                    "{} mutant {i}: line {} of a {lines}-line file: {p}\n{text}",
                    dir.display(),
                    p.line
                );
            }
        }
    }
    eprintln!("mutants: {refused} refused, {parsed} parsed");
    assert!(
        refused > 0,
        "no mutant was refused: the mutations do nothing"
    );
}
