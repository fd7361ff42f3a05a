//! The standard library's intrinsics, as the reference interpreter evaluates them.
//!
//! Every intrinsic is total: a wrong number of arguments, an argument of the wrong kind, a
//! record without the fields the intrinsic reads, an unknown time zone or an overflow is an
//! `Err` with a message, which makes the decision fail closed. Nothing here panics.
//!
//! Windows (`contacts_within`, `swapped_within`) are compared exactly, in 128-bit arithmetic:
//! `now - window <= t` is decided without computing `now - window` in 64 bits, so no window,
//! however large or negative, is an overflow error.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use crate::ir::{Intrinsic, Program, RecordType};
use crate::value::Value;
use crate::zone::{Field, Zone};

/// Milliseconds in a minute, an hour, a day.
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The intrinsic's name in the standard library, for error messages.
pub fn name(which: Intrinsic) -> &'static str {
    match which {
        Intrinsic::Consent => "consent",
        Intrinsic::LocalHour => "local_hour",
        Intrinsic::DayOfWeek => "day_of_week",
        Intrinsic::Hours => "hours",
        Intrinsic::Minutes => "minutes",
        Intrinsic::Days => "days",
        Intrinsic::ContactsWithin => "contacts_within",
        Intrinsic::ContactsOnWithin => "contacts_on_within",
        Intrinsic::SwappedWithin => "swapped_within",
    }
}

/// How many arguments the intrinsic takes (after lowering: `consent` and the contact
/// intrinsics take the subject's list, not the subject).
pub fn arity(which: Intrinsic) -> usize {
    match which {
        Intrinsic::Consent => 3,
        Intrinsic::LocalHour | Intrinsic::DayOfWeek => 2,
        Intrinsic::Hours | Intrinsic::Minutes | Intrinsic::Days => 1,
        Intrinsic::ContactsWithin => 2,
        Intrinsic::ContactsOnWithin => 3,
        Intrinsic::SwappedWithin => 2,
    }
}

/// Calls intrinsic `which` on `args` at decision time `now_ms`.
pub fn call(
    program: &Program,
    which: Intrinsic,
    args: &[Value],
    now_ms: i64,
) -> Result<Value, String> {
    let fname = name(which);
    if args.len() != arity(which) {
        return Err(format!(
            "{fname} takes {} argument(s), got {}",
            arity(which),
            args.len()
        ));
    }
    match which {
        Intrinsic::Consent => {
            let consents = list(fname, 1, &args[0])?;
            let purpose = symbol(fname, 2, &args[1])?;
            let channel = symbol(fname, 3, &args[2])?;
            consent(program, consents, purpose, channel, now_ms).map(Value::Bool)
        }
        Intrinsic::LocalHour | Intrinsic::DayOfWeek => {
            let t = time(fname, 1, &args[0])?;
            let tz = tz_name(fname, 2, &args[1])?;
            let field = if which == Intrinsic::LocalHour {
                Field::Hour
            } else {
                Field::Weekday
            };
            time_zone(tz)?
                .field(t, field)
                .map(Value::Int)
                .ok_or_else(|| format!("the instant {t}ms is outside the supported range of times"))
        }
        Intrinsic::Hours | Intrinsic::Minutes | Intrinsic::Days => {
            let n = int(fname, 1, &args[0])?;
            let unit = match which {
                Intrinsic::Hours => HOUR_MS,
                Intrinsic::Minutes => MINUTE_MS,
                _ => DAY_MS,
            };
            n.checked_mul(unit)
                .map(Value::Duration)
                .ok_or_else(|| format!("{fname}({n}) overflows the range of durations"))
        }
        Intrinsic::ContactsWithin => {
            let contacts = list(fname, 1, &args[0])?;
            let window = duration(fname, 2, &args[1])?;
            contacts_within(program, contacts, None, window, now_ms).map(Value::Int)
        }
        Intrinsic::ContactsOnWithin => {
            let contacts = list(fname, 1, &args[0])?;
            let channel = symbol(fname, 2, &args[1])?;
            let window = duration(fname, 3, &args[2])?;
            contacts_within(program, contacts, Some(channel), window, now_ms).map(Value::Int)
        }
        Intrinsic::SwappedWithin => {
            let window = duration(fname, 2, &args[1])?;
            swapped_within(program, &args[0], window, now_ms).map(Value::Bool)
        }
    }
}

