//! Registration of RDI's custom JMESPath functions, and the helpers they share.

use jmespath::functions::{ArgumentType, CustomFunction, Signature};
use jmespath::{Context, ErrorReason, JmespathError, Rcvar, Runtime, Variable};

use super::{digest, entries, text, time};

/// What a custom function returns.
pub type Outcome = Result<Rcvar, JmespathError>;
/// A custom function's body; arguments are already checked against its signature.
pub type Body = fn(&[Rcvar], &mut Context<'_>) -> Outcome;

/// Argument kinds, as signatures write them.
pub mod arg {
    use jmespath::functions::ArgumentType;

    /// A string, or null (which most functions pass through as null).
    pub fn text() -> ArgumentType {
        ArgumentType::Union(vec![ArgumentType::String, ArgumentType::Null])
    }
    /// A number.
    pub fn number() -> ArgumentType {
        ArgumentType::Number
    }
}

/// One custom function: its name, its arguments, the kind of its optional last one, and its body.
type Definition = (&'static str, Vec<ArgumentType>, Option<ArgumentType>, Body);

/// Registers every custom function of SPEC §3.3 on `runtime`.
pub fn register(runtime: &mut Runtime) {
    for (name, inputs, variadic, body) in definitions() {
        let f = CustomFunction::new(Signature::new(inputs, variadic), Box::new(body));
        runtime.register_function(name, Box::new(f));
    }
}

/// How many arguments a function takes: at least `min`, at most `max` (`None`: no upper bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arity {
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments, if bounded.
    pub max: Option<usize>,
}

/// The standard JMESPath functions (the `jmespath` crate's signatures, which it does not expose):
/// name, fewest arguments, whether more may follow.
pub const BUILTIN: &[(&str, usize, bool)] = &[
    ("abs", 1, false),
    ("avg", 1, false),
    ("ceil", 1, false),
    ("contains", 2, false),
    ("ends_with", 2, false),
    ("floor", 1, false),
    ("join", 2, false),
    ("keys", 1, false),
    ("length", 1, false),
    ("map", 2, false),
    ("max", 1, false),
    ("max_by", 2, false),
    ("merge", 1, true),
    ("min", 1, false),
    ("min_by", 2, false),
    ("not_null", 1, true),
    ("reverse", 1, false),
    ("sort", 1, false),
    ("sort_by", 2, false),
    ("starts_with", 2, false),
    ("sum", 1, false),
    ("to_array", 1, false),
    ("to_number", 1, false),
    ("to_string", 1, false),
    ("type", 1, false),
    ("values", 1, false),
];

/// The arity of a standard or custom function; `None` for an unknown name. A custom function with a
/// variadic signature takes one optional argument (`split`'s delimiter, `hash`'s algorithm): its body
/// refuses more.
pub fn arity(name: &str) -> Option<Arity> {
    if let Some((_, min, more)) = BUILTIN.iter().find(|(n, _, _)| *n == name) {
        return Some(Arity {
            min: *min,
            max: (!more).then_some(*min),
        });
    }
    definitions()
        .into_iter()
        .find(|(n, _, _, _)| *n == name)
        .map(|(_, inputs, variadic, _)| Arity {
            min: inputs.len(),
            max: Some(inputs.len() + usize::from(variadic.is_some())),
        })
}

/// Every custom function of SPEC §3.3.
fn definitions() -> Vec<Definition> {
    let s = arg::text;
    let n = arg::number;
    let any = || ArgumentType::Any;
    vec![
        ("base64_decode", vec![s()], None, text::base64_decode),
        ("capitalize", vec![s()], None, text::capitalize),
        ("concat", vec![ArgumentType::Array], None, text::concat),
        ("lower", vec![s()], None, text::lower),
        ("upper", vec![s()], None, text::upper),
        ("left", vec![s(), n()], None, text::left),
        ("right", vec![s(), n()], None, text::right),
        ("mid", vec![s(), n(), n()], None, text::mid),
        ("replace", vec![s(), s(), s()], None, text::replace),
        (
            "regex_replace",
            vec![s(), s(), s()],
            None,
            text::regex_replace,
        ),
        ("split", vec![s()], Some(ArgumentType::String), text::split),
        ("json_parse", vec![s()], None, entries::json_parse),
        ("parse_json", vec![s()], None, entries::json_parse),
        ("in", vec![any(), ArgumentType::Array], None, entries::is_in),
        (
            "to_entries",
            vec![ArgumentType::Object],
            None,
            entries::to_entries,
        ),
        (
            "from_entries",
            vec![ArgumentType::Array],
            None,
            entries::from_entries,
        ),
        (
            "filter_entries",
            vec![ArgumentType::Object, ArgumentType::String],
            None,
            entries::filter_entries,
        ),
        ("hash", vec![s()], Some(ArgumentType::String), digest::hash),
        (
            "time_delta_days",
            vec![ArgumentType::Union(vec![
                ArgumentType::String,
                ArgumentType::Number,
                ArgumentType::Null,
            ])],
            None,
            time::delta_days,
        ),
        (
            "time_delta_seconds",
            vec![ArgumentType::Union(vec![
                ArgumentType::String,
                ArgumentType::Number,
                ArgumentType::Null,
            ])],
            None,
            time::delta_seconds,
        ),
        ("uuid", vec![], None, text::uuid),
    ]
}

/// An error of a custom function: `what` says what to change, never showing the value.
pub fn fail(ctx: &Context<'_>, what: String) -> JmespathError {
    JmespathError::from_ctx(ctx, ErrorReason::Parse(format!("fn {what}")))
}

/// The string argument `i`, or `None` when it is null (or absent).
pub fn string_arg(args: &[Rcvar], i: usize) -> Option<&str> {
    args.get(i).and_then(|v| v.as_string()).map(String::as_str)
}

/// The number argument `i` as a non-negative count of characters.
pub fn count_arg(
    args: &[Rcvar],
    i: usize,
    name: &str,
    ctx: &Context<'_>,
) -> Result<usize, JmespathError> {
    match args.get(i).and_then(|v| v.as_number()) {
        Some(f) if f >= 0.0 && f.fract() == 0.0 => Ok(f as usize),
        _ => Err(fail(
            ctx,
            format!("{name}: argument {} must be a non-negative integer", i + 1),
        )),
    }
}

/// A string result.
pub fn string(s: String) -> Outcome {
    Ok(Rcvar::new(Variable::String(s)))
}

/// A null result.
pub fn null() -> Outcome {
    Ok(Rcvar::new(Variable::Null))
}

/// Converts a JSON value to a JMESPath value.
pub fn variable(v: &serde_json::Value, ctx: &Context<'_>) -> Outcome {
    Variable::try_from(v)
        .map(Rcvar::new)
        .map_err(|_| fail(ctx, "value cannot be converted".into()))
}
