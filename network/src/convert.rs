//! CAMARA answers as run-time values of the `std.camara` records. The record and enum indices
//! are the program's, so a value is built for one program; fields are found by name, so that a
//! program whose `std.camara` differs from the connector's expectations gives an error (the
//! signal is then absent) rather than a value in the wrong slots.

use std::sync::Arc;

use xop_runtime::ir::{Program, Type};
use xop_runtime::value::Value;

use crate::api::{
    Connectivity, QosStatus, ReachabilityStatus, RoamingStatus, SessionInfo, SimSwapDate,
    StatusInfo,
};

const DAY_MS: i64 = 86_400_000;

/// A field's value before the program's enum indices are known.
enum Raw {
    Val(Value),
    /// An enum variant by name, or absent.
    Variant(Option<&'static str>),
    /// A list of enum variants by name.
    Variants(Vec<&'static str>),
}

/// `std.camara.SimSwap` from the two SIM Swap answers.
pub(crate) fn sim_swap(
    program: &Program,
    ty: &Type,
    swapped: bool,
    date: &SimSwapDate,
) -> Result<Value, String> {
    let monitored = match date.monitored_period_days {
        None => Value::Absent,
        Some(days) => Value::Duration(
            days.checked_mul(DAY_MS)
                .ok_or("monitoredPeriod is too large")?,
        ),
    };
    record(
        program,
        ty,
        "std.camara.SimSwap",
        vec![
            ("swapped", Raw::Val(Value::Bool(swapped))),
            ("latest_swap", Raw::Val(time(date.latest_sim_change))),
            ("monitored_period", Raw::Val(monitored)),
        ],
    )
}

/// `std.camara.RoamingStatus`.
pub(crate) fn roaming(program: &Program, ty: &Type, r: &RoamingStatus) -> Result<Value, String> {
    let names: Vec<Value> = r.country_name.iter().map(|n| Value::text(n)).collect();
    record(
        program,
        ty,
        "std.camara.RoamingStatus",
        vec![
            ("roaming", Raw::Val(Value::Bool(r.roaming))),
            (
                "country_code",
                Raw::Val(r.country_code.map_or(Value::Absent, Value::Int)),
            ),
            ("country_name", Raw::Val(Value::List(Arc::from(names)))),
            ("last_status_time", Raw::Val(time(r.last_status_time))),
        ],
    )
}

/// `std.camara.ReachabilityStatus`.
pub(crate) fn reachability(
    program: &Program,
    ty: &Type,
    r: &ReachabilityStatus,
) -> Result<Value, String> {
    let connectivity = r
        .connectivity
        .iter()
        .map(|c| match c {
            Connectivity::Data => "connected_data",
            Connectivity::Sms => "connected_sms",
        })
        .collect();
    record(
        program,
        ty,
        "std.camara.ReachabilityStatus",
        vec![
            ("reachable", Raw::Val(Value::Bool(r.reachable))),
            ("connectivity", Raw::Variants(connectivity)),
            ("last_status_time", Raw::Val(time(r.last_status_time))),
        ],
    )
}

/// `std.camara.QosSession`.
pub(crate) fn qos_session(program: &Program, ty: &Type, s: &SessionInfo) -> Result<Value, String> {
    let status = match s.qos_status {
        QosStatus::Requested => "requested",
        QosStatus::Available => "available",
        QosStatus::Unavailable => "unavailable",
    };
    let info = s.status_info.map(|i| match i {
        StatusInfo::DurationExpired => "duration_expired",
        StatusInfo::NetworkTerminated => "network_terminated",
        StatusInfo::DeleteRequested => "delete_requested",
    });
    let duration = s
        .duration_s
        .checked_mul(1000)
        .ok_or("duration is too large")?;
    record(
        program,
        ty,
        "std.camara.QosSession",
        vec![
            ("session_id", Raw::Val(Value::text(&s.session_id))),
            ("qos_profile", Raw::Val(Value::text(&s.qos_profile))),
            ("duration", Raw::Val(Value::Duration(duration))),
            ("status", Raw::Variant(Some(status))),
            ("status_info", Raw::Variant(info)),
            ("started_at", Raw::Val(time(s.started_at))),
            ("expires_at", Raw::Val(time(s.expires_at))),
        ],
    )
}

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Absent, Value::Time)
}

/// The record of type `ty` (which must be the program's `expected` record) with `fields` put
/// in its declaration order.
fn record(
    program: &Program,
    ty: &Type,
    expected: &str,
    mut fields: Vec<(&'static str, Raw)>,
) -> Result<Value, String> {
    let ty = match ty {
        Type::Optional(inner) => inner.as_ref(),
        other => other,
    };
    let Type::Record(index) = *ty else {
        return Err(format!("the signal's type is not {expected}"));
    };
    let rt = usize::try_from(index)
        .ok()
        .and_then(|i| program.records.get(i))
        .ok_or_else(|| format!("record type #{index} is not in the program"))?;
    if rt.name != expected {
        return Err(format!(
            "the signal's type is {}, but its source gives {expected}",
            rt.name
        ));
    }
    let mut values = Vec::with_capacity(rt.fields.len());
    for f in &rt.fields {
        let pos = fields
            .iter()
            .position(|(name, _)| *name == f.name)
            .ok_or_else(|| {
                format!(
                    "{expected} has a field `{}` the connector does not know",
                    f.name
                )
            })?;
        let (_, raw) = fields.swap_remove(pos);
        values
            .push(resolve(program, &f.ty, raw).map_err(|e| format!("{expected}.{}: {e}", f.name))?);
    }
    if let Some((name, _)) = fields.first() {
        return Err(format!("{expected} has no field `{name}`"));
    }
    Ok(Value::Record(index, Arc::from(values)))
}

fn resolve(program: &Program, ty: &Type, raw: Raw) -> Result<Value, String> {
    match raw {
        Raw::Val(v) => Ok(v),
        Raw::Variant(None) => Ok(Value::Absent),
        Raw::Variant(Some(name)) => variant(program, ty, name),
        Raw::Variants(names) => {
            let (Type::List(inner) | Type::Set(inner)) = ty else {
                return Err("not a list".into());
            };
            let mut xs = names
                .into_iter()
                .map(|n| variant(program, inner, n))
                .collect::<Result<Vec<_>, _>>()?;
            if matches!(ty, Type::Set(_)) {
                xs.sort();
                xs.dedup();
            }
            Ok(Value::List(Arc::from(xs)))
        }
    }
}

fn variant(program: &Program, ty: &Type, name: &str) -> Result<Value, String> {
    let e = match ty {
        Type::Enum(e) => *e,
        Type::Optional(inner) => return variant(program, inner, name),
        _ => return Err("not an enum".into()),
    };
    let et = usize::try_from(e)
        .ok()
        .and_then(|i| program.enums.get(i))
        .ok_or_else(|| format!("enum type #{e} is not in the program"))?;
    let v = et
        .variants
        .iter()
        .position(|v| v == name)
        .ok_or_else(|| format!("{} has no variant `{name}`", et.name))?;
    Ok(Value::Enum(
        e,
        u32::try_from(v).map_err(|_| "too many variants".to_string())?,
    ))
}