/// Whether instant `t` is at or after `now - window` (exactly, without overflow).
fn at_or_after_window_start(t: i64, now: i64, window: i64) -> bool {
    i128::from(t) >= i128::from(now) - i128::from(window)
}

/// `std.consent.consent`, over the subject's `consents`.
fn consent(
    program: &Program,
    consents: &[Value],
    purpose: u32,
    channel: u32,
    now: i64,
) -> Result<bool, String> {
    const F: &str = "consent";
    for (i, k) in consents.iter().enumerate() {
        let (rt, fields) = record(program, F, i, k)?;
        let k_purpose = field(F, rt, fields, "purpose")?;
        let k_channel = field(F, rt, fields, "channel")?;
        let given_at = field(F, rt, fields, "given_at")?;
        let withdrawn_at = field(F, rt, fields, "withdrawn_at")?;
        let k_purpose = field_symbol(F, "purpose", k_purpose)?;
        let k_channel = field_symbol(F, "channel", k_channel)?;
        let given_at = field_time(F, "given_at", given_at)?;
        let withdrawn_at = field_opt_time(F, "withdrawn_at", withdrawn_at)?;
        if k_purpose == purpose
            && k_channel == channel
            && given_at <= now
            && withdrawn_at.is_none_or(|w| w > now)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `std.contact.contacts_within` (and `contacts_on_within` with a channel), over the subject's
/// `contacts`: those with `now - window <= contacted_at <= now`.
fn contacts_within(
    program: &Program,
    contacts: &[Value],
    channel: Option<u32>,
    window: i64,
    now: i64,
) -> Result<i64, String> {
    let fname = if channel.is_some() {
        "contacts_on_within"
    } else {
        "contacts_within"
    };
    let mut n: i64 = 0;
    for (i, k) in contacts.iter().enumerate() {
        let (rt, fields) = record(program, fname, i, k)?;
        let at = field_time(
            fname,
            "contacted_at",
            field(fname, rt, fields, "contacted_at")?,
        )?;
        let on_channel = match channel {
            None => true,
            Some(ch) => field_symbol(fname, "channel", field(fname, rt, fields, "channel")?)? == ch,
        };
        if on_channel && at <= now && at_or_after_window_start(at, now, window) {
            n = n
                .checked_add(1)
                .ok_or_else(|| format!("{fname}: count overflows"))?;
        }
    }
    Ok(n)
}

/// `std.camara.swapped_within`: true when `latest_swap` is present and at or after
/// `now - window`; with `latest_swap` absent, false only when `monitored_period` is present and
/// at least `window`, true otherwise (failing closed). The `swapped` field is not read.
fn swapped_within(program: &Program, s: &Value, window: i64, now: i64) -> Result<bool, String> {
    const F: &str = "swapped_within";
    let (rt, fields) = match s {
        Value::Record(ty, fields) => {
            let rt = record_type(program, F, *ty)?;
            (rt, fields)
        }
        other => {
            return Err(format!(
                "{F}: argument 1 is {}, not a SimSwap record",
                other.kind()
            ));
        }
    };
    let latest = field_opt_time(F, "latest_swap", field(F, rt, fields, "latest_swap")?)?;
    match latest {
        Some(t) => Ok(at_or_after_window_start(t, now, window)),
        None => {
            let period = match field(F, rt, fields, "monitored_period")? {
                Value::Absent => None,
                Value::Duration(d) => Some(*d),
                other => {
                    return Err(format!(
                        "{F}: field `monitored_period` is {}, not a Duration",
                        other.kind()
                    ));
                }
            };
            Ok(period.is_none_or(|p| p < window))
        }
    }
}

/// The IANA time zone `name`, from the bundled tz database.
///
/// Looking a zone up parses its rules (microseconds), and every input check and every
/// `local_hour` needs one, so zones are kept once found; a [`Zone`] is a shared pointer.
/// Unknown names are not kept, so input cannot grow the cache.
pub fn time_zone(name: &str) -> Result<Zone, String> {
    static ZONES: OnceLock<RwLock<HashMap<String, Zone>>> = OnceLock::new();
    let zones = ZONES.get_or_init(Default::default);
    if let Some(zone) = zones.read().ok().and_then(|z| z.get(name).cloned()) {
        return Ok(zone);
    }
    let zone = Zone::get(name)?;
    if let Ok(mut z) = zones.write() {
        z.insert(name.to_string(), zone.clone());
    }
    Ok(zone)
}

// ------------------------------------------------------------------ argument and field access

fn list<'v>(f: &str, pos: usize, v: &'v Value) -> Result<&'v [Value], String> {
    match v {
        Value::List(xs) => Ok(xs),
        other => Err(format!(
            "{f}: argument {pos} is {}, not a list",
            other.kind()
        )),
    }
}

