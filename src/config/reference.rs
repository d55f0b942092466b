//! `${kind:arg}` references in YAML values and how they are resolved (environment, files, secrets).

use std::collections::BTreeMap;

/// The reference kinds a value may use.
pub const REFERENCE_KINDS: [&str; 3] = ["env", "file", "secrets"];

/// Resolves `${env:NAME}`, `${file:/path}`, `${file:/path:prop}`, `${secrets:NAME}` references.
///
/// An error explains why the reference failed; it must never contain a secret or a resolved value.
pub trait Resolver {
    /// The value of one reference; `kind` is one of [`REFERENCE_KINDS`], `arg` what follows its colon.
    fn resolve(&self, kind: &str, arg: &str) -> Result<String, String>;
}

/// Resolves references on the Redis host: environment variables, files, properties files, stored secrets.
#[derive(Clone, Default, PartialEq)]
pub struct SystemResolver {
    /// Secrets stored with `RDI.SET-SECRET`, by name.
    pub secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for SystemResolver {
    // Written by hand so that secret values never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemResolver")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Resolver for SystemResolver {
    fn resolve(&self, kind: &str, arg: &str) -> Result<String, String> {
        match kind {
            "env" => std::env::var(arg).map_err(|e| match e {
                // The server's environment, not the shell of the user who deploys: say so.
                std::env::VarError::NotPresent => "environment variable not set in the redis-server \
                    process (set it where the server starts, or store the value with RDI.SET-SECRET \
                    and write ${secrets:NAME})"
                    .to_string(),
                std::env::VarError::NotUnicode(_) => {
                    "environment variable is not UTF-8".to_string()
                }
            }),
            "file" => read_file(arg),
            "secrets" => self
                .secrets
                .get(arg)
                .cloned()
                .ok_or_else(|| "secret not set; store it with RDI.SET-SECRET".to_string()),
            _ => Err(format!("unknown reference kind `{kind}`")),
        }
    }
}

/// `/path` gives the whole file without its trailing newlines; `/path:prop` one `prop=value` line.
fn read_file(arg: &str) -> Result<String, String> {
    let (path, prop) = match arg.split_once(':') {
        Some((path, prop)) => (path, Some(prop)),
        None => (arg, None),
    };
    let text = read_bounded(path)?;
    match prop {
        None => Ok(text.trim_end_matches(['\n', '\r']).to_string()),
        Some(prop) => property(&text, prop)
            .ok_or_else(|| format!("no `{prop}=` line in properties file {path}")),
    }
}

/// Largest file a `${file:}` reference reads: a password, a certificate or a properties file.
const FILE_LIMIT: u64 = 1 << 20;

/// The text of a regular file of at most [`FILE_LIMIT`] bytes. References are resolved on the
/// server's main thread: a FIFO, a device or a huge file would block it or exhaust its memory.
/// The io error names the failure (not found, permission denied), never the content.
fn read_bounded(path: &str) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without waiting (a FIFO would wait for a writer), then checked through the handle:
    // a check of the path before opening would leave a moment to swap the file for a FIFO.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} is not a regular file"));
    }
    if meta.len() > FILE_LIMIT {
        return Err(format!("{path} is larger than {FILE_LIMIT} bytes"));
    }
    let mut bytes = Vec::new();
    file.take(FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if bytes.len() as u64 > FILE_LIMIT {
        return Err(format!("{path} is larger than {FILE_LIMIT} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{path} is not UTF-8 text"))
}

/// The value of `name` in a Java-style properties text (`name=value`, `#` and `!` comments).
fn property(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with('!'))
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().to_string())
}

/// Values that came from `${...}` references, each with its reference: whatever shows a part of the
/// deployment (a reply, a log line, a warning) passes its text through [`Hidden::hide`] (SPEC 2.1).
#[derive(Clone, Default, PartialEq)]
pub struct Hidden(Vec<(String, String)>);

impl std::fmt::Debug for Hidden {
    // The references only: the values are what must not be shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(_, reference)| reference))
            .finish()
    }
}

impl Hidden {
    /// Records that `value` came from `reference` (empty values hide nothing).
    pub fn add(&mut self, value: &str, reference: &str) {
        if !value.is_empty() && !self.0.iter().any(|(v, _)| v == value) {
            self.0.push((value.to_string(), reference.to_string()));
            // The longest first, so that a value containing another is replaced whole.
            self.0.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        }
    }

    /// Values shorter than this match ordinary words and numbers: in free text they are replaced
    /// only where they stand alone (see [`Hidden::hide`]).
    pub const SHORT: usize = 4;

