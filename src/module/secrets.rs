//! `RDI.SET-SECRET`: secrets for `${secrets:NAME}` references, kept in a file of their own beside the
//! server's data (mode 0600), never in the keyspace, so no RDB, AOF or replica ever carries them.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue, ThreadSafeContext};

use crate::config::SystemResolver;

/// The file, relative to the server's working directory (its `dir`).
pub const SECRETS_FILE: &str = "rdi-secrets.json";

static SECRETS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// Held while the file is written, so that two stores do not interleave.
static STORING: Mutex<()> = Mutex::new(());

/// Loads the secrets file, if any. Called once at module load.
pub fn load() -> Result<usize, String> {
    let text = match std::fs::read_to_string(SECRETS_FILE) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("cannot read {SECRETS_FILE}: {e}")),
    };
    // The position only: serde's message quotes the value it could not read.
    let map: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{SECRETS_FILE} is not a JSON object of strings (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let n = map.len();
    if let Ok(mut s) = SECRETS.lock() {
        *s = map;
    }
    Ok(n)
}

/// A resolver that knows the stored secrets.
pub fn resolver() -> SystemResolver {
    SystemResolver {
        secrets: SECRETS.lock().map(|s| s.clone()).unwrap_or_default(),
    }
}

/// Writes the secrets to `file` through a temporary file beside it, renamed over it once synced.
fn save(map: &BTreeMap<String, String>, file: &std::path::Path) -> Result<(), String> {
    let tmp_path = file.with_extension("json.tmp");
    let tmp = tmp_path.display();
    let text = serde_json::to_string(map).map_err(|e| e.to_string())?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp_path)
        .map_err(|e| format!("cannot write {tmp}: {e}"))?;
    // `mode` applies only to a file it creates: one left over may have had wider permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {tmp} to its owner: {e}"))?;
    }
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {tmp}: {e}"))?;
    std::fs::rename(&tmp_path, file).map_err(|e| format!("cannot replace {}: {e}", file.display()))
}

/// `RDI.SET-SECRET <name> <value>`: an empty value removes the secret. The file is written and
/// synced on a thread of its own (the client waits, the server does not); the secret is in force once
/// it is on disk, and a deployment that refers to it is rebuilt with it.
pub fn command(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    if args.len() != 3 {
        return Err(RedisError::WrongArity);
    }
    let name = args[1].to_string_lossy();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(RedisError::Str(
            "ERR secret names use letters, digits, `_`, `-` and `.`",
        ));
    }
    let value = args[2]
        .try_as_str()
        .map_err(|_| {
            RedisError::Str(
                "ERR the secret's value is not UTF-8 text; configuration values are text",
            )
        })?
        .to_string();
    // The server's `dir` now: a CONFIG SET dir while the thread writes must not split the temporary
    // file and the rename across two directories.
    let file = std::env::current_dir()
        .map(|dir| dir.join(SECRETS_FILE))
        .map_err(|e| RedisError::String(format!("ERR cannot read the server's dir: {e}")))?;
    let blocked = super::blocking::block(ctx, "RDI.SET-SECRET")?;
    let spawned = std::thread::Builder::new()
        .name("rdi-set-secret".into())
        .spawn(move || {
            let tsc = ThreadSafeContext::with_blocked_client(blocked);
            super::reply::from_thread(&tsc, "RDI.SET-SECRET", || {
                store(&name, value, &file).map(|()| {
                    let ctx = tsc.lock();
                    // The name may be logged; the value never is.
                    super::log::notice(&ctx, &format!("rdi: secret `{name}` stored"));
                    // A pipeline held for want of this secret starts its writers now; one that uses it
                    // (a password that was wrong) is rebuilt with the new value.
                    let held = super::runtime::current().is_some_and(|p| p.held.is_some());
                    if held || uses(&ctx, &name) {
                        super::restore::restore(&ctx);
                    }
                    RedisValue::SimpleStringStatic("OK")
                })
            });
        });
    match spawned {
        Ok(_) => Ok(RedisValue::NoReply),
        Err(e) => Err(RedisError::String(format!(
            "ERR could not start a thread to store the secret: {e}"
        ))),
    }
}

/// Whether the deployment kept in the keyspace refers to the secret `name`.
fn uses(ctx: &Context, name: &str) -> bool {
    let reference = format!("${{secrets:{name}}}");
    super::restore::read_sources(ctx).is_some_and(|src| {
        src.config.contains(&reference)
            || src.jobs.iter().any(|(_, yaml)| yaml.contains(&reference))
    })
}

/// Writes the secrets with `name` set to `value` (removed when empty), then puts them in force. One
/// store at a time; readers of the secrets wait only for the swap, never for the disk.
fn store(name: &str, value: String, file: &std::path::Path) -> Result<(), RedisError> {
    let _one_at_a_time = STORING
        .lock()
        .map_err(|_| RedisError::Str("ERR secrets lock poisoned"))?;
    let mut next = SECRETS
        .lock()
        .map_err(|_| RedisError::Str("ERR secrets lock poisoned"))?
        .clone();
    if value.is_empty() {
        next.remove(name);
    } else {
        next.insert(name.to_string(), value);
    }
    save(&next, file).map_err(|e| RedisError::String(format!("ERR {e}")))?;
    *SECRETS
        .lock()
        .map_err(|_| RedisError::Str("ERR secrets lock poisoned"))? = next;
    Ok(())
}
