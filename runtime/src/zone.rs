//! IANA time zones as `local_hour` and `day_of_week` read them, in both engines.
//!
//! jiff answers "what is the UTC offset of zone Z at instant t" by a binary search over the
//! zone's transitions (about 40 ns for Europe/Paris on the reference machine), which was most
//! of the contact policy's decision time. A [`Zone`] keeps, next to jiff's zone, a table of its
//! offsets for the instants decisions are actually made at (1970 to 2106): the range is cut into
//! buckets of 2^22 seconds (48.5 days), and each bucket holds the offset at its start and the one
//! transition inside it, if any. A lookup is an index, a compare and two divisions.
//!
//! Buckets with two or more transitions (a few zones suspend summer time for a month), and
//! instants outside the table, are answered by jiff itself, so the table changes no answer: it
//! is built from jiff's own transitions, and a test compares both over every zone of the
//! bundled database.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// log2 of a bucket's width in seconds: shorter than any gap between two transitions in all
/// but a handful of zones, long enough that the table stays small (16 KiB a zone).
pub(crate) const BUCKET_BITS: u32 = 22;
/// Buckets in the table: from 1970-01-01T00:00:00Z to 2^32 seconds later (2106-02-07).
const BUCKETS: usize = 1 << (32 - BUCKET_BITS);
/// One past the last second the table covers.
pub(crate) const TABLE_END: i64 = 1 << 32;
/// `Bucket::at` of a bucket with more than one transition: ask jiff.
pub(crate) const ASK_JIFF: i64 = i64::MIN;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// The offsets in force over one bucket: `before` until second `at`, `after` from it on
/// (`at` is `i64::MAX` when nothing changes in the bucket, [`ASK_JIFF`] when two or more
/// offsets change).
///
/// The JIT's generated code reads the table directly (see [`Zone::table_addr`]), so the layout
/// is fixed: 16 bytes a bucket, `at` at byte 0, `before` at byte 8, `after` at byte 12, native
/// endianness; the constants below state it and the compiler checks it.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Bucket {
    at: i64,
    before: i32,
    after: i32,
}

/// log2 of a bucket's size in bytes.
pub(crate) const BUCKET_SIZE_BITS: u32 = 4;
/// Byte offsets of a bucket's fields.
pub(crate) const BUCKET_AT: i32 = 0;
pub(crate) const BUCKET_BEFORE: i32 = 8;
pub(crate) const BUCKET_AFTER: i32 = 12;
const _: () = {
    assert!(std::mem::size_of::<Bucket>() == 1 << BUCKET_SIZE_BITS);
    assert!(std::mem::offset_of!(Bucket, at) == BUCKET_AT as usize);
    assert!(std::mem::offset_of!(Bucket, before) == BUCKET_BEFORE as usize);
    assert!(std::mem::offset_of!(Bucket, after) == BUCKET_AFTER as usize);
    // Any second of the table's range, shifted right by BUCKET_BITS, indexes a bucket.
    assert!((TABLE_END >> BUCKET_BITS) as usize == BUCKETS);
};

/// The zone `name` names, if XOP accepts it: a zone of the bundled tz database, by its name or
/// an alias, in any case jiff accepts. The one test of a zone name, asked by the compiler (time
/// zone literals), the binder (inputs) and both engines ([`Zone::get`]), so that a name passes
/// all of them or none.
///
/// jiff answers `Etc/Unknown` (in any case) with its special unknown zone, which is no zone of
/// the database and whose offset is made up (UTC): it is refused like any other name that is no
/// zone. So is the database's own `Factory` zone (`is_placeholder`), for the same reason.
pub fn lookup(name: &str) -> Option<TimeZone> {
    TimeZone::get(name)
        .ok()
        .filter(|tz| !tz.is_unknown() && !is_placeholder(tz))
}

