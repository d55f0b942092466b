//! What the randomized tests of operator actions share: a weighted draw of an action by name, the
//! subset an environment variable allows, a command's reply as text, and a redeploy of the jobs of
//! `random_ops` with other applier settings.

use crate::random_ops::jobs;
use crate::rng::Rng;
use crate::targets::Target;
use crate::{deploy_ok, FAST_RETRY};

/// An action drawn from `actions` (name, weight) by weight.
pub fn draw(rng: &mut Rng, actions: &[(&'static str, usize)]) -> &'static str {
    let mut draw = rng.below(actions.iter().map(|(_, weight)| weight).sum());
    for (name, weight) in actions {
        if draw < *weight {
            return name;
        }
        draw -= weight;
    }
    "nothing"
}

/// Whether `action` is one of `names` (separated by commas; `all` for every one).
pub fn allowed(names: &str, action: &str) -> bool {
    names == "all" || names.split(',').any(|n| n.trim() == action)
}

/// The actions `RDI_RANDOM_ACTIONS` allows (`all` when unset).
pub fn allowed_from_env() -> String {
    std::env::var("RDI_RANDOM_ACTIONS").unwrap_or_else(|_| "all".into())
}

/// The command and its reply (or error) as text.
pub fn reply(r: &mut redis::Connection, words: &[&str]) -> String {
    let mut cmd = redis::cmd(words[0]);
    for w in &words[1..] {
        cmd.arg(*w);
    }
    let answer = match cmd.query::<redis::Value>(r) {
        Ok(value) => format!("{value:?}"),
        Err(e) => format!("ERR {e}"),
    };
    format!("{}: {answer}", words.join(" "))
}

/// Deploys the jobs of [`jobs`] again with `applier` lines (on top of [`FAST_RETRY`]).
pub fn redeploy(r: &mut redis::Connection, target: &Target, applier: &[String]) {
    let mut config = target.config().to_string();
    config.push_str(&format!("applier:\n  {FAST_RETRY}\n"));
    for line in applier {
        config.push_str(&format!("  {line}\n"));
    }
    let jobs = jobs(target);
    let jobs: Vec<(&str, &str)> = jobs.iter().map(|(n, y)| (*n, y.as_str())).collect();
    deploy_ok(r, &config, &jobs);
}