fn symbol(f: &str, pos: usize, v: &Value) -> Result<u32, String> {
    match v {
        Value::Symbol(s) => Ok(*s),
        other => Err(format!(
            "{f}: argument {pos} is {}, not a symbol",
            other.kind()
        )),
    }
}

fn time(f: &str, pos: usize, v: &Value) -> Result<i64, String> {
    match v {
        Value::Time(t) => Ok(*t),
        other => Err(format!(
            "{f}: argument {pos} is {}, not a Time",
            other.kind()
        )),
    }
}

fn duration(f: &str, pos: usize, v: &Value) -> Result<i64, String> {
    match v {
        Value::Duration(d) => Ok(*d),
        other => Err(format!(
            "{f}: argument {pos} is {}, not a Duration",
            other.kind()
        )),
    }
}

fn int(f: &str, pos: usize, v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(n) => Ok(*n),
        other => Err(format!(
            "{f}: argument {pos} is {}, not an Int",
            other.kind()
        )),
    }
}

fn tz_name<'v>(f: &str, pos: usize, v: &'v Value) -> Result<&'v str, String> {
    match v {
        Value::Tz(name) => Ok(name),
        other => Err(format!("{f}: argument {pos} is {}, not a Tz", other.kind())),
    }
}

fn record_type<'p>(program: &'p Program, f: &str, ty: u32) -> Result<&'p RecordType, String> {
    usize::try_from(ty)
        .ok()
        .and_then(|i| program.records.get(i))
        .ok_or_else(|| format!("{f}: record type #{ty} is not in the program"))
}

/// Element `i` of a list argument, which must be a record.
fn record<'p, 'v>(
    program: &'p Program,
    f: &str,
    i: usize,
    v: &'v Value,
) -> Result<(&'p RecordType, &'v [Value]), String> {
    match v {
        Value::Record(ty, fields) => Ok((record_type(program, f, *ty)?, fields)),
        other => Err(format!(
            "{f}: element {i} is {}, not a record",
            other.kind()
        )),
    }
}

fn field<'v>(
    f: &str,
    rt: &RecordType,
    fields: &'v [Value],
    name: &str,
) -> Result<&'v Value, String> {
    rt.field(name)
        .and_then(|i| fields.get(i))
        .ok_or_else(|| format!("{f}: record {} has no field `{name}`", rt.name))
}

fn field_symbol(f: &str, name: &str, v: &Value) -> Result<u32, String> {
    match v {
        Value::Symbol(s) => Ok(*s),
        other => Err(format!(
            "{f}: field `{name}` is {}, not a symbol",
            other.kind()
        )),
    }
}

fn field_time(f: &str, name: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Time(t) => Ok(*t),
        other => Err(format!(
            "{f}: field `{name}` is {}, not a Time",
            other.kind()
        )),
    }
}