/// Whether `tz` is the tz database's placeholder for "local time unknown": the zone `Factory`
/// (offset 0, abbreviation `-00`), whose offset is made up as much as `Etc/Unknown`'s is.
///
/// Tested by name and by content, so that any link to it is caught too, whatever it is called:
/// a zone that never changes offset and whose one abbreviation is `-00`, which tzdb writes for
/// "unspecified local time" (zones such as `Antarctica/Troll` use `-00` only before their first
/// transition, and are real zones).
fn is_placeholder(tz: &TimeZone) -> bool {
    if tz
        .iana_name()
        .is_some_and(|name| name.eq_ignore_ascii_case("Factory"))
    {
        return true;
    }
    tz.following(Timestamp::MIN).next().is_none()
        && tz.to_offset_info(Timestamp::UNIX_EPOCH).abbreviation() == "-00"
}

/// Which field of the local date and time to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The hour, 0 to 23.
    Hour,
    /// The ISO day of the week, 1 (Monday) to 7 (Sunday).
    Weekday,
}

/// An IANA time zone with its offset table; cloning shares both.
#[derive(Debug, Clone)]
pub struct Zone(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    tz: TimeZone,
    buckets: Box<[Bucket]>,
}

impl Zone {
    /// The zone `name` from the bundled tz database, as [`lookup`] accepts it (not cached: see
    /// [`crate::intrinsics::time_zone`]), or an error naming it.
    pub fn get(name: &str) -> Result<Zone, String> {
        match lookup(name) {
            Some(tz) => Ok(Zone::new(tz)),
            None => Err(format!("unknown time zone {name:?}")),
        }
    }

    /// `tz` with its offset table built from its transitions.
    pub fn new(tz: TimeZone) -> Zone {
        let buckets = table(&tz);
        Zone(Arc::new(Inner { tz, buckets }))
    }

    /// jiff's zone.
    pub fn tz(&self) -> &TimeZone {
        &self.0.tz
    }

    /// The address of the offset table's first bucket, for the JIT's generated code: exactly
    /// `TABLE_END >> BUCKET_BITS` (1,024) buckets laid out as [`Bucket`] documents, never
    /// changed nor moved while any clone of this `Zone` lives. Bucket `sec >> BUCKET_BITS`
    /// holds second `sec` of `0..TABLE_END`; where its `at` is [`ASK_JIFF`], only
    /// [`Zone::field`] answers.
    pub(crate) fn table_addr(&self) -> i64 {
        self.0.buckets.as_ptr() as i64
    }

    /// `field` of the local date and time at instant `ms` (milliseconds since the epoch), or
    /// `None` when the instant is outside the range of times jiff supports. Every time XOP holds
    /// has an answer, up to 9999-12-30T22:00:00.999Z ([`crate::time::timestamp`]).
    pub fn field(&self, ms: i64, field: Field) -> Option<i64> {
        let sec = ms.div_euclid(1000);
        let offset = match self.table_offset(sec) {
            Some(offset) => offset,
            None => {
                let dt = self.0.tz.to_datetime(crate::time::timestamp(ms)?);
                return Some(match field {
                    Field::Hour => i64::from(dt.hour()),
                    Field::Weekday => i64::from(dt.weekday().to_monday_one_offset()),
                });
            }
        };
        // In the table's range `sec + offset` cannot overflow (offsets are under a day).
        let local = sec + i64::from(offset);
        Some(match field {
            Field::Hour => local.rem_euclid(DAY) / 3600,
            // 1970-01-01 was a Thursday, ISO day 4.
            Field::Weekday => (local.div_euclid(DAY) + 3).rem_euclid(7) + 1,
        })
    }

    /// The offset in seconds at second `sec` from the table, or `None` where jiff must answer.
    fn table_offset(&self, sec: i64) -> Option<i32> {
        if !(0..TABLE_END).contains(&sec) {
            return None;
        }
        let b = self.0.buckets.get((sec >> BUCKET_BITS) as usize)?;
        if b.at == ASK_JIFF {
            None
        } else if sec >= b.at {
            Some(b.after)
        } else {
            Some(b.before)
        }
    }
}

