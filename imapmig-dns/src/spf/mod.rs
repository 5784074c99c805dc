//! SPF (RFC 7208): record parsing, `check_host()` evaluation, and cutover lint.
//!
//! [`SpfRecord::parse`] reads the full grammar of RFC 7208 §12, macros
//! included, and names the byte where a record goes wrong. [`check_host`]
//! evaluates a record over any [`crate::Resolver`] with the limits of §4.6.4
//! counted, never timed, and returns an [`SpfOutcome`] carrying the result,
//! the explanation and a trace of every DNS question.

mod eval;
mod lint;
mod macros;
mod record;

pub use eval::{
    SpfLimits, SpfOutcome, SpfQuery, SpfResult, TraceAnswer, TraceEntry, check_host, evaluate,
    reverse_name,
};
pub use lint::{SpfLint, lint};
pub use macros::{
    MAX_EXPANSION_LEN, MAX_TRANSFORMER_DIGITS, MacroLetter, MacroPart, MacroString, MacroValues,
};
pub use record::{
    Directive, DualCidr, MAX_RECORD_LEN, Mechanism, Modifier, Qualifier, SpfRecord, Term, is_spf1,
};
