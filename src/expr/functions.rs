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

/// Registers every custom function of SPEC §3.3 on `runtime`.
pub fn register(runtime: &mut Runtime) {
    let s = arg::text;
    let n = arg::number;
    let any = || ArgumentType::Any;
    let defs: Vec<(&str, Vec<ArgumentType>, Option<ArgumentType>, Body)> = vec![
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
    ];
    for (name, inputs, variadic, body) in defs {
        let f = CustomFunction::new(Signature::new(inputs, variadic), Box::new(body));
        runtime.register_function(name, Box::new(f));
    }
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
