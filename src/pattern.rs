//! Redis glob patterns (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), matched on raw key bytes as Redis does.

/// A compiled key pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pattern: Vec<u8>,
    /// The literal bytes before the first special character: a cheap first test.
    prefix_len: usize,
}

impl KeyPattern {
    /// Compiles a pattern; every byte string is a valid Redis pattern.
    pub fn new(pattern: &str) -> Self {
        let pattern = pattern.as_bytes().to_vec();
        let prefix_len = pattern
            .iter()
            .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
            .unwrap_or(pattern.len());
        KeyPattern {
            pattern,
            prefix_len,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> String {
        String::from_utf8_lossy(&self.pattern).into_owned()
    }

    /// Whether `key` matches.
    pub fn matches(&self, key: &[u8]) -> bool {
        if !key.starts_with(&self.pattern[..self.prefix_len]) {
            return false;
        }
        glob_match(&self.pattern[self.prefix_len..], &key[self.prefix_len..])
    }
}

/// Iterative glob matching with backtracking to the last `*` (linear in practice, no recursion).
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    while pi < p.len() && p[pi] == b'*' {
                        pi += 1;
                    }
                    if pi == p.len() {
                        return true;
                    }
                    star = Some((pi, si));
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(p, pi, s[si]) {
                        if matched {
                            pi = next;
                            si += 1;
                            continue;
                        }
                    }
                }
                b'\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == s[si] {
                        pi += 2;
                        si += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[si] {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `p[start] == b'['`; returns (matched, index after `]`).
fn match_class(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = i < p.len() && p[i] == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < p.len() && p[i] != b']' {
        if p[i] == b'\\' && i + 1 < p.len() {
            matched |= p[i + 1] == c;
            i += 2;
        } else if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            let (lo, hi) = (p[i].min(p[i + 2]), p[i].max(p[i + 2]));
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    if i >= p.len() {
        return None; // unterminated class: Redis treats the rest literally; we do not match
    }
    Some((matched != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, k: &str) -> bool {
        KeyPattern::new(p).matches(k.as_bytes())
    }

    #[test]
    fn star_matches_any_suffix() {
        assert!(m("emp:*", "emp:1"));
        assert!(m("emp:*", "emp:"));
        assert!(!m("emp:*", "em"));
        assert!(!m("emp:*", "dept:1"));
        assert!(m("*", "anything"));
    }

    #[test]
    fn star_in_the_middle_backtracks() {
        assert!(m("a*b*c", "axxbyyc"));
        assert!(m("a*b", "abab"));
        assert!(!m("a*b", "abac"));
        assert!(m("user:*:profile", "user:12:profile"));
        assert!(!m("user:*:profile", "user:12:profiles"));
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(m("emp:?", "emp:1"));
        assert!(!m("emp:?", "emp:12"));
        assert!(m("emp:[0-9]", "emp:5"));
        assert!(!m("emp:[0-9]", "emp:a"));
        assert!(m("emp:[^0-9]", "emp:a"));
        assert!(m("emp:[abc]x", "emp:bx"));
    }

    #[test]
    fn escapes_are_literal() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
    }
}
