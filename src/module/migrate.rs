//! Slot migration: `MIGRATE` (what `redis-cli --cluster reshard` and operators run) deletes each moved
//! key here after the destination node has restored it. The row belongs to the key, which lives on:
//! the destination captures its `restore` as an upsert, so the delete here must not be captured.
//!
//! The command filter sees `MIGRATE` before it runs and notes the keys it moves; the note is cleared
//! by the next command that passes the filter. A `MIGRATE` queued in `MULTI` runs after its note was
//! cleared: its keys are captured as deletes there (and re-created by the destination's capture).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a note is held: the filter's fast path reads only this.
static NOTED: AtomicBool = AtomicBool::new(false);

thread_local! {
    // Only the main thread runs commands and the filter.
    static MOVING: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// The keys a `MIGRATE` command moves away (none with `COPY`), from its arguments after the name:
/// `host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS key ...]`.
pub fn moved_keys(args: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    if let Some(key) = args.get(2).filter(|k| !k.is_empty()) {
        keys.push(key.to_vec());
    }
    let mut i = 5;
    while i < args.len() {
        let word = args[i].to_ascii_uppercase();
        match word.as_slice() {
            b"COPY" => return Vec::new(),
            b"AUTH" => i += 2,
            b"AUTH2" => i += 3,
            b"KEYS" => {
                keys.extend(args[i + 1..].iter().map(|k| k.to_vec()));
                break;
            }
            _ => i += 1,
        }
    }
    keys
}

/// Called by the filter for every command: notes the keys of a `MIGRATE`, clears the note otherwise.
pub fn on_command(is_migrate: bool, args: impl FnOnce() -> Vec<Vec<u8>>) {
    if !is_migrate && !NOTED.load(Ordering::Relaxed) {
        return;
    }
    let keys = if is_migrate { args() } else { Vec::new() };
    NOTED.store(!keys.is_empty(), Ordering::Relaxed);
    MOVING.with(|m| *m.borrow_mut() = keys);
}

/// Whether the running command moves `key` to another node.
pub fn is_moving(key: &[u8]) -> bool {
    NOTED.load(Ordering::Relaxed) && MOVING.with(|m| m.borrow().iter().any(|k| k == key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&'static str]) -> Vec<&'static [u8]> {
        words.iter().map(|w| w.as_bytes()).collect()
    }

    #[test]
    fn one_key_or_many() {
        let one = args(&["127.0.0.1", "7001", "emp:1", "0", "5000"]);
        assert_eq!(moved_keys(&one), vec![b"emp:1".to_vec()]);
        let many = args(&[
            "127.0.0.1",
            "7001",
            "",
            "0",
            "5000",
            "REPLACE",
            "AUTH2",
            "u",
            "p",
            "KEYS",
            "a",
            "b",
        ]);
        assert_eq!(moved_keys(&many), vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn copy_moves_nothing() {
        let copy = args(&["h", "1", "", "0", "5000", "COPY", "KEYS", "a"]);
        assert!(moved_keys(&copy).is_empty());
    }

    #[test]
    fn the_note_lasts_one_command() {
        on_command(true, || vec![b"k".to_vec()]);
        assert!(is_moving(b"k"));
        assert!(!is_moving(b"other"));
        on_command(false, Vec::new);
        assert!(!is_moving(b"k"));
    }
}
