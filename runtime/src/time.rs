//! RFC 3339 times: the one reader of time text for the whole toolchain.
//!
//! XOP's times are RFC 3339 `date-time`s (language.md §2): `YYYY-MM-DD`, `T`, `hh:mm:ss`, an
//! optional fraction of a second, then `Z` or an offset `±hh:mm` (`T` and `Z` in either case,
//! as RFC 3339's grammar allows). jiff's own parser reads far more (ISO 8601's basic form
//! `20261125T100000Z`, a time without seconds, a space for `T`, an offset without minutes or
//! with seconds, `+24:00`, six-digit years, a bracketed zone that it ignores), and a text that
//! one reader takes and another refuses, or that means something other than it seems, must not
//! reach a decision. So this module checks the exact form, then lets jiff check the calendar.
#![forbid(unsafe_code)]

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::Offset;

/// Milliseconds since the Unix epoch of an RFC 3339 time, or why `s` is not one.
///
/// Digits of the fraction past the millisecond are dropped (so any number of them is read,
/// as RFC 3339 allows); a leap second (`:60`) reads as `:59`, as jiff reads it.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let (date, rest) = b.split_at_checked(10).ok_or(FORM.to_string())?;
    let (&sep, rest) = rest.split_first().ok_or(FORM.to_string())?;
    let (clock, rest) = rest.split_at_checked(8).ok_or(FORM.to_string())?;
    if !(matches!(date, [_, _, _, _, b'-', _, _, b'-', _, _])
        && matches!(sep, b'T' | b't')
        && matches!(clock, [_, _, b':', _, _, b':', _, _]))
    {
        return Err(FORM.into());
    }
    let year = digits(&date[0..4])?;
    let (month, day) = (digits(&date[5..7])?, digits(&date[8..10])?);
    let (hour, minute) = (digits(&clock[0..2])?, digits(&clock[3..5])?);
    let second = digits(&clock[6..8])?;
    let (nanos, zone) = match rest {
        [b'.', more @ ..] => {
            let n = more.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err("the fraction of a second has no digits after `.`".into());
            }
            let mut nanos = 0;
            for i in 0..9 {
                nanos = nanos * 10 + more.get(i).filter(|_| i < n).map_or(0, |c| c - b'0') as i32;
            }
            (nanos, &more[n..])
        }
        _ => (0, rest),
    };
    let offset = match zone {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h0, h1, b':', m0, m1] => {
            let (h, m) = (digits(&[*h0, *h1])?, digits(&[*m0, *m1])?);
            if h > 23 || m > 59 {
                return Err("the offset is out of range (hours 00 to 23, minutes 00 to 59)".into());
            }
            let seconds = (h * 60 + m) * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        [] => {
            return Err(
                "the time zone is missing: end it with `Z` or an offset like `+01:00`".into(),
            );
        }
        _ => return Err("the time must end with `Z` or an offset like `+01:00`".into()),
    };
    // Each field's range, checked here so that the message names it; jiff checks them again.
    let range = |what: &str, v: i32, max: i32, lo: i32| -> Result<i8, String> {
        match i8::try_from(v) {
            Ok(f) if (lo..=max).contains(&v) => Ok(f),
            _ => Err(format!("the {what} is out of range ({lo:02} to {max:02})")),
        }
    };
    let month = range("month", month, 12, 1)?;
    let year = i16::try_from(year).map_err(|_| RANGE.to_string())?;
    let last_day = jiff::civil::Date::new(year, month, 1)
        .map_err(|_| RANGE.to_string())?
        .days_in_month();
    let day = range("day", day, i32::from(last_day), 1)?;
    let civil = DateTime::new(
        year,
        month,
        day,
        range("hour", hour, 23, 0)?,
        range("minute", minute, 59, 0)?,
        range("second", second, 60, 0)?.min(59),
        nanos,
    )
    .map_err(|_| RANGE.to_string())?;
    let offset = Offset::from_seconds(offset).map_err(|_| RANGE.to_string())?;
    let ms = offset
        .to_timestamp(civil)
        .map(|t| t.as_millisecond())
        .map_err(|_| RANGE.to_string())?;
    // Year 0000 with an offset east of UTC is before the range: an instant that RFC 3339
    // cannot write in UTC, which is how records and outputs write times back.
    held(ms)?;
    Ok(ms)
}

