//! Helpers for the unit tests: a state with some files, and offsets of marked places.

use crate::state::{Snapshot, State};
use crate::stdlib::StdlibLocation;

/// The customer model of the tests.
pub const CUSTOMER: &str = "module shop.customer\n\
use std.consent.Consent\n\
/// Sending offers.\n\
purpose marketing\n\
/// Analysts.\n\
role fraud_desk\n\
enum Segment { vip, standard }\n\
/// A customer.\n\
record Customer {\n  id: Id\n  segment: Segment\n  /// Messages in the last 7 days.\n  messages_7d: Int\n  consents: List<Consent>\n}\n";

/// A contact policy over the customer model.
pub const CONTACT: &str = "module shop.contact\n\
use shop.customer.{Customer, marketing}\n\
use std.consent.consent\n\
use std.channel.*\n\
/// Offer something.\n\
action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal\n\
policy contact for send_offer(to: c, channel: ch) {\n  deny \"no-consent\" unless consent(c, marketing, ch)\n  deny \"cap\" when c.messages_7d >= 3\n  allow \"ok\"\n}\n";

/// A state with `files` open (path, text) and a snapshot of it.
pub fn snapshot(files: &[(&str, &str)]) -> (State, Snapshot) {
    let mut st = State::new(StdlibLocation::Scheme);
    for (path, text) in files {
        st.open(path, text, 1);
    }
    let snap = st.snapshot();
    (st, snap)
}

/// The byte offset of the `nth` `needle` in `text`, plus `plus`.
pub fn at(text: &str, needle: &str, nth: usize, plus: usize) -> usize {
    text.match_indices(needle)
        .nth(nth)
        .map(|(i, _)| i + plus)
        .unwrap_or_else(|| panic!("`{needle}` #{nth} is not in the text"))
}