    /// `text` with every recorded value replaced by its reference. A value shorter than
    /// [`Hidden::SHORT`] bytes is replaced only where it stands alone, between characters that are
    /// not letters, digits or `_` (a user `sa` in "for user 'sa'", not in "usage"), and a short
    /// number not at all (a port or a count is shown as it is).
    pub fn hide(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, reference) in &self.0 {
            if !out.contains(value.as_str()) {
                continue;
            }
            if value.len() >= Self::SHORT {
                out = out.replace(value.as_str(), reference);
            } else if !value.bytes().all(|b| b.is_ascii_digit()) {
                out = replace_alone(&out, value, reference);
            }
        }
        out
    }

    /// A whole field shown on its own (a host, a database name): its reference if it is a value.
    pub fn field(&self, text: &str) -> String {
        match self.0.iter().find(|(v, _)| v == text) {
            Some((_, reference)) => reference.clone(),
            None => self.hide(text),
        }
    }
}

/// `text` with each occurrence of `value` that stands alone (see [`Hidden::hide`]) replaced.
fn replace_alone(text: &str, value: &str, reference: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(value) {
        let end = at + value.len();
        if word(text[..at].chars().next_back()) || word(text[end..].chars().next()) {
            continue;
        }
        out.push_str(&text[copied..at]);
        out.push_str(reference);
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// A scalar with its references replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// The text after resolution.
    pub text: String,
    /// Each resolved value with the reference it came from, to hide it in messages.
    pub resolved: Vec<(String, String)>,
}

impl Expanded {
    /// Whether any part came from a reference: then the text must not appear in a message.
    pub fn referenced(&self) -> bool {
        !self.resolved.is_empty()
    }

    /// `` `text` `` after a space, for a message; nothing when the text came from a reference.
    pub fn mention(&self) -> String {
        if self.referenced() {
            String::new()
        } else {
            format!(" `{}`", self.text)
        }
    }
}

/// Replaces every `${kind:arg}` in `text`; the errors name each failing reference, never a value.
pub fn expand(text: &str, resolver: &dyn Resolver) -> Result<Expanded, Vec<String>> {
    let mut out = String::new();
    let mut errors = Vec::new();
    let mut resolved = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            errors.push("unterminated reference: `${` without a closing `}`".to_string());
            break;
        };
        let reference = &rest[start..start + len + 1];
        let inner = &reference[2..reference.len() - 1];
        rest = &rest[start + len + 1..];
        match inner.split_once(':') {
            Some((kind, arg)) if REFERENCE_KINDS.contains(&kind) && !arg.is_empty() => {
                match resolver.resolve(kind, arg) {
                    Ok(value) => {
                        out.push_str(&value);
                        resolved.push((value, reference.to_string()));
                    }
                    Err(e) => errors.push(format!("cannot resolve {reference}: {e}")),
                }
            }
            Some((kind, _)) if !REFERENCE_KINDS.contains(&kind) => errors.push(format!(
                "unknown reference kind `{kind}` in {reference}; expected env, file or secrets"
            )),
            _ => errors.push(format!(
                "malformed reference {reference}; write ${{env:NAME}}, ${{file:/path}}, \
                 ${{file:/path:prop}} or ${{secrets:NAME}}"
            )),
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(Expanded {
            text: out,
            resolved,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io::Write;

    fn secrets() -> SystemResolver {
        SystemResolver {
            secrets: BTreeMap::from([("PG_PASSWORD".to_string(), "s3cret".to_string())]),
        }
    }

    #[test]
    fn plain_text_is_unchanged_and_not_referenced() {
        let e = expand("postgres", &secrets()).unwrap();
        assert_eq!(
            e,
            Expanded {
                text: "postgres".into(),
                resolved: Vec::new(),
            }
        );
        assert!(!e.referenced());
    }

    #[test]
    fn secrets_resolve_whole_or_embedded() {
        let r = secrets();
        assert_eq!(expand("${secrets:PG_PASSWORD}", &r).unwrap().text, "s3cret");
        let e = expand("pre-${secrets:PG_PASSWORD}-post", &r).unwrap();
        assert_eq!(
            e,
            Expanded {
                text: "pre-s3cret-post".into(),
                resolved: vec![("s3cret".into(), "${secrets:PG_PASSWORD}".into())],
            }
        );
        assert!(e.referenced());
    }

    #[test]
    fn environment_variables_resolve() {
        // PATH is set in every test environment; setting variables would race other tests.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(expand("${env:PATH}", &secrets()).unwrap().text, path);
    }

    #[test]
    fn files_resolve_without_trailing_newline() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"line one\nline two\n\n").unwrap();
        let text = format!("${{file:{}}}", f.path().display());
        assert_eq!(
            expand(&text, &secrets()).unwrap().text,
            "line one\nline two"
        );
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        // A device or a FIFO would block the server's main thread; /dev/zero would never end.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // A FIFO with no writer: opened without waiting, then refused.
        for path in ["/dev/zero", "/tmp", fifo.to_str().unwrap()] {
            let err = expand(&format!("${{file:{path}}}"), &secrets()).unwrap_err();
            assert!(err[0].contains("is not a regular file"), "{path}: {err:?}");
        }
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(FILE_LIMIT + 1).unwrap();
        let err = expand(&format!("${{file:{}}}", f.path().display()), &secrets()).unwrap_err();
        assert!(err[0].contains("is larger than 1048576 bytes"), "{err:?}");
    }

    #[test]
    fn properties_files_resolve_one_property() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"# comment\nuser = app\npassword=pa=ss\n")
            .unwrap();
        let path = f.path().display();
        let r = secrets();
        assert_eq!(
            expand(&format!("${{file:{path}:password}}"), &r)
                .unwrap()
                .text,
            "pa=ss"
        );
        assert_eq!(
            expand(&format!("${{file:{path}:user}}"), &r).unwrap().text,
            "app"
        );
        let err = expand(&format!("${{file:{path}:port}}"), &r).unwrap_err();
        assert_eq!(
            err,
            [format!(
                "cannot resolve ${{file:{path}:port}}: no `port=` line in properties file {path}"
            )]
        );
    }

    #[test]
    fn unresolvable_references_are_named_without_values() {
        let err = expand("${env:RDI_TEST_SURELY_UNSET}/${secrets:NOPE}", &secrets()).unwrap_err();
        assert_eq!(
            err,
            [
                "cannot resolve ${env:RDI_TEST_SURELY_UNSET}: environment variable not set in the redis-server \
                 process (set it where the server starts, or store the value with RDI.SET-SECRET \
                 and write ${secrets:NAME})",
                "cannot resolve ${secrets:NOPE}: secret not set; store it with RDI.SET-SECRET",
            ]
        );
        let err = expand("${file:/nonexistent/rdi}", &secrets()).unwrap_err();
        assert!(err[0]
            .starts_with("cannot resolve ${file:/nonexistent/rdi}: cannot read /nonexistent/rdi:"));
    }

    #[test]
    fn malformed_references_are_problems() {
        let r = secrets();
        assert_eq!(
            expand("${vault:x}", &r).unwrap_err(),
            ["unknown reference kind `vault` in ${vault:x}; expected env, file or secrets"]
        );
        assert!(
            expand("${env}", &r).unwrap_err()[0].starts_with("malformed reference ${env}; write")
        );
        assert_eq!(
            expand("a${env:X", &r).unwrap_err(),
            ["unterminated reference: `${` without a closing `}`"]
        );
    }

    #[test]
    fn debug_lists_secret_names_only() {
        let shown = format!("{:?}", secrets());
        assert!(shown.contains("PG_PASSWORD"));
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn a_short_value_is_hidden_where_it_stands_alone_and_a_short_number_is_shown() {
        let mut hidden = Hidden::default();
        hidden.add("sa", "${secrets:USER}");
        hidden.add("80", "${env:PORT}");
        hidden.add("s3cret", "${secrets:PW}");
        assert_eq!(
            hidden.hide("Login failed for user 'sa' (usage: sa,sa sa_x xsa s3cret) sa"),
            "Login failed for user '${secrets:USER}' (usage: ${secrets:USER},${secrets:USER} \
             sa_x xsa ${secrets:PW}) ${secrets:USER}"
        );
        assert_eq!(hidden.hide("sa"), "${secrets:USER}");
        assert_eq!(hidden.hide("sasa"), "sasa");
        assert_eq!(hidden.hide("port 80: 80 rows"), "port 80: 80 rows");
        assert_eq!(hidden.field("80"), "${env:PORT}");
    }

    #[test]
    fn mention_hides_text_that_came_from_a_reference() {
        let literal = expand("mysql", &secrets()).unwrap();
        assert_eq!(literal.mention(), " `mysql`");
        assert_eq!(
            expand("${secrets:PG_PASSWORD}", &secrets())
                .unwrap()
                .mention(),
            ""
        );
    }
}
