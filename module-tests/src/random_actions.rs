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

/// A server (or servers) that the random writes of [`crate::random_ops::run`] go to, with its
/// random actions and its check.
pub trait Player {
    /// The connection the writes go to.
    fn connection(&mut self) -> &mut redis::Connection;
    /// Takes one random action; returns what it did, for the failure message.
    fn act(&mut self, rng: &mut Rng) -> String;
    /// Drains and compares once a seed has played; `what` names it.
    fn check(&mut self, what: &str, recent: &crate::random_ops::Recent);
}

/// Plays the seeds (`RDI_RANDOM_FIRST_SEED`, then `RDI_RANDOM_SEEDS` of them, `seeds` by default):
/// each takes `steps` steps of `operations` random writes and one action, then the check. `salt`
/// makes one test's draws differ from another's; `label` names the run in failure messages.
pub fn play(
    player: &mut impl Player,
    salt: u64,
    seeds: u64,
    steps: usize,
    operations: usize,
    label: &str,
) {
    let mut next_id = 0u64;
    // Kept over the seeds: the story of a row may begin in an earlier one.
    let mut recent = crate::random_ops::Recent::default();
    // `RDI_RANDOM_FIRST_SEED` starts further on, to replay a failed seed sooner.
    let first = crate::rng::count("RDI_RANDOM_FIRST_SEED", 1);
    for seed in first..first + crate::rng::count("RDI_RANDOM_SEEDS", seeds) {
        let mut rng = Rng(salt ^ seed);
        for _ in 0..steps {
            crate::random_ops::run(
                player.connection(),
                &mut rng,
                operations,
                &mut next_id,
                &mut recent,
            );
            let action = player.act(&mut rng);
            recent.push(format!("** {action}"));
        }
        player.check(&format!("{label}, seed {seed}"), &recent);
    }
}
