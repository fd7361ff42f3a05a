//! Workload (a) of the performance issue: the 5-rule contact policy of DESIGN.md §1 (live
//! interaction, consent for (marketing, channel) at the decision time, frequency cap, quiet
//! hours in the customer's IANA zone, allow), for XOP, hand-written Rust, Cedar and Rego, with
//! the inputs the benchmark checks them on.
//!
//! Cedar cannot quantify over a list of consent records nor compute a local hour, and the Rego
//! side is built without regorus' time-zone builtins: both get two facts the caller computes
//! before timing (the channels with a live marketing consent for Cedar, the local hour for
//! both). That makes their work smaller than XOP's, so the ratios are conservative.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use xop_runtime::zone::{Field, Zone};

/// The policy's name in [`XOP_SOURCE`].
pub const POLICY: &str = "contact";

/// The XOP source: DESIGN.md §1's contact policy.
pub const XOP_SOURCE: &str = include_str!("contact.xop");

/// A channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// SMS.
    Sms,
    /// E-mail.
    Email,
    /// A phone call.
    Voice,
}

impl Channel {
    /// Its name in the standard library.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Voice => "voice",
        }
    }
}

/// A consent record (std.consent.Consent) for the marketing purpose or another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Whether it is for marketing (the only purpose the policy asks about).
    pub marketing: bool,
    /// The channel.
    pub channel: Channel,
    /// When it was given (ms since the epoch).
    pub given_at: i64,
    /// When it was withdrawn, if it was.
    pub withdrawn_at: Option<i64>,
}

/// One decision's input: the customer, the channel, the decision time.
#[derive(Debug, Clone)]
pub struct Case {
    /// On hold or in a call with support.
    pub in_service_interaction: bool,
    /// Messages sent in the last 7 days.
    pub messages_7d: i64,
    /// The customer's IANA zone name.
    pub tz: String,
    /// The customer's zone, resolved once (as the hand-written service would keep it).
    pub zone: TimeZone,
    /// Consents.
    pub consents: Vec<Consent>,
    /// The channel asked for.
    pub channel: Channel,
    /// The decision time (ms since the epoch).
    pub now: i64,
}

/// The reasons, in rule order; a decision's reasons are a bit set over them.
pub const REASONS: [&str; 5] = [
    "in-service-interaction",
    "no-consent",
    "frequency-cap",
    "quiet-hours",
    "eligible",
];

/// Hand-written Rust, as a careful engineer would write it: a verdict and a reason bit set
/// (bit `i` is [`REASONS`]`[i]`), no allocation.
pub fn decide(c: &Case) -> (bool, u8) {
    decide_with(c, local_hour)
}

/// [`decide`] with the local hour from XOP's zone table ([`xop_runtime::zone::Zone`], what
/// both XOP engines use) instead of jiff's zone: the JIT against Rust doing the same arithmetic.
pub fn decide_zone_table(c: &Case, zone: &Zone) -> (bool, u8) {
    decide_with(c, |c| zone.field(c.now, Field::Hour).unwrap_or(-1))
}

/// The policy with the local hour computed by `hour`.
fn decide_with(c: &Case, hour: impl Fn(&Case) -> i64) -> (bool, u8) {
    let mut deny = 0u8;
    if c.in_service_interaction {
        deny |= 1;
    }
    let consented = c.consents.iter().any(|k| {
        k.marketing
            && k.channel == c.channel
            && k.given_at <= c.now
            && k.withdrawn_at.is_none_or(|w| w > c.now)
    });
    if !consented {
        deny |= 2;
    }
    if c.messages_7d >= 3 {
        deny |= 4;
    }
    if !(8..21).contains(&hour(c)) {
        deny |= 8;
    }
    if deny != 0 { (true, deny) } else { (false, 16) }
}

/// The customer's local hour at the decision time (the caller-side fact for Cedar and Rego).
pub fn local_hour(c: &Case) -> i64 {
    Timestamp::from_millisecond(c.now)
        .map(|t| i64::from(c.zone.to_datetime(t).hour()))
        .unwrap_or(-1)
}

/// A reason bit set as sorted reason names (what every engine's outcome is compared on).
pub fn reason_names(bits: u8) -> Vec<String> {
    let mut v: Vec<String> = (0..REASONS.len())
        .filter(|i| bits & (1 << i) != 0)
        .map(|i| REASONS[i].to_string())
        .collect();
    v.sort();
    v
}

fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl Case {
    /// XOP's JSON input.
    pub fn json(&self) -> String {
        let mut consents = String::new();
        for (i, k) in self.consents.iter().enumerate() {
            if i > 0 {
                consents.push_str(", ");
            }
            let _ = write!(
                consents,
                r#"{{"purpose": "{}", "channel": "{}", "given_at": "{}""#,
                if k.marketing { "marketing" } else { "service" },
                k.channel.name(),
                rfc3339(k.given_at)
            );
            if let Some(w) = k.withdrawn_at {
                let _ = write!(consents, r#", "withdrawn_at": "{}""#, rfc3339(w));
            }
            consents.push('}');
        }
        format!(
            r#"{{"now": "{}", "to": {{"id": "c-1", "in_service_interaction": {}, "messages_7d": {}, "tz": "{}", "consents": [{}]}}, "channel": "{}", "offer": "buy-now"}}"#,
            rfc3339(self.now),
            self.in_service_interaction,
            self.messages_7d,
            self.tz,
            consents,
            self.channel.name()
        )
    }

    /// The peers' JSON input: the raw facts plus the two the caller computes (see the module
    /// documentation), `now` in milliseconds.
    pub fn peer_json(&self) -> String {
        let mut consents = String::new();
        let mut live = String::new();
        for (i, k) in self.consents.iter().enumerate() {
            if i > 0 {
                consents.push_str(", ");
            }
            let _ = write!(
                consents,
                r#"{{"purpose": "{}", "channel": "{}", "given_at": {}"#,
                if k.marketing { "marketing" } else { "service" },
                k.channel.name(),
                k.given_at
            );
            if let Some(w) = k.withdrawn_at {
                let _ = write!(consents, r#", "withdrawn_at": {w}"#);
            }
            consents.push('}');
            if k.marketing && k.given_at <= self.now && k.withdrawn_at.is_none_or(|w| w > self.now)
            {
                if !live.is_empty() {
                    live.push_str(", ");
                }
                let _ = write!(live, r#""{}""#, k.channel.name());
            }
        }
        format!(
            r#"{{"now": {}, "local_hour": {}, "channel": "{}", "to": {{"in_service_interaction": {}, "messages_7d": {}, "consents": [{}], "marketing_channels": [{}]}}}}"#,
            self.now,
            local_hour(self),
            self.channel.name(),
            self.in_service_interaction,
            self.messages_7d,
            consents,
            live
        )
    }
}

/// The Cedar policies: `(id, text)`, ids equal to XOP's reasons.
pub fn cedar_policies() -> Vec<(String, String)> {
    [
        ("in-service-interaction", "forbid (principal, action, resource) when { context.to.in_service_interaction };"),
        ("no-consent", "forbid (principal, action, resource) unless { context.to.marketing_channels.contains(context.channel) };"),
        ("frequency-cap", "forbid (principal, action, resource) when { context.to.messages_7d >= 3 };"),
        ("quiet-hours", "forbid (principal, action, resource) unless { context.local_hour >= 8 && context.local_hour < 21 };"),
        ("eligible", "permit (principal, action, resource);"),
    ]
    .iter()
    .map(|(id, text)| (id.to_string(), text.to_string()))
    .collect()
}

/// The Rego policy (`package xop`, entry `data.xop.result` with `allow` and `deny`): consent
/// by quantifying over the records, as XOP does.
pub fn rego_source() -> String {
    r#"package xop

deny contains "in-service-interaction" if input.to.in_service_interaction

deny contains "no-consent" if not consented

consented if {
  some k in input.to.consents
  k.purpose == "marketing"
  k.channel == input.channel
  k.given_at <= input.now
  not withdrawn(k)
}

withdrawn(k) if k.withdrawn_at <= input.now

deny contains "frequency-cap" if input.to.messages_7d >= 3

deny contains "quiet-hours" if not daytime

daytime if {
  input.local_hour >= 8
  input.local_hour < 21
}

default allow := false

allow if count(deny) == 0

result := {"allow": allow, "deny": deny}
"#
    .to_string()
}

/// `count` deterministic cases covering every rule and both verdicts: zones on both sides of
/// the quiet hours, consents given, withdrawn, for other channels and purposes.
pub fn cases(count: usize) -> Vec<Case> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC"];
    let channels = [Channel::Sms, Channel::Email, Channel::Voice];
    // 2026-11-25T00:00:00Z
    let day = 1_764_028_800_000i64;
    (0..count)
        .map(|k| {
            let tz = zones[(next() % 4) as usize].to_string();
            let now = day + (next() % 86_400_000) as i64;
            let consents = (0..next() % 4)
                .map(|_| Consent {
                    marketing: next() % 4 != 0,
                    channel: channels[(next() % 3) as usize],
                    given_at: now - (next() % 1_000_000_000) as i64 + 100_000_000,
                    withdrawn_at: (next() % 3 == 0)
                        .then(|| now + (next() % 200_000) as i64 - 100_000),
                })
                .collect();
            Case {
                in_service_interaction: k % 7 == 0,
                messages_7d: (next() % 5) as i64,
                zone: TimeZone::get(&tz).expect("a zone"),
                tz,
                consents,
                channel: channels[(next() % 3) as usize],
                now,
            }
        })
        .collect()
}

/// The timed case: allowed — a live SMS consent among three records, Paris at 10:00, so that
/// every rule is evaluated and the consent loop walks records.
pub fn timed_case() -> Case {
    let now = 1_764_061_200_000; // 2026-11-25T09:00:00Z, 10:00 in Paris
    let k = |marketing, channel, given_at, withdrawn_at| Consent {
        marketing,
        channel,
        given_at,
        withdrawn_at,
    };
    Case {
        in_service_interaction: false,
        messages_7d: 1,
        tz: "Europe/Paris".into(),
        zone: TimeZone::get("Europe/Paris").expect("Paris"),
        consents: vec![
            k(true, Channel::Email, now - 86_400_000, None),
            k(false, Channel::Sms, now - 86_400_000, None),
            k(true, Channel::Sms, now - 3_600_000, None),
        ],
        channel: Channel::Sms,
        now,
    }
}

/// `n` inputs of the timed case's shape (the same keys, order and blanks; three consents, none
/// withdrawn) with other values: other times, counts, channels and consents, so that some are
/// allowed and some denied.
pub fn timed_shape_cases(n: usize) -> Vec<Case> {
    let channels = [Channel::Sms, Channel::Email, Channel::Voice];
    (0..n)
        .map(|i| {
            let mut k = timed_case();
            k.messages_7d = (i % 4) as i64;
            k.now += (i as i64 % 24) * 3_600_000 + i as i64 * 61_001;
            k.channel = channels[i % 3];
            for (j, c) in k.consents.iter_mut().enumerate() {
                c.channel = channels[(i + j) % 3];
                c.marketing = (i + j) % 4 != 0;
                c.given_at -= (i * 7 + j) as i64 * 86_400_123;
            }
            k
        })
        .collect()
}
