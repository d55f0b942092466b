//! Error replies that keep their UTF-8.
//!
//! `redis-module` (2.0) writes an error message one byte per character (`c as u8`), so any character
//! outside ASCII (a job or field name, a YAML value quoted in a problem, the U+FFFD that stands for
//! bytes that were not UTF-8) reaches the client as a byte that is not UTF-8: `é` as `\xe9`. Client
//! libraries then fail to decode the reply, and some (redis-rs) lose their place in the connection.
//! So such a message is handed to the crate as one character per byte of its UTF-8 (U+0000 to
//! U+00FF), which the crate's cast turns back into exactly those bytes. A module test
//! (`commands_bad_arguments.rs`) checks the bytes a client receives, so a crate that changes this
//! is caught.

use redis_module::{BlockedClient, RedisError, RedisResult, ThreadSafeContext};

/// `result`, with an error message outside ASCII prepared for the crate's reply (see above).
pub fn utf8(result: RedisResult) -> RedisResult {
    match result {
        Err(RedisError::String(message)) if !message.is_ascii() => {
            Err(RedisError::String(byte_chars(&message)))
        }
        other => other,
    }
}

/// Replies `result` to a blocked client from another thread, as [`utf8`] prepares it.
pub fn to_blocked(tsc: &ThreadSafeContext<BlockedClient>, result: RedisResult) {
    tsc.reply(utf8(result));
}

/// Runs `work` on a command's own thread and replies its result to the blocked client. A panic in
/// it (a database driver's bug, in a deploy's checks) is answered with an error instead of leaving
/// the client waiting for a reply that never comes.
pub fn from_thread(
    tsc: &ThreadSafeContext<BlockedClient>,
    command: &str,
    work: impl FnOnce() -> RedisResult,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(RedisError::String(panicked(command))));
    to_blocked(tsc, result);
}

/// The error of a command whose work panicked.
fn panicked(command: &str) -> String {
    format!(
        "ERR {command} failed unexpectedly (a panic in the module or a database driver); see \
         RDI.STATUS for what is in force before sending it again"
    )
}

/// One character per byte of `message`'s UTF-8.
fn byte_chars(message: &str) -> String {
    message.bytes().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_s_cast_gives_back_the_utf8_bytes() {
        let message = "ERR job `café` \u{fffd} ✓ 𝄞";
        let prepared = byte_chars(message);
        // What redis-module 2.0's `str_as_legal_resp_string` does to each character.
        let sent: Vec<u8> = prepared.chars().map(|c| c as u8).collect();
        assert_eq!(sent, message.as_bytes());
        assert_eq!(byte_chars("ERR plain"), "ERR plain");
    }
}