/// The offset table of `tz`, from one walk over its transitions in the table's range.
fn table(tz: &TimeZone) -> Box<[Bucket]> {
    let offset = |t: Timestamp| tz.to_offset(t).seconds();
    let mut buckets = Vec::with_capacity(BUCKETS);
    let mut current = offset(Timestamp::UNIX_EPOCH);
    // Transitions that change the offset (some change only the abbreviation), in order.
    let mut changes = tz
        .following(Timestamp::UNIX_EPOCH)
        .map(|t| (t.timestamp().as_second(), t.offset().seconds()))
        .take_while(|&(at, _)| at < TABLE_END)
        .peekable();
    for b in 0..BUCKETS as i64 {
        let end = (b + 1) << BUCKET_BITS;
        let before = current;
        let mut bucket = Bucket {
            at: i64::MAX,
            before,
            after: before,
        };
        while let Some(&(at, to)) = changes.peek() {
            if at >= end {
                break;
            }
            changes.next();
            if to == current {
                continue;
            }
            current = to;
            bucket = if bucket.at == i64::MAX {
                Bucket {
                    at,
                    before,
                    after: to,
                }
            } else {
                Bucket {
                    at: ASK_JIFF,
                    before,
                    after: to,
                }
            };
        }
        buckets.push(bucket);
    }
    debug_assert_eq!(buckets.len(), BUCKETS);
    buckets.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// jiff's own answer, what the table must reproduce.
    fn jiff_field(tz: &TimeZone, ms: i64, field: Field) -> Option<i64> {
        let dt = tz.to_datetime(crate::time::timestamp(ms)?);
        Some(match field {
            Field::Hour => i64::from(dt.hour()),
            Field::Weekday => i64::from(dt.weekday().to_monday_one_offset()),
        })
    }

    /// A small deterministic generator (splitmix64), so that a failure names a reproducible
    /// instant.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn the_table_agrees_with_jiff_in_every_zone() {
        let mut state = 7;
        let mut zones = 0;
        let mut asked_jiff = 0;
        for name in jiff::tz::db().available() {
            let Ok(zone) = Zone::get(name.as_str()) else {
                continue;
            };
            zones += 1;
            asked_jiff += zone.0.buckets.iter().filter(|b| b.at == ASK_JIFF).count();
            let tz = zone.tz().clone();
            let check = |ms: i64| {
                for field in [Field::Hour, Field::Weekday] {
                    assert_eq!(
                        zone.field(ms, field),
                        jiff_field(&tz, ms, field),
                        "{field:?} at {ms} ms in {name}"
                    );
                }
            };
            // Around every transition in the table's range: the second before, at and after.
            for t in tz
                .following(Timestamp::UNIX_EPOCH)
                .take_while(|t| t.timestamp().as_second() < TABLE_END)
            {
                let ms = t.timestamp().as_millisecond();
                for d in [-1_001, -1_000, -1, 0, 1, 999, 1_000] {
                    check(ms + d);
                }
            }
            // Random instants over the table's range and beyond it on both sides.
            for _ in 0..200 {
                let r = next(&mut state);
                check((r % (TABLE_END as u64 * 1000)) as i64);
                check((r % (300 * 366 * DAY as u64 * 1000)) as i64 - 100 * 366 * DAY * 1000);
            }
            // The edges of the table and of jiff's range.
            for ms in [
                0,
                -1,
                TABLE_END * 1000 - 1,
                TABLE_END * 1000,
                i64::MIN,
                i64::MAX,
            ] {
                check(ms);
            }
        }
        assert!(zones > 300, "only {zones} zones in the bundled database");
        // The fallback is exercised by real zones (e.g. Africa/Casablanca's Ramadan suspension).
        assert!(asked_jiff > 0);
    }

    #[test]
    fn paris_and_utc_by_hand() {
        let paris = Zone::get("Europe/Paris").expect("Paris");
        let at = |s: &str| s.parse::<Timestamp>().expect("a time").as_millisecond();
        // Spring forward on 2026-03-29 at 01:00Z, fall back on 2026-10-25 at 01:00Z.
        assert_eq!(
            paris.field(at("2026-03-29T00:59:59Z"), Field::Hour),
            Some(1)
        );
        assert_eq!(
            paris.field(at("2026-03-29T01:00:00Z"), Field::Hour),
            Some(3)
        );
        assert_eq!(
            paris.field(at("2026-10-25T00:30:00Z"), Field::Hour),
            Some(2)
        );
        assert_eq!(
            paris.field(at("2026-10-25T01:30:00Z"), Field::Hour),
            Some(2)
        );
        // 2026-11-29 is a Sunday in Paris from 23:00Z the day before.
        assert_eq!(
            paris.field(at("2026-11-28T22:59:59Z"), Field::Weekday),
            Some(6)
        );
        assert_eq!(
            paris.field(at("2026-11-28T23:00:00Z"), Field::Weekday),
            Some(7)
        );
        let utc = Zone::get("UTC").expect("UTC");
        // The last second XOP holds (to 9999-12-30T22:00:00.999Z) has an answer in every zone,
        // east of UTC too; the next millisecond, past jiff's range, has none.
        let last = at("9999-12-30T22:00:00Z");
        for ms in [last, last + 500, last + 999] {
            assert_eq!(utc.field(ms, Field::Hour), Some(22), "{ms}");
            assert_eq!(utc.field(ms, Field::Weekday), Some(4), "{ms}");
            let kiritimati = Zone::get("Pacific/Kiritimati").expect("Kiritimati");
            assert_eq!(kiritimati.field(ms, Field::Hour), Some(12), "{ms}");
            assert_eq!(kiritimati.field(ms, Field::Weekday), Some(5), "{ms}");
        }
        assert_eq!(utc.field(last + 1000, Field::Hour), None);
        assert_eq!(utc.field(-1, Field::Hour), Some(23));
        assert_eq!(utc.field(-1, Field::Weekday), Some(3));
        assert_eq!(utc.field(i64::MAX, Field::Hour), None);
        assert!(Zone::get("Europe/Atlantis").is_err());
    }

    /// jiff's special unknown zone, and tzdb's `Factory` placeholder, are no zones XOP accepts,
    /// whatever the case they are written in; aliases and other cases of real zones are.
    #[test]
    fn etc_unknown_is_no_zone() {
        for name in [
            "Etc/Unknown",
            "etc/unknown",
            "ETC/UNKNOWN",
            "Factory",
            "factory",
            "FACTORY",
            "fAcToRy",
        ] {
            assert!(lookup(name).is_none(), "{name}");
            assert_eq!(
                Zone::get(name).err(),
                Some(format!("unknown time zone {name:?}"))
            );
        }
        for name in [
            "Europe/Paris",
            "europe/paris",
            "UTC",
            "Etc/UTC",
            "US/Eastern",
            // Zones that wrote `-00` before their first transition are real zones.
            "Antarctica/Troll",
            "Antarctica/Rothera",
            "Etc/GMT+1",
        ] {
            assert!(lookup(name).is_some(), "{name}");
            assert!(Zone::get(name).is_ok(), "{name}");
        }
        assert!(lookup("Nope/Zone").is_none());
        assert!(lookup("").is_none());
    }

    /// Of the bundled database's names, `Factory` is the one refused: the test by content
    /// refuses no real zone.
    #[test]
    fn factory_is_the_one_database_name_refused() {
        let refused: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_string())
            .filter(|name| lookup(name).is_none())
            .collect();
        assert_eq!(refused, ["Factory"]);
    }

    /// A zone with `Factory`'s content under another name (as a link to it would load) is
    /// refused too; one with a real abbreviation and the same offset is not.
    #[test]
    fn a_placeholder_by_content_is_refused() {
        let placeholder = TimeZone::posix("<-00>0").expect("a POSIX zone");
        assert!(is_placeholder(&placeholder));
        let utc = TimeZone::posix("UTC0").expect("a POSIX zone");
        assert!(!is_placeholder(&utc));
        let factory = TimeZone::get("Factory").expect("jiff has Factory");
        assert!(is_placeholder(&factory));
    }
}