/// The first time XOP can hold, as RFC 3339 writes it (language.md §2.5).
pub const FIRST_TIME: &str = "0000-01-01T00:00:00Z";
/// The last time XOP can hold, as RFC 3339 writes it (language.md §2.5).
pub const LAST_TIME: &str = "9999-12-30T22:00:00.999Z";
/// [`LAST_TIME`] in milliseconds since the epoch.
const LAST_MS: i64 = 253_402_207_200_999;

/// Whether `ms` (milliseconds since the epoch) is a time XOP can hold, from [`FIRST_TIME`] to
/// [`LAST_TIME`], or why not. The one range test of a time: [`parse_rfc3339`] applies it to
/// what it reads, and `xop test` to the times a test gives as values, so that a test decides
/// only on times an input could carry.
pub fn held(ms: i64) -> Result<(), String> {
    if ms < YEAR_0 {
        Err(format!(
            "the time is before {FIRST_TIME}, the first time XOP can hold (times run from \
             {FIRST_TIME} to {LAST_TIME})"
        ))
    } else if ms > LAST_MS {
        Err(format!(
            "the time is after {LAST_TIME}, the last time XOP can hold (times run from \
             {FIRST_TIME} to {LAST_TIME})"
        ))
    } else {
        Ok(())
    }
}

/// The instant `ms` milliseconds after the epoch, as jiff's [`Timestamp`]: every time XOP holds,
/// the last second's milliseconds included, which [`Timestamp::from_millisecond`] refuses (it
/// stops at 9999-12-30T22:00:00.000Z, a second before the last time of [`parse_rfc3339`]).
/// `None` outside jiff's range.
pub fn timestamp(ms: i64) -> Option<Timestamp> {
    // Below a second, in [0, 1000): the remainder is non-negative, so it fits a nanosecond.
    let nanos = i32::try_from(ms.rem_euclid(1000) * 1_000_000).ok()?;
    Timestamp::new(ms.div_euclid(1000), nanos).ok()
}

/// 0000-01-01T00:00:00Z in milliseconds since the epoch.
const YEAR_0: i64 = -62_167_219_200_000;

/// The message for a text not of the form.
const FORM: &str = "expected the form `YYYY-MM-DDThh:mm:ssZ` or `YYYY-MM-DDThh:mm:ss±hh:mm`, \
                    with an optional fraction of a second after the seconds";

/// The message for an instant past the last one jiff holds (its range is years -9999 to 9999,
/// less a day at either end; RFC 3339's years start at 0000, so only the end can be passed).
const RANGE: &str = "the time is after 9999-12-30T22:00:00.999Z, the last time XOP can hold";