fn field_opt_time(f: &str, name: &str, v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Absent => Ok(None),
        Value::Time(t) => Ok(Some(*t)),
        other => Err(format!(
            "{f}: field `{name}` is {}, not a Time",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ir::{Field, RecordType, Symbol, SymbolKind, Type};

    const MARKETING: u32 = 0;
    const SERVICE: u32 = 1;
    const SMS: u32 = 2;
    const EMAIL: u32 = 3;
    const CONSENT: u32 = 0;
    const CONTACT: u32 = 1;
    const SIM_SWAP: u32 = 2;

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
            personal: false,
        }
    }

    fn sym(kind: SymbolKind, name: &str, qualified: &str) -> Symbol {
        Symbol {
            kind,
            name: name.into(),
            qualified: qualified.into(),
        }
    }

    fn program() -> Program {
        let opt = |t: Type| Type::Optional(Box::new(t));
        Program {
            records: vec![
                RecordType {
                    name: "std.consent.Consent".into(),
                    fields: vec![
                        field("purpose", Type::Symbol(SymbolKind::Purpose)),
                        field("channel", Type::Symbol(SymbolKind::Channel)),
                        field("given_at", Type::Time),
                        field("withdrawn_at", opt(Type::Time)),
                    ],
                },
                RecordType {
                    name: "std.contact.Contact".into(),
                    // not in the order of the stdlib: fields are found by name
                    fields: vec![
                        field("contacted_at", Type::Time),
                        field("channel", Type::Symbol(SymbolKind::Channel)),
                        field("purpose", Type::Symbol(SymbolKind::Purpose)),
                    ],
                },
                RecordType {
                    name: "std.camara.SimSwap".into(),
                    fields: vec![
                        field("swapped", Type::Bool),
                        field("latest_swap", opt(Type::Time)),
                        field("monitored_period", opt(Type::Duration)),
                    ],
                },
            ],
            symbols: vec![
                sym(SymbolKind::Purpose, "marketing", "std.consent.marketing"),
                sym(SymbolKind::Purpose, "service", "std.consent.service"),
                sym(SymbolKind::Channel, "sms", "std.channel.sms"),
                sym(SymbolKind::Channel, "email", "std.channel.email"),
            ],
            ..Program::default()
        }
    }

    /// Milliseconds since the epoch of an RFC 3339 instant.
    fn at(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>()
            .expect("a valid instant")
            .as_millisecond()
    }

    fn list(xs: Vec<Value>) -> Value {
        Value::List(Arc::from(xs))
    }

    fn consent_rec(purpose: u32, channel: u32, given: i64, withdrawn: Option<i64>) -> Value {
        Value::Record(
            CONSENT,
            Arc::from(vec![
                Value::Symbol(purpose),
                Value::Symbol(channel),
                Value::Time(given),
                withdrawn.map_or(Value::Absent, Value::Time),
            ]),
        )
    }

    fn contact_rec(channel: u32, contacted: i64) -> Value {
        Value::Record(
            CONTACT,
            Arc::from(vec![
                Value::Time(contacted),
                Value::Symbol(channel),
                Value::Symbol(MARKETING),
            ]),
        )
    }

    fn sim_swap(swapped: bool, latest: Option<i64>, period: Option<i64>) -> Value {
        Value::Record(
            SIM_SWAP,
            Arc::from(vec![
                Value::Bool(swapped),
                latest.map_or(Value::Absent, Value::Time),
                period.map_or(Value::Absent, Value::Duration),
            ]),
        )
    }

    fn consent(
        consents: Vec<Value>,
        purpose: u32,
        channel: u32,
        now: i64,
    ) -> Result<Value, String> {
        call(
            &program(),
            Intrinsic::Consent,
            &[
                list(consents),
                Value::Symbol(purpose),
                Value::Symbol(channel),
            ],
            now,
        )
    }

    fn tz(name: &str) -> Value {
        Value::Tz(Arc::from(name))
    }

    fn local_hour(t: &str, zone: &str) -> Result<Value, String> {
        call(
            &program(),
            Intrinsic::LocalHour,
            &[Value::Time(at(t)), tz(zone)],
            0,
        )
    }

    fn day_of_week(t: &str, zone: &str) -> Result<Value, String> {
        call(
            &program(),
            Intrinsic::DayOfWeek,
            &[Value::Time(at(t)), tz(zone)],
            0,
        )
    }

    #[test]
    fn consent_by_purpose_channel_and_time() {
        let now = at("2026-06-01T12:00:00Z");
        let before = at("2026-01-01T00:00:00Z");
        let after = at("2026-07-01T00:00:00Z");
        let yes = Ok(Value::Bool(true));
        let no = Ok(Value::Bool(false));
        let standing = consent_rec(MARKETING, SMS, before, None);
        assert_eq!(consent(vec![standing.clone()], MARKETING, SMS, now), yes);
        assert_eq!(consent(vec![standing.clone()], MARKETING, EMAIL, now), no);
        assert_eq!(consent(vec![standing.clone()], SERVICE, SMS, now), no);
        assert_eq!(consent(vec![], MARKETING, SMS, now), no);
        // given in the future: not yet
        assert_eq!(
            consent(
                vec![consent_rec(MARKETING, SMS, after, None)],
                MARKETING,
                SMS,
                now
            ),
            no
        );
        // given exactly now: yes
        assert_eq!(
            consent(
                vec![consent_rec(MARKETING, SMS, now, None)],
                MARKETING,
                SMS,
                now
            ),
            yes
        );
        // withdrawn before, at, after now
        let w = |t| vec![consent_rec(MARKETING, SMS, before, Some(t))];
        assert_eq!(consent(w(now - 1), MARKETING, SMS, now), no);
        assert_eq!(consent(w(now), MARKETING, SMS, now), no);
        assert_eq!(consent(w(now + 1), MARKETING, SMS, now), yes);
        // withdrawn, then given again: a second record
        let again = vec![
            consent_rec(MARKETING, SMS, before, Some(before + 1000)),
            consent_rec(MARKETING, SMS, before + 2000, None),
        ];
        assert_eq!(consent(again.clone(), MARKETING, SMS, now), yes);
        assert_eq!(consent(again, MARKETING, SMS, before + 1500), no);
    }

    #[test]
    fn consent_errors() {
        let now = 0;
        assert!(consent(vec![Value::Int(1)], MARKETING, SMS, now).is_err());
        assert!(consent(vec![Value::Absent], MARKETING, SMS, now).is_err());
        // a record without the consent fields
        assert!(consent(vec![contact_rec(SMS, 0)], MARKETING, SMS, now).is_err());
        // a record of a type that is not in the program
        let stray = Value::Record(9, Arc::from(vec![]));
        assert!(consent(vec![stray], MARKETING, SMS, now).is_err());
        // withdrawn_at of the wrong kind
        let bad = Value::Record(
            CONSENT,
            Arc::from(vec![
                Value::Symbol(MARKETING),
                Value::Symbol(SMS),
                Value::Time(0),
                Value::Int(5),
            ]),
        );
        assert!(consent(vec![bad], MARKETING, SMS, now).is_err());
        // arity and kinds
        let p = program();
        assert!(
            call(
                &p,
                Intrinsic::Consent,
                &[list(vec![]), Value::Symbol(MARKETING)],
                now
            )
            .is_err()
        );
        assert!(
            call(
                &p,
                Intrinsic::Consent,
                &[Value::Absent, Value::Symbol(0), Value::Symbol(2)],
                now
            )
            .is_err()
        );
    }

    #[test]
    fn local_hour_and_dst_in_paris() {
        let h = local_hour;
        assert_eq!(
            h("2026-11-25T10:30:00Z", "Europe/Paris"),
            Ok(Value::Int(11))
        );
        // spring forward: 02:00 local does not exist on 2026-03-29
        assert_eq!(h("2026-03-29T00:30:00Z", "Europe/Paris"), Ok(Value::Int(1)));
        assert_eq!(h("2026-03-29T00:59:59Z", "Europe/Paris"), Ok(Value::Int(1)));
        assert_eq!(h("2026-03-29T01:00:00Z", "Europe/Paris"), Ok(Value::Int(3)));
        assert_eq!(h("2026-03-29T01:30:00Z", "Europe/Paris"), Ok(Value::Int(3)));
        // fall back: 02:00 local happens twice on 2026-10-25
        assert_eq!(h("2026-10-25T00:30:00Z", "Europe/Paris"), Ok(Value::Int(2)));
        assert_eq!(h("2026-10-25T01:30:00Z", "Europe/Paris"), Ok(Value::Int(2)));
        assert_eq!(h("2026-10-25T02:30:00Z", "Europe/Paris"), Ok(Value::Int(3)));
        assert_eq!(h("2026-11-25T23:59:59Z", "UTC"), Ok(Value::Int(23)));
        assert_eq!(
            h("2026-11-25T10:30:00Z", "America/New_York"),
            Ok(Value::Int(5))
        );
        assert!(local_hour("2026-11-25T10:30:00Z", "Europe/Atlantis").is_err());
        assert!(local_hour("2026-11-25T10:30:00Z", "Etc/Unknown").is_err());
        assert!(local_hour("2026-11-25T10:30:00Z", "").is_err());
        // an instant outside jiff's range
        let p = program();
        assert!(
            call(
                &p,
                Intrinsic::LocalHour,
                &[Value::Time(i64::MAX), tz("UTC")],
                0
            )
            .is_err()
        );
        // kinds
        let text = Value::text("UTC");
        assert!(call(&p, Intrinsic::LocalHour, &[Value::Time(0), text], 0).is_err());
        assert!(call(&p, Intrinsic::LocalHour, &[Value::Int(0), tz("UTC")], 0).is_err());
    }

    #[test]
    fn day_of_week_is_iso() {
        assert_eq!(
            day_of_week("2026-11-25T10:00:00Z", "UTC"),
            Ok(Value::Int(3))
        );
        assert_eq!(
            day_of_week("2026-11-23T00:00:00Z", "UTC"),
            Ok(Value::Int(1))
        );
        assert_eq!(
            day_of_week("2026-11-29T23:59:59Z", "UTC"),
            Ok(Value::Int(7))
        );
        // Sunday 23:30 UTC is Monday in Paris, Sunday in New York
        assert_eq!(
            day_of_week("2026-11-29T23:30:00Z", "Europe/Paris"),
            Ok(Value::Int(1))
        );
        assert_eq!(
            day_of_week("2026-11-29T23:30:00Z", "America/New_York"),
            Ok(Value::Int(7))
        );
        assert!(day_of_week("2026-11-29T23:30:00Z", "Mars/Olympus").is_err());
    }

    #[test]
    fn durations_from_ints() {
        let p = program();
        let c = |w, n| call(&p, w, &[Value::Int(n)], 0);
        assert_eq!(c(Intrinsic::Hours, 2), Ok(Value::Duration(7_200_000)));
        assert_eq!(c(Intrinsic::Minutes, 90), Ok(Value::Duration(5_400_000)));
        assert_eq!(c(Intrinsic::Days, 7), Ok(Value::Duration(604_800_000)));
        assert_eq!(c(Intrinsic::Hours, -1), Ok(Value::Duration(-3_600_000)));
        assert!(c(Intrinsic::Days, i64::MAX / 1000).is_err());
        assert!(c(Intrinsic::Minutes, i64::MIN).is_err());
        assert!(call(&p, Intrinsic::Hours, &[Value::Duration(1)], 0).is_err());
        assert!(call(&p, Intrinsic::Hours, &[], 0).is_err());
    }

    #[test]
    fn contacts_within_counts_the_window() {
        let p = program();
        let now = at("2026-06-08T12:00:00Z");
        let week = 7 * DAY_MS;
        let contacts = list(vec![
            contact_rec(SMS, now - week - 1), // just before the window
            contact_rec(SMS, now - week),     // at its start: counted
            contact_rec(EMAIL, now - DAY_MS),
            contact_rec(SMS, now - 1),
            contact_rec(SMS, now),     // at the decision time: counted
            contact_rec(SMS, now + 1), // after it: not counted
        ]);
        let within = |w| {
            call(
                &p,
                Intrinsic::ContactsWithin,
                &[contacts.clone(), Value::Duration(w)],
                now,
            )
        };
        assert_eq!(within(week), Ok(Value::Int(4)));
        assert_eq!(within(DAY_MS), Ok(Value::Int(3)));
        assert_eq!(within(0), Ok(Value::Int(1)));
        assert_eq!(within(-1), Ok(Value::Int(0)));
        // no overflow however large the window or early the decision
        assert_eq!(within(i64::MAX), Ok(Value::Int(5)));
        assert_eq!(
            call(
                &p,
                Intrinsic::ContactsWithin,
                &[contacts.clone(), Value::Duration(i64::MAX)],
                i64::MIN
            ),
            Ok(Value::Int(0))
        );
        let on = |ch, w| {
            call(
                &p,
                Intrinsic::ContactsOnWithin,
                &[contacts.clone(), Value::Symbol(ch), Value::Duration(w)],
                now,
            )
        };
        assert_eq!(on(SMS, week), Ok(Value::Int(3)));
        assert_eq!(on(EMAIL, week), Ok(Value::Int(1)));
        assert_eq!(on(EMAIL, DAY_MS - 1), Ok(Value::Int(0)));
        assert_eq!(on(SMS, DAY_MS), Ok(Value::Int(2)));
        // errors
        assert!(
            call(
                &p,
                Intrinsic::ContactsWithin,
                &[list(vec![Value::Int(1)]), Value::Duration(1)],
                now
            )
            .is_err()
        );
        assert!(
            call(
                &p,
                Intrinsic::ContactsWithin,
                &[contacts.clone(), Value::Int(1)],
                now
            )
            .is_err()
        );
        let consents = list(vec![consent_rec(MARKETING, SMS, 0, None)]);
        assert!(
            call(
                &p,
                Intrinsic::ContactsWithin,
                &[consents, Value::Duration(1)],
                now
            )
            .is_err()
        );
    }

    #[test]
    fn swapped_within_fails_closed() {
        let p = program();
        let now = at("2026-06-08T12:00:00Z");
        let day = DAY_MS;
        let sw =
            |s: Value, w: i64| call(&p, Intrinsic::SwappedWithin, &[s, Value::Duration(w)], now);
        let yes = Ok(Value::Bool(true));
        let no = Ok(Value::Bool(false));
        // latest_swap present: within the window or not, whatever `swapped` says
        assert_eq!(sw(sim_swap(false, Some(now - day + 1), None), day), yes);
        assert_eq!(sw(sim_swap(false, Some(now - day), None), day), yes);
        assert_eq!(sw(sim_swap(true, Some(now - day - 1), None), day), no);
        assert_eq!(
            sw(sim_swap(true, Some(now - 30 * day), Some(100 * day)), day),
            no
        );
        // latest_swap absent: only a monitored period covering the window rules a swap out
        assert_eq!(sw(sim_swap(false, None, None), day), yes);
        assert_eq!(sw(sim_swap(false, None, Some(day - 1)), day), yes);
        assert_eq!(sw(sim_swap(false, None, Some(day)), day), no);
        assert_eq!(sw(sim_swap(false, None, Some(30 * day)), day), no);
        // errors: not a record, a record without the fields, a non-duration window
        assert!(sw(Value::Absent, day).is_err());
        assert!(sw(contact_rec(SMS, 0), day).is_err());
        assert!(
            call(
                &p,
                Intrinsic::SwappedWithin,
                &[sim_swap(false, None, None), Value::Int(1)],
                now
            )
            .is_err()
        );
    }
}
