//! `hash(s, algo='sha1')`: hex digests with the RustCrypto hashes.

use jmespath::{Context, Rcvar};
use sha2::Digest;

use super::functions::{fail, null, string, string_arg, Outcome};

/// Every algorithm name `hash` accepts.
pub const ALGORITHMS: &[&str] = &[
    "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384", "sha3_512",
    "md5", "blake2b", "blake2s",
];

fn hex<D: Digest>(data: &[u8]) -> String {
    let digest = D::digest(data);
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The hex digest of `data` with `algo`, or `None` for an unknown algorithm.
pub fn digest(algo: &str, data: &[u8]) -> Option<String> {
    Some(match algo {
        "sha1" => hex::<sha1::Sha1>(data),
        "sha224" => hex::<sha2::Sha224>(data),
        "sha256" => hex::<sha2::Sha256>(data),
        "sha384" => hex::<sha2::Sha384>(data),
        "sha512" => hex::<sha2::Sha512>(data),
        "sha3_224" => hex::<sha3::Sha3_224>(data),
        "sha3_256" => hex::<sha3::Sha3_256>(data),
        "sha3_384" => hex::<sha3::Sha3_384>(data),
        "sha3_512" => hex::<sha3::Sha3_512>(data),
        "md5" => hex::<md5::Md5>(data),
        "blake2b" => hex::<blake2::Blake2b512>(data),
        "blake2s" => hex::<blake2::Blake2s256>(data),
        _ => return None,
    })
}

/// `hash(s, algo='sha1')`.
pub fn hash(args: &[Rcvar], ctx: &mut Context<'_>) -> Outcome {
    if args.len() > 2 {
        return Err(fail(
            ctx,
            "hash: takes a string and an optional algorithm name".into(),
        ));
    }
    let algo = string_arg(args, 1).unwrap_or("sha1").to_ascii_lowercase();
    let Some(s) = string_arg(args, 0) else {
        return null();
    };
    match digest(&algo, s.as_bytes()) {
        Some(hex) => string(hex),
        None => Err(fail(
            ctx,
            format!(
                "hash: unknown algorithm `{algo}`; use one of: {}",
                ALGORITHMS.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::jmes::JmesExpr;
    use serde_json::{json, Value};

    fn eval(expr: &str) -> Result<Value, String> {
        let rec = json!({"s": "abc", "n": null, "x": 1, "algo": "crc32"});
        JmesExpr::compile(expr)
            .map_err(|e| e.to_string())?
            .eval(&rec)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn golden_digests_of_abc() {
        let cases = [
            ("hash(s)", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "hash(s, 'sha256')",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                "hash(s, 'SHA224')",
                "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            ),
            ("hash(s, 'md5')", "900150983cd24fb0d6963f7d28e17f72"),
            (
                "hash(s, 'sha3_256')",
                "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
            ),
            (
                "hash(s, 'blake2s')",
                "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(eval(expr), Ok(json!(want)), "{expr}");
        }
        for (algo, len) in [
            ("sha384", 96),
            ("sha512", 128),
            ("sha3_224", 56),
            ("sha3_384", 96),
            ("sha3_512", 128),
            ("blake2b", 128),
        ] {
            let got = eval(&format!("hash(s, '{algo}')")).unwrap();
            assert_eq!(got.as_str().unwrap().len(), len, "{algo}");
        }
    }

    #[test]
    fn hash_of_null_is_null_and_bad_arguments_are_errors() {
        assert_eq!(eval("hash(n)"), Ok(Value::Null));
        // A literal algorithm is checked at compile time (see `calls`), one read from the record here.
        assert!(eval("hash(s, algo)")
            .unwrap_err()
            .contains("hash: unknown algorithm `crc32`; use one of: sha1"));
        assert!(eval("hash(x)")
            .unwrap_err()
            .contains("argument 1 must be string|null, not number"));
        assert!(eval("hash(s, 'md5', 'x')")
            .unwrap_err()
            .contains("`hash` takes 1 or 2 arguments, got 3"));
    }
}