/// The number written by ASCII digits `d`, or the form's error.
fn digits(d: &[u8]) -> Result<i32, String> {
    d.iter().try_fold(0i32, |n, c| {
        if c.is_ascii_digit() {
            Ok(n * 10 + i32::from(c - b'0'))
        } else {
            Err(FORM.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What jiff reads, for the forms both read.
    fn jiff(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn reads_what_rfc_3339_writes() {
        for s in [
            "2026-11-25T10:00:00Z",
            "2026-11-25t10:00:00z",
            "2026-11-25T11:00:00.250+01:00",
            "2026-11-25T04:30:00-05:30",
            "2026-11-25T10:00:00-00:00",
            "2024-02-29T23:59:59.999Z",
            "1969-12-31T23:59:59.5Z",
            "0000-01-01T00:00:00Z",
            "2026-11-25T23:59:59+23:59",
            "2016-12-31T23:59:60Z",
        ] {
            assert_eq!(parse_rfc3339(s), Ok(jiff(s)), "{s}");
        }
        // A fraction is cut at the millisecond, however many digits it has.
        assert_eq!(
            parse_rfc3339("2026-11-25T10:00:00.123456789123Z"),
            Ok(jiff("2026-11-25T10:00:00.123Z"))
        );
    }

    #[test]
    fn refuses_what_only_iso_8601_or_jiff_reads() {
        for s in [
            "2026-11-25T10:00Z",
            "2026-11-25T10Z",
            "2026-11-25 10:00:00Z",
            "20261125T100000Z",
            "+002026-11-25T10:00:00Z",
            "2026-11-25T10:00:00+0100",
            "2026-11-25T10:00:00+01",
            "2026-11-25T10:00:00+01:00:30",
            "2026-11-25T10:00:00+24:00",
            "2026-11-25T10:00:00+01:60",
            "2026-11-25T10:00:00,5Z",
            "2026-11-25T10:00:00.Z",
            "2026-11-25T10:00:00Z[Europe/Paris]",
            "2026-11-25T10:00:00",
            "2026-11-25T10:00:00ZZ",
            "2026-11-25",
            "",
            "2026-02-30T10:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-1a-01T00:00:00Z",
            "2026-11-25T10:00:00Z\u{e9}",
            "\u{e9}2026-11-25T10:00:00Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s} was read");
        }
    }

    #[test]
    fn says_what_is_wrong() {
        let e = |s| parse_rfc3339(s).unwrap_err();
        assert_eq!(e("2026-11-25T10:00Z"), FORM);
        assert_eq!(
            e("2026-02-29T10:00:00Z"),
            "the day is out of range (01 to 28)"
        );
        assert_eq!(
            e("2024-13-01T10:00:00Z"),
            "the month is out of range (01 to 12)"
        );
        assert_eq!(
            e("2024-12-01T24:00:00Z"),
            "the hour is out of range (00 to 23)"
        );
        assert_eq!(
            e("2024-12-01T23:60:00Z"),
            "the minute is out of range (00 to 59)"
        );
        assert_eq!(
            e("2024-12-01T23:59:61Z"),
            "the second is out of range (00 to 60)"
        );
        assert_eq!(e("9999-12-31T23:59:59Z"), RANGE);
        // The last time is the one RANGE names, to the millisecond.
        assert_eq!(
            parse_rfc3339("9999-12-30T22:00:00.999Z"),
            Ok(jiff("9999-12-30T22:00:00.999Z"))
        );
        assert_eq!(e("9999-12-30T22:00:01Z"), RANGE);
        assert!(e("0000-01-01T00:59:59+01:00").contains("before 0000-01-01"));
        assert_eq!(parse_rfc3339("0000-01-01T01:00:00+01:00"), Ok(YEAR_0));
        assert_eq!(jiff("0000-01-01T00:00:00Z"), YEAR_0);
        assert!(e("2026-11-25T10:00:00").contains("missing"));
        assert!(e("2026-11-25T10:00:00+24:00").contains("offset"));
    }

    /// Every time the reader takes is a timestamp, to the millisecond, the last second's
    /// included (jiff's `from_millisecond` refuses those); past jiff's range there is none.
    #[test]
    fn every_time_read_is_a_timestamp() {
        for s in [
            "9999-12-30T22:00:00.999Z",
            "9999-12-30T22:00:00.500Z",
            "9999-12-30T22:00:00Z",
            "0000-01-01T00:00:00Z",
            "1969-12-31T23:59:59.001Z",
            "1970-01-01T00:00:00Z",
        ] {
            let ms = parse_rfc3339(s).unwrap();
            assert_eq!(timestamp(ms), Some(s.parse().unwrap()), "{s}");
            assert_eq!(timestamp(ms).map(|t| t.as_millisecond()), Some(ms), "{s}");
        }
        assert_eq!(timestamp(Timestamp::MAX.as_millisecond() + 1), None);
        assert_eq!(timestamp(Timestamp::MIN.as_millisecond() - 1), None);
        assert_eq!(timestamp(i64::MAX), None);
        assert_eq!(timestamp(i64::MIN), None);
    }

    /// The range test holds exactly the times the reader reads, both ends included.
    #[test]
    fn held_is_the_readers_range() {
        let first = parse_rfc3339(FIRST_TIME).unwrap();
        let last = parse_rfc3339(LAST_TIME).unwrap();
        assert_eq!((first, last), (YEAR_0, LAST_MS));
        for ms in [first, first + 1, 0, last - 1, last] {
            assert_eq!(held(ms), Ok(()), "{ms}");
        }
        for ms in [first - 1, i64::MIN] {
            let e = held(ms).unwrap_err();
            assert!(
                e.starts_with("the time is before 0000-01-01T00:00:00Z"),
                "{e}"
            );
            assert!(
                e.contains("0000-01-01T00:00:00Z to 9999-12-30T22:00:00.999Z"),
                "{e}"
            );
        }
        for ms in [last + 1, i64::MAX] {
            let e = held(ms).unwrap_err();
            assert!(
                e.starts_with("the time is after 9999-12-30T22:00:00.999Z"),
                "{e}"
            );
            assert!(
                e.contains("0000-01-01T00:00:00Z to 9999-12-30T22:00:00.999Z"),
                "{e}"
            );
        }
    }
}
