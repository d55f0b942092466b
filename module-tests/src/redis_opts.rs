//! How to start a Redis or Valkey server: which binary, modules, persistence and extra arguments.

/// Which server binary to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// Redis 7.4 from redis-stack, with RedisJSON loaded before the module.
    Redis74,
    /// Valkey 9 with the module only.
    Valkey9,
    /// Valkey 8.0 (Debian bookworm-backports) with the module only.
    Valkey8,
    /// Redis 7.0: too old for the module; used to check that it refuses it cleanly.
    Redis70,
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct RedisOpts {
    /// The binary to run.
    pub kind: ServerKind,
    /// Whether to pass `--loadmodule <librdi.so>`.
    pub load_module: bool,
    /// Arguments after the module path.
    pub module_args: Vec<String>,
    /// `--appendonly yes`.
    pub appendonly: bool,
    /// `--appendfsync <policy>` when set.
    pub appendfsync: Option<String>,
    /// `--save <points>`; `None` means `--save ""` (no automatic snapshots).
    pub save: Option<String>,
    /// Further `--name value` arguments, passed as given.
    pub extra_args: Vec<String>,
    /// Environment variables set on the server process (for `${env:...}` references).
    pub env: Vec<(String, String)>,
}

impl RedisOpts {
    /// Redis 7.4 with RedisJSON and the module.
    pub fn redis74() -> Self {
        Self::new(ServerKind::Redis74, true)
    }

    /// Valkey 9 with the module.
    pub fn valkey9() -> Self {
        Self::new(ServerKind::Valkey9, true)
    }

    /// Valkey 8.0 with the module.
    pub fn valkey8() -> Self {
        Self::new(ServerKind::Valkey8, true)
    }

    /// Redis 7.0 without the module (add it with [`RedisOpts::with_module`]).
    pub fn redis70() -> Self {
        Self::new(ServerKind::Redis70, false)
    }

    fn new(kind: ServerKind, load_module: bool) -> Self {
        Self {
            kind,
            load_module,
            module_args: Vec::new(),
            appendonly: false,
            appendfsync: None,
            save: None,
            extra_args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Load the module at start.
    pub fn with_module(mut self) -> Self {
        self.load_module = true;
        self
    }

    /// Do not load the module (RedisJSON is still loaded into Redis 7.4).
    pub fn without_module(mut self) -> Self {
        self.load_module = false;
        self
    }

    /// `--appendonly yes`.
    pub fn appendonly(mut self) -> Self {
        self.appendonly = true;
        self
    }

    /// `--appendfsync <policy>` (`always`, `everysec`, `no`).
    pub fn appendfsync(mut self, policy: &str) -> Self {
        self.appendfsync = Some(policy.to_string());
        self
    }

    /// One more command-line argument (`--name`, then its values as separate calls).
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }

    /// An environment variable of the server process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// One more argument for the module (after its path).
    pub fn module_arg(mut self, arg: &str) -> Self {
        self.module_args.push(arg.to_string());
        self
    }
}
