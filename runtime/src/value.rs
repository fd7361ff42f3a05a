//! Run-time values.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A value of an XOP type. Records and enums carry their type's index in the program, so
/// intrinsics and error messages can find field and variant names. The order (derived) only
/// serves to keep sets canonical, so that two equal sets are equal values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub enum Value {
    /// No value (an absent signal, a missing optional field).
    Absent,
    /// `Bool`
    Bool(bool),
    /// `Int`
    Int(i64),
    /// `Decimal`
    Decimal(Decimal),
    /// `Money`: amount and ISO 4217 currency code.
    Money(Decimal, Arc<str>),
    /// `Text`
    Text(Arc<str>),
    /// `Duration`, in milliseconds.
    Duration(i64),
    /// `Time`, in milliseconds since 1970-01-01T00:00:00Z.
    Time(i64),
    /// `Tz`: an IANA time zone name.
    Tz(Arc<str>),
    /// `Id`
    Id(Arc<str>),
    /// A channel, purpose or role: its index in [`crate::ir::Program::symbols`].
    Symbol(u32),
    /// An enum value: the enum's index in the program and the variant's index.
    Enum(u32, u32),
    /// A record: its type's index in the program and its fields in declaration order.
    Record(u32, Arc<[Value]>),
    /// `List<T>`, and `Set<T>` (elements unique and sorted, so equal sets are equal values).
    List(Arc<[Value]>),
}

impl Value {
    /// A text value.
    pub fn text(s: &str) -> Value {
        Value::Text(Arc::from(s))
    }

    /// The Boolean inside, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Absent => "absent",
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::Decimal(_) => "Decimal",
            Value::Money(..) => "Money",
            Value::Text(_) => "Text",
            Value::Duration(_) => "Duration",
            Value::Time(_) => "Time",
            Value::Tz(_) => "Tz",
            Value::Id(_) => "Id",
            Value::Symbol(_) => "symbol",
            Value::Enum(..) => "enum value",
            Value::Record(..) => "record",
            Value::List(_) => "list",
        }
    }
}

crate::ir::read_with_nesting_limit!(Value);

/// A duration in milliseconds as XOP writes it, in the largest units: `5400000` → `1h30m`,
/// `0` → `0s`, `-60000` → `-1m`.
pub fn duration_text(ms: i64) -> String {
    const UNITS: [(&str, u64); 6] = [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::from(if ms < 0 { "-" } else { "" });
    let mut rest = ms.unsigned_abs();
    for (unit, size) in UNITS {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_largest_units() {
        assert_eq!(duration_text(5_400_000), "1h30m");
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(-60_000), "-1m");
        assert_eq!(duration_text(604_800_001), "1w1ms");
        assert_eq!(duration_text(i64::MIN), "-15250284452w3d7h12m55s808ms");
    }
}
