//! A Cranelift JIT for the scalar subset of the IR. It must agree exactly with the reference
//! interpreter ([`crate::interp`]): same verdict, reasons, fired rules, review terms and error
//! messages. A policy it cannot compile falls back: [`JitModule::decide`] returns `None` and
//! [`JitModule::unsupported`] says why.
//!
//! Supported: parameters of types Bool, Int, Decimal, Money, Duration, Time, enums, symbols,
//! Text, Id, Tz, records (fields flattened at fixed offsets), lists and sets of the input, and
//! optionals of those; the decision time; constants of those kinds (and constant lists for
//! `in`); `not`, `and`, `or`, comparisons (ordering on Int, Decimal, Money of one currency,
//! Duration, Time and Text; structural equality on everything supported, records and lists
//! included: two lists or sets of the input element by element in order, as the interpreter
//! compares them, and a list or set of the input with a list literal or a set literal, whose
//! value is canonical, sorted and unique, see `Gen::literal_eq`),
//! checked arithmetic on Int, Decimal, Money (`+ -` of one currency, `* /` by an Int or a
//! Decimal), Duration and Time, Text concatenation, unary minus, `in` a list or set literal, a
//! constant list or a list of the input, ranges, `is present`, `??` (a list or set literal of
//! constants as the default of a list too), `if`, the quantifiers
//! `any`, `all` and `count` over a list, and the intrinsics `hours`, `minutes`,
//! `days`, `local_hour`, `day_of_week`, `consent`, `contacts_within`, `contacts_on_within` and
//! `swapped_within` (inline over the record's words); signal reads (see Signals below).
//! List and set literals are values too (laid out on the stack, `Gen::list_value`; a set's
//! computed elements sorted and deduplicated there, `Gen::canonical_set`). Optional lists and
//! intrinsic arguments fail where absent as in the interpreter. Not supported (the policy
//! falls back): a set literal of more than 16 computed elements as a value (compared with a
//! list it is compiled), lists of different element types joined by `if` or `??`, a set
//! literal of computed elements that are lists or records holding lists, record literals (only
//! tests can write them), signals whose value is a nested optional, and a decision's proposal
//! arguments that read a signal.
//!
//! Input layout: the arguments are flattened into a buffer of `i64` words derived from the
//! parameter types (Bool 0/1; Int, Duration, Time as is; enum variant index; symbol index; Text,
//! Id and Tz an interned id; Decimal two words, the 16 bytes of rust_decimal's `serialize()`
//! (flags with scale and sign, then the 96-bit mantissa's low, middle and high 32 bits) read as
//! two little-endian words, see `dec_words`; Money those two words then its currency's interned
//! id; a record its fields in order; a list or set two words, where its elements start and how
//! many, the elements after the fixed part; `T?` a presence word then `T`'s words). Text
//! constants are interned at compile time; an input string that is no constant gets a fresh id
//! that equals no constant. Decimal and Money constants are laid out at compile time in data
//! owned next to the code. In generated code a Decimal or Money value is the address of its
//! words (in the input, a constant's data, or a stack slot for a computed one).
//!
//! Strings: a Text, Id or Tz value is a string id, and equal texts have equal ids, so equality
//! is id equality. Ids `0..unknown_base` are the module's constants (`JitModule::strings`,
//! interned at compile time); the next ones the input's strings that are no constant
//! (`Bound::unknown`, numbered when binding); then the texts the run computes (concatenations,
//! see `Texts`), in a scratch area owned by the [`Output`] (or [`DecisionOutput`]), emptied at
//! the start of each run and reused, so that the steady state allocates nothing.
//! `xop_text_concat` writes `x + y` there and gives it the id of an equal constant, input
//! string or earlier result if there is one, else the next id; `xop_signal` interns a signal
//! value's texts the same way. Text ordering calls
//! `xop_text_cmp` (the interpreter's order: by code points, which is by UTF-8 bytes) unless
//! the two ids are equal (or both operands are constants: then it is folded). Only Text values
//! are computed; a currency or zone read from a signal may have any id (messages find its text
//! with `text_of`, and `xop_zone_field` its zone in the run's signal state).
//!
//! Decimal arithmetic and ordering call the host (`xop_dec_arith`, `xop_dec_cmp`), which uses
//! the interpreter's own functions (`interp::dec_checked`), cannot panic, and reports overflow,
//! an inexact result or division by zero as a status that the code turns into the
//! interpreter's error. Decimals of the same scale and sign are compared inline (their 96-bit
//! mantissas), and negation flips the sign bit inline.
//!
//! Output ([`Output`]): `out[0]` is the index of the failing rule + 1 (0 if none), `out[1]` the
//! error site, `out[2]` and `out[3]` the operands the message needs, `out[4]` the verdict,
//! `out[5..9]` the two decimal operands of a failed decimal operation (meaningful only then); then
//! the fired-rule bitset, the bitset of the reasons that applied (indices into the policy's reason
//! table, [`JitModule::reason_table`]) and scratch words (the reasons of each verdict class). The
//! generated code combines the verdict itself. A policy with few bit words keeps them in
//! variables (registers) and writes them at the end or on an error (`Gen::bits`).
//!
//! Signals: a read evaluates its arguments, stores each as a presence word and a payload (the
//! scalar, or the address of the value's words) in a stack slot, and calls `xop_signal` with
//! the index of the read's `SigSite` and a stack slot for the value. The host turns the words
//! back into values (`words_value`), reads through the run's [`Signals`] with the
//! interpreter's memo (per run; in a decision one scope for its own expressions and one per
//! candidate's policies, as `decide_action` has a fresh evaluator) and its out-of-contract rule
//! ([`crate::interp::check_value`]: a value not of the declared type is absent; a set is made
//! canonical, [`crate::interp::canonical`]), and lays the value out with
//! `Flat`, the binder's code, in the declared type made optional; its strings get a
//! constant's, an input string's or a computed text's id (`Texts`). A value holding lists is
//! laid out whole in a buffer the run keeps, each list's start relative to the input's words
//! (where the code looks for elements). A panic of the source is caught and resumed once the
//! code has returned. [`JitModule::run`] and [`JitModule::run_decision`] read every signal as
//! absent (as [`NoSignals`]); the `_with_signals` forms take a source.
//!
//! Hot path: [`JitModule::bind`] lays an input out once (checking it and interning its strings);
//! [`JitModule::run`] then decides it into a reusable [`Output`] without allocating or locking;
//! the only calls are to the host functions for time zones, decimals and texts, which allocate
//! nothing either (but the text scratch area, when a run needs more room than the earlier runs
//! into the same output did). A policy that reads signals also calls `xop_signal`, which
//! allocates (the arguments as values, the memo) and whose source may do I/O; a policy without
//! signals does no extra work. [`JitModule::decide`] does all three and builds a [`Decision`].
//!
//! Equality guards: a run of consecutive rules whose conditions start with `P == constant` on the
//! same input path `P` (alone or as the left operand of `and`) is compiled to one switch on `P`
//! (a jump table or a binary search, as Cranelift sees fit) that evaluates only the rules whose
//! constant matches, in rule order. A skipped rule could neither fire nor fail (`and` stops at a
//! false left operand), so the result is the linear scan's.
//!
//! Rule tables: such a run whose residuals are one simple comparison on a shared input path (or
//! nothing) becomes data walked by a small loop instead of code per rule, so that compiling
//! stays fast for ten rules and for thousands (see `Gen::table_run`).
//!
//! Decisions: each decision is one function too ([`JitModule::run_decision`] into a
//! [`DecisionOutput`]): per proposal its condition, arguments and rank, then the rules of every
//! policy guarding its action inlined on those arguments, into the proposal's own block; the
//! candidates' (proposal, rank) pairs are sorted in the generated code (highest first, ties in
//! written order; Ints and Decimals by value, a failed candidate below every rank, as
//! `interp::rank_order` orders them). A decision ranked by a Decimal has three words per rank
//! (see `Cand::rank_words`) and compares ranks through the host (`xop_rank_cmp`). A decision with a rank or an argument the JIT cannot compile or check falls
//! back: [`JitModule::decide_decision`] returns `None` and [`JitModule::decision_unsupported`]
//! says why.
//!
//! All of the runtime's `unsafe` is in this module: calling the generated code and freeing it.
#![allow(unsafe_code)]

// Fx, not SipHash: the keys are the program's own strings (inputs only look up), and interning
// was a tenth of JIT-compiling 1,000 rules.
use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I32, I64, I128};
use cranelift_codegen::ir::{AbiParam, BlockArg, InstBuilder, MemFlagsData};
use cranelift_codegen::ir::{Block, FuncRef, StackSlotData, StackSlotKind, Value as CVal};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Switch, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

use crate::interp::{self, BAD_INPUT, Cancelled, Candidate, Decision, NoSignals, RUNTIME_ERROR};
use crate::interp::{Signals, canonical_in, check_input};
use crate::intrinsics;
use crate::ir::{
    ArithOp, CmpOp, DecisionDef, Expr, Intrinsic, MAX_RECORD_DEPTH, Param, Policy, Program,
    Proposal, Quantifier, Rule, Type, Verdict, layout_size as size,
};
use crate::reads::Reads;
use crate::value::Value;
use crate::zone::{Field, Zone};
use rust_decimal::Decimal;

mod json;
mod reader;
pub use json::{JsonError, JsonReader};

/// Output words before the fired-rule bitset.
const HEADER: usize = 9;

/// Word 0 of a run's output (otherwise the failing rule + 1, at most the number of rules) when
/// the run stopped because its cancel flag was set ([`Gen::stop_check`]).
const CANCELLED: u64 = u64::MAX;

/// The cancel flag of a run given none: never set, so such a run is never cancelled (its code
/// still loads it where it would load a given one).
static NEVER_CANCELLED: AtomicBool = AtomicBool::new(false);

/// The output words holding the decimal operands an error message needs (two words each,
/// see [`dec_words`]): set when a decimal operation fails, read only then.
const WIDE: usize = 5;

/// The output word holding the verdict ([`VERDICT_ALLOW`] …).
const VERDICT: usize = 4;

/// Verdict codes in the output, ordered as the combining rule ranks them.
const VERDICT_ALLOW: i64 = 0;
const VERDICT_REVIEW: i64 = 1;
const VERDICT_DENY: i64 = 2;

/// A run of at least this many rules guarded by equality on one path becomes a switch.
const SWITCH_MIN: usize = 4;

/// A run of at least this many equality-guarded rules whose residuals are simple comparisons
/// becomes a table walked by a small loop instead of code per rule (see [`Gen::table_run`]).
/// Shorter runs are switches whose simple cases are a few branch-free instructions
/// ([`Gen::case_rule`]): they decide faster than a table (118 instructions per call against
/// 156 at 10 rules), for a third more instructions in the JIT (1.75 M against 1.30 M per
/// 10-rule compile).
const TABLE_MIN: usize = 16;

/// Words per rule entry of a rule table: the residual's outcome mask, its constant, the fired
/// word's byte offset and bit, the reason-class word's byte offset and bit.
const ENTRY_WORDS: usize = 6;

/// Gives every compiled module its own id, so that inputs and outputs of one module are never
/// used with another's code.
static NEXT_MODULE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Expressions nested deeper than this are not compiled (the interpreter's limit is
/// [`interp::MAX_DEPTH`]; staying well below it keeps the two from having to agree on it).
const MAX_JIT_DEPTH: u32 = 200;

/// The generated function: `(input, now, out, host context)`.
type PolicyFn = unsafe extern "C" fn(*const i64, i64, *mut u64, *const HostCtx<'_>);

/// A compiled module: the generated code of every supported policy of a program.
pub struct JitModule {
    id: u64,
    /// The program compiled (shared with the caller when given with [`compile_shared`]).
    program: Arc<Program>,
    strings: HashMap<String, i64>,
    /// The constant strings by id (`names[id]`), for the host functions and messages.
    names: Vec<Box<str>>,
    /// The zone of every string used as a `Tz` constant, by id (set once, by `compile`).
    const_zones: Zones,
    policies: Vec<Entry>,
    /// The decisions, by index.
    decisions: Vec<DecisionEntry>,
    /// The signal reads of the generated code, by the index it passes to [`xop_signal`].
    sig_sites: Vec<SigSite>,
    /// Whether each policy's code, and each decision's, reads a signal: those that do not run
    /// without a signal state even when given a source (no extra work on their path).
    policy_reads: Vec<bool>,
    decision_reads: Vec<bool>,
    /// Owns the code; `None` only during drop. (A `Mutex` because `JITModule` is not `Sync`;
    /// it is never locked while deciding.)
    module: Option<Mutex<JITModule>>,
}

enum Entry {
    Compiled(Compiled),
    Unsupported(String),
}

enum DecisionEntry {
    Compiled(CompiledDecision),
    Unsupported(String),
}

/// A decision's code and output layout: the candidate count at word [`DEC_COUNT`], then one
/// (proposal, rank) pair per proposal (the first `count` of them are the ranked candidates;
/// the proposal word is `!p`, negative, for a candidate whose own evaluation failed, see
/// [`pair_proposal`]), then one block per proposal.
struct CompiledDecision {
    f: PolicyFn,
    input_words: usize,
    sites: Vec<Site>,
    cands: Vec<Cand>,
    out_words: usize,
    /// The rule tables the code reads (as in [`Compiled`]).
    _data: Vec<Box<[i64]>>,
}

/// One proposal's block in a decision's output: its rank at `base`, then a policy-shaped block
/// (error words, verdict, fired bits, reason bits) over the rules of every policy guarding its
/// action, in the order `decide_action` evaluates them.
struct Cand {
    base: usize,
    /// The rank's words at `base`: 1 (an Int; `i64::MIN` for a failed candidate), or 3 when
    /// the decision has a Decimal rank (a kind, [`RANK_INT`], [`RANK_DECIMAL`] or
    /// [`RANK_FAILED`], then the Int or the decimal's two words).
    rank_words: usize,
    /// Each rule's policy and index in it.
    rules: Vec<(usize, usize)>,
    tables: Tables,
}

impl Cand {
    /// Where the candidate's policy-shaped block starts.
    fn block(&self) -> usize {
        self.base + self.rank_words
    }
}

/// `compile_decision`'s refusal when a rank is a Decimal and ranks are one word: compile again
/// with wide ranks.
const WIDE_RANKS: &str = "ranks by a Decimal (wide ranks needed)";

/// Where a decision's output holds its candidate count.
const DEC_COUNT: usize = 0;

/// Where a decision's (proposal, rank) pairs start.
const DEC_PAIRS: usize = 1;

/// The kind word of a wide rank (see [`Cand::rank_words`]): an Int.
const RANK_INT: i64 = 0;
/// The kind word of a wide rank: a Decimal.
const RANK_DECIMAL: i64 = 1;
/// The kind word of a wide rank: a candidate whose own evaluation failed (shown as the Int
/// `i64::MIN`, ranked below every real rank).
const RANK_FAILED: i64 = 2;

/// The proposal index of a (proposal, rank) pair's first word, and whether the candidate's
/// own evaluation failed (the word is then `!p`).
fn pair_proposal(w: u64) -> (usize, bool) {
    let w = w as i64;
    let (p, failed) = if w < 0 { (!w, true) } else { (w, false) };
    (usize::try_from(p).unwrap_or(usize::MAX), failed)
}

struct Compiled {
    f: PolicyFn,
    input_words: usize,
    sites: Vec<Site>,
    tables: Tables,
    switches: usize,
    rule_tables: usize,
    /// How many loads of the run's cancel flag the code makes (one per loop nested in another
    /// loop, see [`Gen::stop_check`]).
    stop_checks: usize,
    /// What the rules can read of each parameter: the binders leave the rest's strings out.
    reads: Vec<Reads>,
    /// The rule tables the code reads at their fixed addresses (see [`Gen::table_run`]):
    /// owned here, next to the code, and never changed.
    _data: Vec<Box<[i64]>>,
}

/// A policy's reason table and output layout.
#[derive(Debug, Clone)]
struct Tables {
    /// The distinct reasons of the policy's rules, in order of first appearance.
    reasons: Vec<String>,
    /// Each rule's index in `reasons`.
    rule_reason: Vec<Option<u32>>,
    /// Words of the fired-rule bitset.
    fired_words: usize,
    /// Words of one reason bitset.
    reason_words: usize,
}

impl Tables {
    fn new(rules: &[&Rule]) -> Tables {
        let mut reasons: Vec<String> = Vec::new();
        // Indexed by name: a policy of thousands of distinct reasons stays linear.
        let mut index: HashMap<&str, usize> = HashMap::default();
        let rule_reason = rules
            .iter()
            .map(|r| {
                let reason = r.reason.as_ref()?;
                let i = *index.entry(reason.as_str()).or_insert_with(|| {
                    reasons.push(reason.clone());
                    reasons.len() - 1
                });
                u32::try_from(i).ok()
            })
            .collect();
        Tables {
            fired_words: rules.len().div_ceil(64),
            reason_words: reasons.len().div_ceil(64),
            reasons,
            rule_reason,
        }
    }

    /// Where the reason bitset starts.
    fn reasons_at(&self) -> usize {
        HEADER + self.fired_words
    }

    /// Where the reasons of verdict class `v` (a `VERDICT_*` code) accumulate.
    fn class_at(&self, v: i64) -> usize {
        HEADER + self.fired_words + self.reason_words * (1 + v as usize)
    }

    /// The output's length in words.
    fn out_words(&self) -> usize {
        HEADER + self.fired_words + 4 * self.reason_words
    }
}

/// An input laid out for one compiled policy ([`JitModule::bind`]): reusable, and valid only
/// with the module and policy it was bound for.
#[derive(Debug, Clone)]
pub struct Bound {
    module: u64,
    policy: usize,
    /// Bound for decision `policy` rather than for a policy.
    decision: bool,
    /// The fixed part (the parameters' words), then the elements of every list, each list's
    /// two words in the fixed part pointing at them. Only [`JitModule::bind_into`] and the JSON
    /// reader (`jit/json.rs`, which places lists the same way) write it, so every list points
    /// inside it: the generated code relies on that.
    words: Vec<i64>,
    /// The strings of the input that are no constant of the module, by id − `unknown_base`.
    unknown: Vec<String>,
    unknown_base: i64,
    /// `unknown` by content, when it holds more than [`LINEAR_STRINGS`] strings (built by
    /// whatever fills `unknown`: [`Flat`] as it interns, the JSON reader as it hands them over).
    index: StrIndex,
    /// The time zone of every `Tz` id of the input (`None`: not a known IANA zone).
    zones: Zones,
}

impl Bound {
    /// The index in `unknown` of a string equal to `s`: by comparing with each of a few, else
    /// through `index`.
    #[inline]
    fn unknown_position(&self, s: &str) -> Option<usize> {
        if self.unknown.len() <= LINEAR_STRINGS {
            return self.unknown.iter().position(|u| u == s);
        }
        self.index.find(&self.unknown, s)
    }
}

/// Time zones by string id, as generated code finds them: the zones themselves, and next to
/// them the pairs `(id, table address)` the code searches (see [`Zone::table_addr`]; 0 for an
/// id that is no IANA zone). Both change only together, through `push` and `clear`, so every
/// address in `pairs` is the table of a `Zone` held in `list`, alive as long as this value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Zones {
    list: Vec<(i64, Option<Zone>)>,
    pairs: Vec<i64>,
}

impl Zones {
    pub(crate) fn push(&mut self, (id, zone): (i64, Option<Zone>)) {
        self.pairs
            .extend([id, zone.as_ref().map_or(0, Zone::table_addr)]);
        self.list.push((id, zone));
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.pairs.clear();
    }

    /// Makes entry `k` (entries from `k` on are dropped if it differs) id `id` with `zone`,
    /// keeping the entry it already is: a reader filling the same input again and again does
    /// not clone and drop the zone (two atomic operations) each time.
    pub(crate) fn set(&mut self, k: usize, id: i64, zone: &Zone) {
        if let Some((i, Some(z))) = self.list.get(k)
            && *i == id
            && z.table_addr() == zone.table_addr()
        {
            return;
        }
        self.truncate(k);
        self.push((id, Some(zone.clone())));
    }

    /// Whether `pairs` is exactly `list`'s ids and table addresses (for tests' comparisons).
    pub(crate) fn consistent(&self) -> bool {
        self.pairs.len() == 2 * self.list.len()
            && self
                .list
                .iter()
                .zip(self.pairs.chunks(2))
                .all(|((id, z), p)| p == [*id, z.as_ref().map_or(0, Zone::table_addr)])
    }

    /// Keeps the first `n` entries (inline, and nothing done when there are no more: a
    /// reader filling an input with the zones it had calls this on every input).
    #[inline]
    pub(crate) fn truncate(&mut self, n: usize) {
        if self.list.len() > n {
            self.list.truncate(n);
            self.pairs.truncate(2 * n);
        }
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, (i64, Option<Zone>)> {
        self.list.iter()
    }

    /// The pairs' address and how many pairs there are, for [`HostCtx`].
    fn raw(&self) -> (*const i64, i64) {
        (self.pairs.as_ptr(), self.list.len() as i64)
    }
}

/// Where a compiled policy writes its decision ([`JitModule::output`]); reusable across calls.
#[derive(Debug, Clone)]
pub struct Output {
    module: u64,
    policy: usize,
    words: Vec<u64>,
    /// The texts the last run computed (concatenations), reused by the next.
    texts: Texts,
}

/// The texts a run computes (concatenations), in a scratch area owned by its output and reused
/// across runs, so that the steady state allocates nothing. Text `k` of a run on input `b` has
/// string id `b.unknown_base + b.unknown.len() + k`: ids `0..unknown_base` are the module's
/// constants, the next `unknown.len()` the input's strings that are no constant, then these.
/// A computed text equal to a constant or to an input string gets that id instead, and equal
/// computed texts get one id, so that equal texts always have equal ids.
#[derive(Debug, Clone, Default)]
struct Texts {
    /// The texts, back to back.
    buf: String,
    /// Where each text ends in `buf` (text `k` is `buf[ends[k - 1]..ends[k]]`).
    ends: Vec<usize>,
    /// The texts by content, so that a repeated result is found without scanning the earlier
    /// ones: a `hashbrown` [`HashTable`](hashbrown::HashTable) of their `k`s, given the hash and
    /// the comparison (with the text in `buf`) at each call, as [`StrIndex`] is. Emptied at a
    /// run's first text with its capacity kept ([`Texts::forget`]), so the steady state
    /// allocates nothing.
    index: hashbrown::HashTable<usize>,
    /// std's SipHash with random keys (drawn at the first text filed), as [`StrIndex`]'s: the
    /// texts are made of the input's strings, whose sender could otherwise pick texts that
    /// collide and make the table a list again.
    hasher: Option<std::hash::RandomState>,
}

/// Up to how many slots [`Texts::forget`] keeps the index's table whatever the last run filed
/// in it. A larger table with more than [`TEXTS_SLACK`] times as many slots as the last run
/// filed texts is dropped rather than emptied: emptying writes a byte per slot, so one run that
/// computed 100,000 texts would otherwise make every later run on the output that computes one
/// write 128 KiB.
const TEXTS_KEEP: usize = 1024;

/// See [`TEXTS_KEEP`].
const TEXTS_SLACK: usize = 16;

impl Texts {
    /// Empties the area for the next run: two stores, whatever the last run computed. The
    /// index still files the last run's texts; the run's first text empties it
    /// ([`Self::forget`]), so that a run that computes no text (most runs) does not touch it.
    // Always inlined (into `run`, through `HostCtx::new`): a call here, even one taken only
    // after runs that computed texts, made `run` save five registers on every run.
    #[inline(always)]
    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// Empties the index of the last run's texts (at this run's first), keeping its table;
    /// a table of more than [`TEXTS_KEEP`] slots, over [`TEXTS_SLACK`] times as many as the
    /// last run filed texts, is dropped instead.
    fn forget(&mut self) {
        let cap = self.index.capacity();
        if cap > TEXTS_KEEP && cap / TEXTS_SLACK > self.index.len() {
            self.index = hashbrown::HashTable::new();
        } else {
            self.index.clear();
        }
    }

    /// The text `buf[start..]`, just written: if an earlier text of this run is equal, drops
    /// it and gives that text's `k` (`Ok`); else keeps it as the next text and gives its `k`
    /// (`Err`). Allocates only when the index or the lists must grow.
    fn find_or_add(&mut self, start: usize) -> Result<usize, usize> {
        if self.ends.is_empty() {
            self.forget();
        }
        let Texts {
            buf,
            ends,
            index,
            hasher,
        } = self;
        let h = hasher.get_or_insert_with(std::hash::RandomState::new);
        let s = buf.get(start..).unwrap_or("");
        let hash = std::hash::BuildHasher::hash_one(&*h, s);
        let entry = index.entry(
            hash,
            |&k| text_in(buf, ends, k) == Some(s),
            |&k| std::hash::BuildHasher::hash_one(&*h, text_in(buf, ends, k).unwrap_or("")),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => {
                let k = *e.get();
                buf.truncate(start);
                Ok(k)
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                ends.push(buf.len());
                let k = ends.len() - 1;
                e.insert(k);
                Err(k)
            }
        }
    }

    /// Where computed text `k` is in `buf`.
    fn span(&self, k: usize) -> Option<(usize, usize)> {
        span_in(&self.ends, k)
    }
}

/// Where text `k` is in a [`Texts`]'s `buf`, given its `ends`.
fn span_in(ends: &[usize], k: usize) -> Option<(usize, usize)> {
    let end = *ends.get(k)?;
    let start = if k == 0 { 0 } else { ends[k - 1] };
    Some((start, end))
}

/// Text `k` of a [`Texts`], given its `buf` and `ends` (for the index's closures, which cannot
/// borrow the whole of it).
fn text_in<'a>(buf: &'a str, ends: &[usize], k: usize) -> Option<&'a str> {
    let (a, b) = span_in(ends, k)?;
    buf.get(a..b)
}

/// Up to how many strings that are no constant a binder finds a string among them by comparing
/// it with each; past that, through a [`StrIndex`]. An input usually has a handful, for which
/// the comparisons are cheaper than a hash (the JSON reader's figure per input counts them).
pub(crate) const LINEAR_STRINGS: usize = 16;

/// An index by content of a list of strings kept elsewhere (an input's strings that are no
/// constant, in order of first appearance), so that interning the `n`th string costs O(1)
/// expected rather than `n` comparisons: an input of 100,000 distinct strings took seconds.
/// It is used only for a list of more than [`LINEAR_STRINGS`] strings, and built when the list
/// grows past that ([`StrIndex::added`]), so a small input pays one comparison of its length
/// and allocates nothing.
///
/// A `hashbrown` [`HashTable`](hashbrown::HashTable) of the strings' positions in the list: the
/// table holds only `u32`s and is given the hash and the comparison (with the list's string) at
/// each call, so the strings are not copied. It is reused: starting over clears it and keeps its
/// capacity. The hash is std's SipHash with random keys (`RandomState`, drawn once per index):
/// the strings come from whoever sends the input, who could otherwise pick strings that collide
/// and make the table a list again.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrIndex {
    table: hashbrown::HashTable<u32>,
    /// How many of the list's strings are filed (its first `filed`): the index answers only for
    /// a list of exactly that length, and a search over any other falls back to comparing.
    filed: usize,
    hasher: Option<std::hash::RandomState>,
}

impl StrIndex {
    /// Notes that `list` just grew by one string (its last): files it, building the index
    /// when the list grows past [`LINEAR_STRINGS`] (a list that started again from empty
    /// reaches that length again, so its index is built anew).
    #[inline]
    pub(crate) fn added<S: AsRef<str>>(&mut self, list: &[S]) {
        if list.len() > LINEAR_STRINGS {
            self.file_last(list);
        }
    }

    #[inline(never)]
    fn file_last<S: AsRef<str>>(&mut self, list: &[S]) {
        let n = list.len();
        if n == LINEAR_STRINGS + 1 || self.filed + 1 != n {
            self.build(list);
        } else {
            self.file(list, n - 1);
        }
    }

    /// Files every string of `list` anew (what was filed before is dropped; the table keeps
    /// its capacity and grows, if it must, once for all of them).
    #[cold]
    #[inline(never)]
    pub(crate) fn build<S: AsRef<str>>(&mut self, list: &[S]) {
        self.filed = 0;
        self.table.clear();
        let h = self.hasher.get_or_insert_with(std::hash::RandomState::new);
        // Only what the table cannot hold fails (searches then compare).
        if self
            .table
            .try_reserve(list.len(), |&k| hash_at(h, list, k))
            .is_err()
        {
            return;
        }
        for k in 0..list.len() {
            self.file(list, k);
        }
    }

    /// Files string `k` of `list`, the next one (`k == filed`).
    /// A `k` that does not fit in 32 bits is not filed: searches then compare.
    fn file<S: AsRef<str>>(&mut self, list: &[S], k: usize) {
        let (Some(s), Ok(kk)) = (list.get(k), u32::try_from(k)) else {
            return;
        };
        if k != self.filed {
            return;
        }
        let h = self.hasher.get_or_insert_with(std::hash::RandomState::new);
        let hash = std::hash::BuildHasher::hash_one(&*h, s.as_ref());
        self.table.insert_unique(hash, kk, |&k| hash_at(h, list, k));
        self.filed += 1;
    }

    /// The index in `list` of a string equal to `s`: through the table if it files exactly
    /// `list`'s strings, else by comparing with each.
    pub(crate) fn find<S: AsRef<str>>(&self, list: &[S], s: &str) -> Option<usize> {
        let Some(h) = self.hasher.as_ref().filter(|_| self.filed == list.len()) else {
            return list.iter().position(|u| u.as_ref() == s);
        };
        let hash = std::hash::BuildHasher::hash_one(h, s);
        self.table
            .find(hash, |&k| {
                list.get(k as usize).is_some_and(|u| u.as_ref() == s)
            })
            .map(|&k| k as usize)
    }
}

/// The hash of string `k` of `list`, as [`StrIndex`] files it (when its table grows, it hashes
/// again what it holds).
fn hash_at<S: AsRef<str>>(h: &std::hash::RandomState, list: &[S], k: u32) -> u64 {
    let s = list.get(k as usize).map_or("", AsRef::as_ref);
    std::hash::BuildHasher::hash_one(h, s)
}

impl Output {
    /// The verdict of the last run, or `None` if it failed (a run-time error: the decision is a
    /// deny, see [`JitModule::decision`]) or nothing ran yet.
    pub fn verdict(&self) -> Option<Verdict> {
        if self.words.len() < HEADER || self.words[0] != 0 {
            return None;
        }
        match self.words[VERDICT] as i64 {
            VERDICT_ALLOW => Some(Verdict::Allow),
            VERDICT_REVIEW => Some(Verdict::Review),
            VERDICT_DENY => Some(Verdict::Deny),
            _ => None,
        }
    }

    /// Whether rule `i` fired in the last run.
    pub fn fired(&self, i: usize) -> bool {
        self.words
            .get(HEADER + i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// The bitset of the reasons that applied (bit `i` is the module's reason table entry `i` for
    /// this policy, [`JitModule::reason_table`]).
    pub fn reason_bits(&self, module: &JitModule) -> &[u64] {
        match module.tables(self.policy) {
            Some(t) if self.words.len() >= t.out_words() => {
                &self.words[t.reasons_at()..t.reasons_at() + t.reason_words]
            }
            _ => &[],
        }
    }

    /// The names of the reasons in [`Self::reason_bits`], in the module's reason table order
    /// (not the interpreter's rule order).
    pub fn reason_names<'m>(&self, module: &'m JitModule) -> Vec<&'m str> {
        let bits = self.reason_bits(module);
        (module.reason_table(self.policy).iter().enumerate())
            .filter(|(i, _)| bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0))
            .map(|(_, r)| r.as_str())
            .collect()
    }
}

/// Why [`JitModule::run`] did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunError {
    /// The policy is not compiled ([`JitModule::unsupported`] says why) or does not exist.
    NotCompiled,
    /// The input or output belongs to another module or policy.
    Mismatch,
    /// The run's cancel flag was set and the code stopped before its end
    /// ([`JitModule::run_until`]): the output holds no decision.
    Cancelled,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunError::NotCompiled => "the policy is not compiled by the JIT",
            RunError::Mismatch => "the input or output was made for another module or policy",
            RunError::Cancelled => "the run was cancelled before its end (its cancel flag was set)",
        })
    }
}

/// Where a run-time error can happen, and how to word its message from `out[2]`, `out[3]`.
#[derive(Debug, Clone)]
enum Site {
    /// A fixed message.
    Msg(String),
    /// Checked integer arithmetic `x op y` (the interpreter's `int_op`).
    IntOp(ArithOp),
    /// `duration + time` overflows.
    DurPlusTime,
    /// `time - time` overflows.
    TimeMinusTime,
    /// `-(x)` on an Int.
    NegInt,
    /// `-(x)` on a Duration.
    NegDur,
    /// Arithmetic on an absent operand: `x`, `y` are the operands' presence.
    ArithAbsent(ArithOp, &'static str, &'static str),
    /// `hours(x)` (or `minutes`, `days`) overflows.
    Unit(&'static str),
    /// `local_hour` or `day_of_week` in zone `y` (a string id) that is no IANA zone.
    UnknownZone,
    /// `local_hour` or `day_of_week` of instant `x`, out of the range of times.
    InstantRange,
    /// Decimal arithmetic `x op y` overflows or cannot be represented exactly: the operands are
    /// the output's wide words, or (`int_y`) `y` is an Int in `y` (Money times or by an Int).
    DecOverflow(ArithOp, bool),
    /// Decimal division by zero, the operands as for [`Site::DecOverflow`].
    DecDivZero(bool),
    /// Money arithmetic in currencies `x` and `y` (string ids).
    MixedCurrencies(ArithOp),
    /// Ordering money in currencies `x` and `y` (string ids).
    CompareCurrencies,
}

/// A decimal's two input words: the 16 bytes of [`Decimal::serialize`] (flags, then the 96-bit
/// mantissa's low, middle and high 32 bits, little-endian), as two little-endian words.
fn dec_words(d: &Decimal) -> [i64; 2] {
    let b = d.serialize();
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&b[..8]);
    hi.copy_from_slice(&b[8..]);
    [i64::from_le_bytes(lo), i64::from_le_bytes(hi)]
}

/// The decimal of two words written by [`dec_words`] (any words give some decimal).
fn dec_of(w: [i64; 2]) -> Decimal {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&w[0].to_le_bytes());
    b[8..].copy_from_slice(&w[1].to_le_bytes());
    Decimal::deserialize(b)
}

fn op_symbol(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Rem => "%",
    }
}

impl Site {
    /// The message, with `name` giving the string of an interned id and `wide` the output's
    /// decimal operand words.
    fn message(&self, x: i64, y: i64, wide: [i64; 4], name: &dyn Fn(i64) -> String) -> String {
        let dx = || dec_of([wide[0], wide[1]]);
        let dy = |int_y: bool| {
            if int_y {
                Decimal::from(y)
            } else {
                dec_of([wide[2], wide[3]])
            }
        };
        match self {
            Site::DecOverflow(op, int_y) => {
                // The interpreter's words for the same operands (an overflow, or a result a
                // Decimal cannot hold exactly): one text in both engines.
                let (x, y) = (dx(), dy(*int_y));
                interp::dec_op(*op, x, y)
                    .err()
                    .unwrap_or_else(|| format!("{x} {} {y} overflows", op_symbol(*op)))
            }
            Site::DecDivZero(int_y) => format!("{} / {}: division by zero", dx(), dy(*int_y)),
            Site::MixedCurrencies(op) => format!(
                "money in {} {} money in {}: mixed currencies",
                name(x),
                op_symbol(*op),
                name(y)
            ),
            Site::CompareCurrencies => {
                format!("comparing money in {} with money in {}", name(x), name(y))
            }
            Site::Unit(f) => format!("{f}({x}) overflows the range of durations"),
            Site::UnknownZone => format!("unknown time zone {:?}", name(y)),
            Site::InstantRange => {
                format!("the instant {x}ms is outside the supported range of times")
            }
            Site::Msg(m) => m.clone(),
            Site::IntOp(op) => {
                if matches!(op, ArithOp::Div | ArithOp::Rem) && y == 0 {
                    format!("{x} {} 0: division by zero", op_symbol(*op))
                } else {
                    format!("{x} {} {y} overflows", op_symbol(*op))
                }
            }
            Site::DurPlusTime => format!("{x}ms + time {y} overflows"),
            Site::TimeMinusTime => format!("time {x} - time {y} overflows"),
            Site::NegInt => format!("-({x}) overflows"),
            Site::NegDur => format!("-({x}ms) overflows"),
            Site::ArithAbsent(op, a, b) => format!(
                "{} {} {}: absent where a value is needed",
                if x == 0 { "absent" } else { a },
                op_symbol(*op),
                if y == 0 { "absent" } else { b }
            ),
        }
    }
}

impl std::fmt::Debug for JitModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let compiled = self
            .policies
            .iter()
            .filter(|e| matches!(e, Entry::Compiled(_)))
            .count();
        f.debug_struct("JitModule")
            .field("policies", &self.policies.len())
            .field("compiled", &compiled)
            .finish()
    }
}

impl Drop for JitModule {
    fn drop(&mut self) {
        // The function pointers die with `self.policies` and `self.decisions`; nothing can call
        // them from now on.
        self.policies.clear();
        self.decisions.clear();
        if let Some(m) = self.module.take() {
            let m = m.into_inner().unwrap_or_else(|p| p.into_inner());
            // SAFETY: the only pointers into this module's code are the `PolicyFn`s of
            // `self.policies` and `self.decisions`, which are only called through `&self`
            // (`run`, `run_decision`); `drop` has
            // `&mut self`, so no call is running (callers hold an `Arc<JitModule>` while calling)
            // and none can start: the pointers were cleared above and never escape `self`.
            unsafe { m.free_memory() };
        }
    }
}

/// A JIT builder for this host (`opt_level` speed) that knows the host functions `symbols`
/// (name and address), and no others.
fn jit_builder(symbols: &[(&str, *const u8)]) -> Result<JITBuilder, String> {
    // Cranelift's IR verifier costs about a tenth of compiling: debug builds (and so every
    // test) run it on all generated code; release builds trust what the tests verified.
    let verifier = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    let flags = [("opt_level", "speed"), ("enable_verifier", verifier)];
    let mut b =
        JITBuilder::with_flags(&flags, default_libcall_names()).map_err(|e| e.to_string())?;
    for &(name, ptr) in symbols {
        b.symbol(name, ptr);
    }
    Ok(b)
}

/// Compiles every policy of `program` that the JIT supports, in one module (which keeps a
/// copy of the program: [`compile_shared`] shares it instead).
pub fn compile(program: &Program) -> JitModule {
    compile_shared(Arc::new(program.clone()))
}

/// [`compile`] for a program the caller shares with the module.
pub fn compile_shared(program: Arc<Program>) -> JitModule {
    let mut jm = JitModule {
        id: NEXT_MODULE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        program: Arc::clone(&program),
        strings: HashMap::default(),
        names: Vec::new(),
        const_zones: Zones::default(),
        policies: Vec::new(),
        decisions: Vec::new(),
        sig_sites: Vec::new(),
        policy_reads: Vec::new(),
        decision_reads: Vec::new(),
        module: None,
    };
    let program: &Program = &program;
    let all_unsupported = |jm: &mut JitModule, why: String| {
        jm.policies = (0..program.policies.len())
            .map(|_| Entry::Unsupported(why.clone()))
            .collect();
        jm.decisions = (0..program.decisions.len())
            .map(|_| DecisionEntry::Unsupported(why.clone()))
            .collect();
    };
    let builder = match jit_builder(&[
        (ZONE_FIELD, xop_zone_field as *const u8),
        (DEC_ARITH, xop_dec_arith as *const u8),
        (DEC_CMP, xop_dec_cmp as *const u8),
        (RANK_CMP, xop_rank_cmp as *const u8),
        (TEXT_CMP, xop_text_cmp as *const u8),
        (TEXT_CONCAT, xop_text_concat as *const u8),
        (SIGNAL, xop_signal as *const u8),
    ]) {
        Ok(b) => b,
        Err(e) => {
            all_unsupported(&mut jm, format!("no JIT on this host: {e}"));
            return jm;
        }
    };
    let mut module = JITModule::new(builder);
    if module.target_config().pointer_type() != I64 {
        all_unsupported(&mut jm, "the JIT needs 64-bit pointers".into());
        jm.module = Some(Mutex::new(module));
        return jm;
    }
    let host = match Host::declare(&mut module) {
        Ok(h) => h,
        Err(e) => {
            all_unsupported(&mut jm, e);
            jm.module = Some(Mutex::new(module));
            return jm;
        }
    };
    let mut contexts = None;
    let mut pending = Vec::with_capacity(program.policies.len());
    let mut tz_consts = Vec::new();
    for (i, pol) in program.policies.iter().enumerate() {
        let reads = jm.sig_sites.len();
        pending.push(with_contexts(&mut module, &mut contexts, |cl| {
            compile_policy(
                cl,
                program,
                pol,
                i,
                (&mut jm.strings, &mut tz_consts, &mut jm.sig_sites),
                &host,
            )
        }));
        jm.policy_reads.push(jm.sig_sites.len() != reads);
    }
    let mut pending_decisions = Vec::with_capacity(program.decisions.len());
    for (i, def) in program.decisions.iter().enumerate() {
        let reads = jm.sig_sites.len();
        // Ranked by a Decimal somewhere: again, with a kind and two words per rank.
        let mut code = Err(WIDE_RANKS.to_string());
        for wide in [false, true] {
            code = with_contexts(&mut module, &mut contexts, |cl| {
                compile_decision(
                    cl,
                    program,
                    def,
                    i,
                    (&mut jm.strings, &mut tz_consts, &mut jm.sig_sites),
                    &host,
                    wide,
                )
            });
            if !code.as_ref().is_err_and(|e| e == WIDE_RANKS) {
                break;
            }
        }
        pending_decisions.push(code);
        jm.decision_reads.push(jm.sig_sites.len() != reads);
    }
    jm.names = vec![Box::from(""); jm.strings.len()];
    for (name, &id) in &jm.strings {
        jm.names[id as usize] = Box::from(name.as_str());
    }
    // The zones of the `Tz` constants, resolved once.
    for (name, &id) in &jm.strings {
        if tz_consts.contains(&id) {
            jm.const_zones
                .push((id, crate::intrinsics::time_zone(name).ok()));
        }
    }
    if let Err(e) = module.finalize_definitions() {
        all_unsupported(&mut jm, format!("finalizing the code failed: {e}"));
        jm.module = Some(Mutex::new(module));
        return jm;
    }
    for (i, p) in pending.into_iter().enumerate() {
        jm.policies.push(match p {
            Ok((id, input_words, sites, tables, (switches, rule_tables, stop_checks), data)) => {
                // Only a compiled policy binds inputs.
                let reads = (jm.program.policies.get(i))
                    .map(|pol| Reads::of_policy(&jm.program, pol))
                    .unwrap_or_default();
                let ptr = module.get_finalized_function(id);
                // SAFETY: `ptr` is the entry of a function finalized just above, generated with
                // the signature `(i64, i64, i64, i64)` -> `()` in the platform's default calling
                // convention, which is the C ABI of `PolicyFn` with pointers as 64-bit words
                // (checked above). It stays valid until `free_memory` in `Drop`.
                let f = unsafe { std::mem::transmute::<*const u8, PolicyFn>(ptr) };
                Entry::Compiled(Compiled {
                    f,
                    input_words,
                    sites,
                    tables,
                    switches,
                    rule_tables,
                    stop_checks,
                    reads,
                    _data: data,
                })
            }
            Err(why) => Entry::Unsupported(why),
        });
    }
    for p in pending_decisions {
        jm.decisions.push(match p {
            Ok((id, input_words, sites, cands, out_words, data)) => {
                let ptr = module.get_finalized_function(id);
                // SAFETY: as for the policies above: a function finalized just above with the
                // signature of `PolicyFn`, valid until `free_memory` in `Drop`.
                let f = unsafe { std::mem::transmute::<*const u8, PolicyFn>(ptr) };
                DecisionEntry::Compiled(CompiledDecision {
                    f,
                    input_words,
                    sites,
                    cands,
                    out_words,
                    _data: data,
                })
            }
            Err(why) => DecisionEntry::Unsupported(why),
        });
    }
    jm.module = Some(Mutex::new(module));
    jm
}

impl JitModule {
    /// Why policy `policy` is not compiled (`None` if it is, or if there is no such policy).
    pub fn unsupported(&self, policy: usize) -> Option<&str> {
        match self.policies.get(policy)? {
            Entry::Unsupported(why) => Some(why),
            Entry::Compiled(_) => None,
        }
    }

    /// Decides policy `policy` on `args` at `now_ms` without a signal source (every signal
    /// reads as absent): exactly what [`interp::decide`] gives with [`NoSignals`], or `None` if
    /// the policy is not compiled.
    pub fn decide(&self, policy: usize, args: &[Value], now_ms: i64) -> Option<Decision> {
        self.decide_in(policy, args, now_ms, None)
    }

    /// [`Self::decide`], reading signals from `signals`: exactly what [`interp::decide`] gives
    /// with the same source, which sees the same reads in the same order.
    pub fn decide_with_signals(
        &self,
        policy: usize,
        args: &[Value],
        now_ms: i64,
        signals: &dyn Signals,
    ) -> Option<Decision> {
        self.decide_in(policy, args, now_ms, Some(signals))
    }

    /// [`Self::decide_with_signals`] that stops early once `cancel` is set (see
    /// [`Self::run_until`]): `Some(Err(Cancelled))` then, with no verdict.
    pub fn decide_until(
        &self,
        policy: usize,
        args: &[Value],
        now_ms: i64,
        signals: &dyn Signals,
        cancel: &AtomicBool,
    ) -> Option<Result<Decision, Cancelled>> {
        self.decide_cancellable(policy, args, now_ms, Some(signals), Some(cancel))
    }

    fn decide_in(
        &self,
        policy: usize,
        args: &[Value],
        now_ms: i64,
        signals: Option<&dyn Signals>,
    ) -> Option<Decision> {
        // Given no flag, it is never cancelled.
        self.decide_cancellable(policy, args, now_ms, signals, None)?
            .ok()
    }

    fn decide_cancellable(
        &self,
        policy: usize,
        args: &[Value],
        now_ms: i64,
        signals: Option<&dyn Signals>,
        cancel: Option<&AtomicBool>,
    ) -> Option<Result<Decision, Cancelled>> {
        match self.policies.get(policy) {
            Some(Entry::Unsupported(_)) => return None,
            Some(Entry::Compiled(_)) => {}
            None => {
                return Some(Ok(failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    format!("no policy #{policy} in the program"),
                )));
            }
        }
        let input = match self.bind(policy, args) {
            Ok(b) => b,
            Err(d) => return Some(Ok(d)),
        };
        let mut out = self.output(policy);
        let ran = match (signals, cancel) {
            (None, None) => self.run(&input, now_ms, &mut out),
            (Some(s), None) => self.run_with_signals(&input, now_ms, s, &mut out),
            (s, Some(c)) => self.run_until(&input, now_ms, s, c, &mut out),
        };
        match ran {
            Ok(()) => Some(Ok(self.decision(&input, &out))),
            Err(RunError::Cancelled) => Some(Err(Cancelled)),
            Err(_) => None,
        }
    }

    /// Checks `args` against policy `policy`'s parameters and lays them out for [`Self::run`]
    /// (strings interned). Bad input, like an unknown or uncompiled policy, fails closed: the
    /// error is the deny decision to return.
    pub fn bind(&self, policy: usize, args: &[Value]) -> Result<Bound, Decision> {
        let mut b = Bound {
            module: self.id,
            policy,
            words: Vec::new(),
            unknown: Vec::new(),
            unknown_base: 0,
            index: StrIndex::default(),
            decision: false,
            zones: Zones::default(),
        };
        self.bind_into(policy, args, &mut b)?;
        Ok(b)
    }

    /// [`Self::bind`] into an existing buffer, reusing its allocation.
    pub fn bind_into(
        &self,
        policy: usize,
        args: &[Value],
        into: &mut Bound,
    ) -> Result<(), Decision> {
        into.module = self.id;
        into.policy = policy;
        into.decision = false;
        into.words.clear();
        let c = match self.policies.get(policy) {
            Some(Entry::Compiled(c)) => c,
            Some(Entry::Unsupported(why)) => {
                return Err(failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    format!("policy #{policy} is not compiled by the JIT: it {why}"),
                ));
            }
            None => {
                return Err(failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    format!("no policy #{policy} in the program"),
                ));
            }
        };
        let pol = &self.program.policies[policy];
        // Sets given out of order or with repeats are laid out canonical, as the interpreter
        // decides on them (and as a set bound from JSON is).
        let args = match check_input(&self.program, pol, args) {
            Ok(args) => args,
            Err(e) => {
                return Err(failed(
                    BAD_INPUT,
                    Vec::new(),
                    format!("policy {}: {e}", pol.qualified),
                ));
            }
        };
        into.words.reserve(c.input_words);
        into.zones.clear();
        into.unknown.clear();
        into.unknown_base = self.strings.len() as i64;
        let mut flat = Flat {
            module: self,
            words: &mut into.words,
            unknown: Vec::new(),
            // The input's own, reused: `Flat` builds it as the strings come, for the run's
            // look-ups too (its ids are the input's).
            index: std::mem::take(&mut into.index),
            zones: &mut into.zones,
            lists: Vec::new(),
            run: None,
        };
        for (k, (param, arg)) in pol.params.iter().zip(args.iter()).enumerate() {
            flat.value(&param.ty, arg, 0, c.reads.get(k).unwrap_or(&Reads::All));
        }
        // Never happens for checked input; keeps the fixed part exactly as long as the code
        // expects, before the lists' elements go after it.
        flat.words.resize(c.input_words, 0);
        flat.lists();
        into.unknown = flat.unknown.iter().map(|s| s.to_string()).collect();
        into.index = flat.index;
        Ok(())
    }

    /// An output buffer for policy `policy` (empty if it is not compiled).
    pub fn output(&self, policy: usize) -> Output {
        let words = self.tables(policy).map_or(0, Tables::out_words);
        Output {
            module: self.id,
            policy,
            words: vec![0; words],
            texts: Texts::default(),
        }
    }

    /// Runs the policy `input` was bound for at `now_ms`, writing its verdict, reasons and fired
    /// rules into `out`. Allocates nothing and locks nothing; calls nothing but the policy's
    /// code and the host functions it calls (time zones, decimals, texts), which do neither
    /// (but `out`'s text scratch area grows when a run needs more room than earlier ones).
    /// Without a signal source: a policy that reads a signal reads it as absent (see
    /// [`Self::run_with_signals`]).
    pub fn run(&self, input: &Bound, now_ms: i64, out: &mut Output) -> Result<(), RunError> {
        self.run_in(input, now_ms, None, None, out)
    }

    /// [`Self::run`], reading the policy's signals from `signals`, as the interpreter reads them:
    /// once per signal and arguments (memoised for the run), in the order the rules reach them,
    /// a value out of the declared type's contract read as absent. A read allocates, and the
    /// source may do I/O. A panic of the source is resumed here, once the code has returned.
    /// A policy that reads no signal runs exactly as with [`Self::run`].
    pub fn run_with_signals(
        &self,
        input: &Bound,
        now_ms: i64,
        signals: &dyn Signals,
        out: &mut Output,
    ) -> Result<(), RunError> {
        self.run_signals_in(input, now_ms, signals, None, out)
    }

    /// [`Self::run_with_signals`] (reading every signal as absent when `signals` is `None`, as
    /// [`Self::run`] does) that stops early once `cancel` is set, by another thread during the
    /// run or before it: then it is [`RunError::Cancelled`] and `out` holds no decision. The
    /// code checks the flag at the back-edge of every loop nested in another loop (a byte
    /// load, no call), so a run stops within one pass of an inner loop of the flag being set;
    /// a loop alone, bounded by the input's size, and the host functions (decimals, texts,
    /// zones, signals) run to their end. A run that ends before it sees the flag is not
    /// cancelled, whenever the flag was set.
    pub fn run_until(
        &self,
        input: &Bound,
        now_ms: i64,
        signals: Option<&dyn Signals>,
        cancel: &AtomicBool,
        out: &mut Output,
    ) -> Result<(), RunError> {
        match signals {
            Some(s) => self.run_signals_in(input, now_ms, s, Some(cancel), out)?,
            None => self.run_in(input, now_ms, None, Some(cancel), out)?,
        }
        // Only the cancel exit writes this (a failing rule writes its index + 1).
        if out.words.first() == Some(&CANCELLED) {
            return Err(RunError::Cancelled);
        }
        Ok(())
    }

    fn run_signals_in(
        &self,
        input: &Bound,
        now_ms: i64,
        signals: &dyn Signals,
        cancel: Option<&AtomicBool>,
        out: &mut Output,
    ) -> Result<(), RunError> {
        if !self
            .policy_reads
            .get(input.policy)
            .copied()
            .unwrap_or(false)
        {
            return self.run_in(input, now_ms, None, cancel, out);
        }
        let mut state = SigState::new(signals);
        self.run_in(input, now_ms, Some(&mut state), cancel, out)?;
        if let Some(p) = state.panic.take() {
            std::panic::resume_unwind(p);
        }
        Ok(())
    }

    // Inlined, so that `run`'s path (no source: `sig` is `None`) stays what it was.
    #[inline(always)]
    fn run_in<'a>(
        &'a self,
        input: &'a Bound,
        now_ms: i64,
        sig: Option<&mut SigState<'a>>,
        cancel: Option<&'a AtomicBool>,
        out: &'a mut Output,
    ) -> Result<(), RunError> {
        let Some(Entry::Compiled(c)) = self.policies.get(input.policy) else {
            return Err(RunError::NotCompiled);
        };
        if input.module != self.id
            || input.decision
            || out.module != self.id
            || out.policy != input.policy
            || input.words.len() < c.input_words
            || out.words.len() != c.tables.out_words()
        {
            return Err(RunError::Mismatch);
        }
        let mut host = HostCtx::new(self, input, &mut out.texts);
        if let Some(sig) = sig {
            host.sig = std::ptr::from_mut(sig);
        }
        if let Some(cancel) = cancel {
            host.cancel = cancel;
        }
        // SAFETY: `c.f` is live code of this module (freed only in `Drop`, which cannot run
        // while `&self` is borrowed). It reads the fixed part of the input, words
        // `0..input_words` (offsets derived from the parameter layout, never from input values;
        // the length was checked just above), and the elements of its lists, at the start and
        // length that the list's own words give: `Bound`'s words are private and only
        // `bind_into` writes them, always pointing inside the buffer; a list in a value read
        // from a signal points (relative to the input's words) inside a buffer that
        // `xop_signal` laid out whole and keeps in the `SigState` until after this call
        // (`SigState::lists`), or is empty (a value that is absent). It writes only words
        // `0..out_words` of the output (checked above). Other word values are only compared,
        // computed with, or used as a switch index that Cranelift bounds-checks. It allocates
        // nothing and cannot unwind. Of the host functions it calls, `xop_zone_field`,
        // `xop_text_cmp`, `xop_text_concat` and `xop_signal` get the pointer to `host`, which
        // lives until this call returns (its `texts` points into `out`, which the generated
        // code never touches but through its words; its `sig` is null or points at the
        // caller's `SigState`, alive until after this call; its `cancel` is a reference to an
        // `AtomicBool` borrowed for the whole call, or to a static: the code only loads its
        // byte, atomically, so a store by another thread during the call is no data race, and
        // on a set flag it stores `CANCELLED` to word 0 of the output, in bounds, and returns).
        // `xop_signal` also gets two stack
        // slots of the generated function: the arguments' words (scalars, or the addresses of
        // values' words, as for the decimal host functions) and the value's words, the only
        // memory it writes besides `out`'s texts and the `SigState`; `xop_dec_arith` and
        // `xop_dec_cmp` get addresses of decimal words inside the input (at layout offsets or
        // inside a list, as above), inside constant data owned by `c`, or inside stack slots
        // of the generated function, and write only into such a stack slot. Through `host` it
        // also reads the zone pairs of `input` and of `self` (`nzones` pairs from `zones`,
        // likewise for the constants: `HostCtx::new` takes both from the `Vec` they describe,
        // and copies the input's first pair) and the offset tables they point to (never through
        // a pair whose address is 0): each address is that of a `Zone` held by the same `Zones`
        // (`Zones::push`), which `input` (borrowed for the whole call) or `self` own and nothing
        // changes during the call, and a `Zone`'s table never moves or changes while it lives.
        // The code reads bucket `sec >> BUCKET_BITS` only for `0 <= sec < TABLE_END`, below the
        // table's length (`Zone::table_addr`; checked at compile time in zone.rs).
        unsafe {
            (c.f)(
                input.words.as_ptr(),
                now_ms,
                out.words.as_mut_ptr(),
                &raw const host,
            )
        };
        Ok(())
    }

    /// How many runs of equality-guarded rules of policy `policy` became a switch or a rule
    /// table (see the module documentation); 0 if it is not compiled.
    pub fn switches(&self, policy: usize) -> usize {
        match self.policies.get(policy) {
            Some(Entry::Compiled(c)) => c.switches,
            _ => 0,
        }
    }

    /// How many of [`Self::switches`] became rule tables rather than code per rule.
    pub fn rule_tables(&self, policy: usize) -> usize {
        match self.policies.get(policy) {
            Some(Entry::Compiled(c)) => c.rule_tables,
            _ => 0,
        }
    }

    /// How many times the code of policy `policy` loads its run's cancel flag
    /// ([`Self::run_until`]): once per loop nested in another loop (0 if it is not compiled).
    /// A policy without nested loops runs the code it would without cancelling.
    pub fn stop_checks(&self, policy: usize) -> usize {
        match self.policies.get(policy) {
            Some(Entry::Compiled(c)) => c.stop_checks,
            _ => 0,
        }
    }

    /// The reasons policy `policy` can give, as indexed by [`Output::reason_bits`].
    pub fn reason_table(&self, policy: usize) -> &[String] {
        self.tables(policy).map_or(&[], |t| &t.reasons)
    }

    fn tables(&self, policy: usize) -> Option<&Tables> {
        match self.policies.get(policy)? {
            Entry::Compiled(c) => Some(&c.tables),
            Entry::Unsupported(_) => None,
        }
    }

    /// The decision in `out`, run on `input`, as the interpreter words it: the reasons are
    /// those of the reason bitset, ordered by the first fired rule that gives each.
    pub fn decision(&self, input: &Bound, out: &Output) -> Decision {
        let (Some(Entry::Compiled(c)), Some(pol)) = (
            self.policies.get(out.policy),
            self.program.policies.get(out.policy),
        ) else {
            return failed(
                RUNTIME_ERROR,
                Vec::new(),
                format!("no compiled policy #{} in the program", out.policy),
            );
        };
        if out.module != self.id || out.words.len() != c.tables.out_words() {
            return failed(
                RUNTIME_ERROR,
                Vec::new(),
                "the output was made for another module".into(),
            );
        }
        let rules: Vec<&Rule> = pol.rules.iter().collect();
        self.decode(input, &out.texts, &out.words, &rules, &c.tables, &c.sites)
            .unwrap_or_else(|_| {
                failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    "the compiled code reported an unknown error site".into(),
                )
            })
    }

    /// The string of interned id `id`: a constant's, one of the input's own, or a text the run
    /// computed or read from a signal (the currency of Money read from a signal, say).
    fn name_of(&self, input: &Bound, texts: &Texts, id: i64) -> String {
        text_of(self, input, texts, id).to_string()
    }

    /// The decision written into the policy-shaped block `words` over `rules`, as the
    /// interpreter words it: the reasons are those of the reason bitset, ordered by the first
    /// fired rule that gives each. `Err` (a message) when the error word points past `rules`:
    /// an error outside of them (a decision's candidate).
    fn decode(
        &self,
        input: &Bound,
        texts: &Texts,
        words: &[u64],
        rules: &[&Rule],
        tables: &Tables,
        sites: &[Site],
    ) -> Result<Decision, String> {
        if words.len() < tables.out_words() {
            return Ok(failed(
                RUNTIME_ERROR,
                Vec::new(),
                "the output was made for another module".into(),
            ));
        }
        let fired = |i: usize| words[HEADER + i / 64] & (1u64 << (i % 64)) != 0;
        let fired_before = |limit: usize| -> Vec<String> {
            (0..limit)
                .filter(|&i| fired(i))
                .map(|i| rules[i].id.clone())
                .collect()
        };
        let err = words[0];
        if err != 0 {
            let rule = usize::try_from(err - 1).unwrap_or(usize::MAX);
            let site = usize::try_from(words[1]).ok().and_then(|s| sites.get(s));
            let Some(site) = site else {
                return Ok(failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    "the compiled code reported an unknown error site".into(),
                ));
            };
            let wide = [0, 1, 2, 3].map(|k| words[WIDE + k] as i64);
            let msg = site.message(words[2] as i64, words[3] as i64, wide, &|id| {
                self.name_of(input, texts, id)
            });
            let Some(r) = rules.get(rule) else {
                return Err(msg);
            };
            return Ok(failed(
                RUNTIME_ERROR,
                fired_before(rule),
                format!("rule {}: {msg}", r.id),
            ));
        }
        let verdict = match words[VERDICT] as i64 {
            VERDICT_ALLOW => Verdict::Allow,
            VERDICT_REVIEW => Verdict::Review,
            VERDICT_DENY => Verdict::Deny,
            _ => {
                return Ok(failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    "the compiled code wrote no verdict".into(),
                ));
            }
        };
        let bits = &words[tables.reasons_at()..tables.reasons_at() + tables.reason_words];
        let mut reasons: Vec<String> = Vec::new();
        let mut reviews = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            // Only the rules of the winning verdict give reasons (the combining rule).
            if !fired(i) || rule.verdict != verdict {
                continue;
            }
            if verdict == Verdict::Review
                && let Some(r) = &rule.review
            {
                reviews.push(r);
            }
            if let Some(r) = tables.rule_reason[i] {
                let r = r as usize;
                let reason = &tables.reasons[r];
                if bits[r / 64] & (1u64 << (r % 64)) != 0 && !reasons.contains(reason) {
                    reasons.push(reason.clone());
                }
            }
        }
        Ok(Decision {
            verdict,
            reasons,
            fired: fired_before(rules.len()),
            review: crate::interp::merge_reviews(reviews),
            error: None,
        })
    }
}

/// Where a compiled decision writes its ranked candidates ([`JitModule::decision_output`]);
/// reusable across calls.
#[derive(Debug, Clone)]
pub struct DecisionOutput {
    module: u64,
    decision: usize,
    /// Ranks take three words (the decision ranks by a Decimal, see [`Cand::rank_words`]):
    /// the pairs hold where each rank is.
    wide: bool,
    words: Vec<u64>,
    /// The texts the last run computed (see [`Output`]).
    texts: Texts,
}

impl DecisionOutput {
    /// How many candidates the last run ranked (proposals whose condition held, and those whose
    /// own evaluation failed).
    pub fn len(&self) -> usize {
        self.words
            .get(DEC_COUNT)
            .map_or(0, |&n| usize::try_from(n).unwrap_or(0))
    }

    /// Whether the last run ranked no candidate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th ranked candidate (0 is the best): its proposal's index in
    /// [`crate::ir::DecisionDef::proposals`] and its rank (`i64::MIN` for a candidate whose
    /// evaluation failed; a Decimal rank's integer part, saturated: [`Self::rank`] is exact).
    pub fn candidate(&self, k: usize) -> Option<(usize, i64)> {
        if k >= self.len() {
            return None;
        }
        let at = DEC_PAIRS + 2 * k;
        let (p, _) = pair_proposal(*self.words.get(at)?);
        let rank = match self.rank(k)? {
            Value::Int(n) => n,
            Value::Decimal(d) => {
                use rust_decimal::prelude::ToPrimitive;
                d.trunc().to_i64().unwrap_or(if d.is_sign_negative() {
                    i64::MIN
                } else {
                    i64::MAX
                })
            }
            _ => return None,
        };
        Some((p, rank))
    }

    /// The `k`-th ranked candidate's rank, an Int or a Decimal value (as in
    /// [`crate::interp::Candidate::rank`]).
    pub fn rank(&self, k: usize) -> Option<Value> {
        if k >= self.len() {
            return None;
        }
        let r = *self.words.get(DEC_PAIRS + 2 * k + 1)? as i64;
        if !self.wide {
            return Some(Value::Int(r));
        }
        let at = usize::try_from(r).ok()?;
        let w = self.words.get(at..at + 3)?;
        Some(wide_rank([w[0] as i64, w[1] as i64, w[2] as i64]))
    }

    /// The verdict of proposal `proposal` in the last run, or `None` if it failed (a run-time
    /// error: deny, see [`JitModule::candidates`]) or was not proposed.
    pub fn verdict(&self, module: &JitModule, proposal: usize) -> Option<Verdict> {
        let c = module
            .compiled_decision(self.decision)?
            .cands
            .get(proposal)?;
        let block = self
            .words
            .get(c.block()..c.block() + c.tables.out_words())?;
        if block[0] != 0 {
            return None;
        }
        match block[VERDICT] as i64 {
            VERDICT_ALLOW => Some(Verdict::Allow),
            VERDICT_REVIEW => Some(Verdict::Review),
            VERDICT_DENY => Some(Verdict::Deny),
            _ => None,
        }
    }
}

impl JitModule {
    /// Why decision `decision` is not compiled (`None` if it is, or if there is no such
    /// decision): it is then ranked by the interpreter ([`crate::interp::rank`]).
    pub fn decision_unsupported(&self, decision: usize) -> Option<&str> {
        match self.decisions.get(decision)? {
            DecisionEntry::Unsupported(why) => Some(why),
            DecisionEntry::Compiled(_) => None,
        }
    }

    fn compiled_decision(&self, decision: usize) -> Option<&CompiledDecision> {
        match self.decisions.get(decision)? {
            DecisionEntry::Compiled(c) => Some(c),
            DecisionEntry::Unsupported(_) => None,
        }
    }

    /// Ranks decision `decision` on `args` at `now_ms` without a signal source (every signal
    /// reads as absent): exactly what [`crate::interp::rank`] gives with [`NoSignals`], or
    /// `None` if the decision is not compiled ([`Self::decision_unsupported`] says why).
    pub fn decide_decision(
        &self,
        decision: usize,
        args: &[Value],
        now_ms: i64,
    ) -> Option<Result<Vec<Candidate>, Decision>> {
        self.decide_decision_in(decision, args, now_ms, None)
    }

    /// [`Self::decide_decision`], reading signals from `signals`: exactly what
    /// [`crate::interp::rank`] gives with the same source, which sees the same reads.
    pub fn decide_decision_with_signals(
        &self,
        decision: usize,
        args: &[Value],
        now_ms: i64,
        signals: &dyn Signals,
    ) -> Option<Result<Vec<Candidate>, Decision>> {
        self.decide_decision_in(decision, args, now_ms, Some(signals))
    }

    fn decide_decision_in(
        &self,
        decision: usize,
        args: &[Value],
        now_ms: i64,
        signals: Option<&dyn Signals>,
    ) -> Option<Result<Vec<Candidate>, Decision>> {
        match self.decisions.get(decision) {
            Some(DecisionEntry::Unsupported(_)) => return None,
            Some(DecisionEntry::Compiled(_)) => {}
            None => {
                return Some(Err(failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    format!("no decision #{decision} in the program"),
                )));
            }
        }
        let (input, args) = match self.bind_decision_checked(decision, args) {
            Ok(b) => b,
            Err(d) => return Some(Err(d)),
        };
        let mut out = self.decision_output(decision);
        match signals {
            None => self.run_decision(&input, now_ms, &mut out).ok()?,
            Some(s) => self
                .run_decision_with_signals(&input, now_ms, s, &mut out)
                .ok()?,
        }
        // The arguments as binding checked them: no second check.
        Some(Ok(self.ranked_candidates(&input, &out, &args, now_ms)))
    }

    /// Checks `args` against decision `decision`'s parameters (the interpreter's check and
    /// messages) and lays them out for [`Self::run_decision`]. Bad input fails closed: the
    /// error is the deny decision to return.
    pub fn bind_decision(&self, decision: usize, args: &[Value]) -> Result<Bound, Decision> {
        self.bind_decision_checked(decision, args).map(|(b, _)| b)
    }

    /// [`Self::bind_decision`], also giving the arguments as checked: sets canonical, as they
    /// were laid out (borrowed when `args` already were).
    fn bind_decision_checked<'a>(
        &self,
        decision: usize,
        args: &'a [Value],
    ) -> Result<(Bound, std::borrow::Cow<'a, [Value]>), Decision> {
        let Some(def) = self.program.decisions.get(decision) else {
            return Err(failed(
                RUNTIME_ERROR,
                Vec::new(),
                format!("no decision #{decision} in the program"),
            ));
        };
        let Some(c) = self.compiled_decision(decision) else {
            return Err(failed(
                RUNTIME_ERROR,
                Vec::new(),
                format!("decision {} is not compiled by the JIT", def.qualified),
            ));
        };
        let args = interp::check_decision_args(&self.program, def, args)?;
        let mut b = Bound {
            module: self.id,
            policy: decision,
            decision: true,
            words: Vec::with_capacity(c.input_words),
            unknown: Vec::new(),
            unknown_base: self.strings.len() as i64,
            index: StrIndex::default(),
            zones: Zones::default(),
        };
        let mut flat = Flat {
            module: self,
            words: &mut b.words,
            unknown: Vec::new(),
            index: StrIndex::default(),
            zones: &mut b.zones,
            lists: Vec::new(),
            run: None,
        };
        for (param, arg) in def.params.iter().zip(args.iter()) {
            flat.value(&param.ty, arg, 0, &Reads::All);
        }
        flat.words.resize(c.input_words, 0);
        flat.lists();
        b.unknown = flat.unknown.iter().map(|s| s.to_string()).collect();
        b.index = flat.index;
        Ok((b, args))
    }

    /// An output buffer for decision `decision` (empty if it is not compiled).
    pub fn decision_output(&self, decision: usize) -> DecisionOutput {
        let c = self.compiled_decision(decision);
        DecisionOutput {
            module: self.id,
            decision,
            wide: c.is_some_and(|c| c.cands.iter().any(|k| k.rank_words == 3)),
            words: vec![0; c.map_or(0, |c| c.out_words)],
            texts: Texts::default(),
        }
    }

    /// Ranks the decision `input` was bound for at `now_ms` into `out`: every candidate's rank,
    /// verdict, reasons and fired rules, and the candidates in ranked order. Allocates nothing
    /// and locks nothing (as [`Self::run`]); every signal reads as absent.
    pub fn run_decision(
        &self,
        input: &Bound,
        now_ms: i64,
        out: &mut DecisionOutput,
    ) -> Result<(), RunError> {
        self.run_decision_in(input, now_ms, None, out)
    }

    /// [`Self::run_decision`], reading signals from `signals` as [`Self::run_with_signals`]
    /// does (the interpreter's memo: one for the decision's own expressions, a fresh one for
    /// each candidate's policies).
    pub fn run_decision_with_signals(
        &self,
        input: &Bound,
        now_ms: i64,
        signals: &dyn Signals,
        out: &mut DecisionOutput,
    ) -> Result<(), RunError> {
        if !self
            .decision_reads
            .get(input.policy)
            .copied()
            .unwrap_or(false)
        {
            return self.run_decision_in(input, now_ms, None, out);
        }
        let mut state = SigState::new(signals);
        self.run_decision_in(input, now_ms, Some(&mut state), out)?;
        if let Some(p) = state.panic.take() {
            std::panic::resume_unwind(p);
        }
        Ok(())
    }

    #[inline(always)]
    fn run_decision_in<'a>(
        &'a self,
        input: &'a Bound,
        now_ms: i64,
        sig: Option<&mut SigState<'a>>,
        out: &'a mut DecisionOutput,
    ) -> Result<(), RunError> {
        let Some(c) = self.compiled_decision(input.policy) else {
            return Err(RunError::NotCompiled);
        };
        if input.module != self.id
            || !input.decision
            || out.module != self.id
            || out.decision != input.policy
            || input.words.len() < c.input_words
            || out.words.len() != c.out_words
        {
            return Err(RunError::Mismatch);
        }
        let mut host = HostCtx::new(self, input, &mut out.texts);
        if let Some(sig) = sig {
            host.sig = std::ptr::from_mut(sig);
        }
        // SAFETY: as in `run`: `c.f` is live code of this module; it reads the input's fixed
        // part (`0..input_words`, checked above) and its lists (inside the buffer, written by
        // `bind_decision` only), writes only words `0..out_words` of the output (checked
        // above: the pairs at fixed offsets, at most one per proposal, and the proposals'
        // blocks), allocates nothing, cannot unwind, and passes `host` (alive until the call
        // returns) to `xop_zone_field`, `xop_text_cmp`, `xop_text_concat` and `xop_signal`
        // only (as in `run`, with `sig` null or the caller's live `SigState`); the decimal
        // host functions and `xop_signal` get addresses as in `run`. It reads the zone pairs
        // and offset tables `host` points to, owned by `input` and `self` for the whole call,
        // within bounds (see `run`).
        unsafe {
            (c.f)(
                input.words.as_ptr(),
                now_ms,
                out.words.as_mut_ptr(),
                &raw const host,
            )
        };
        Ok(())
    }

    /// The ranked candidates in `out`, as [`crate::interp::rank`] gives them. The candidates'
    /// argument values, which only explanations show, are evaluated from `args` (the values
    /// `input` was bound from, as given to [`Self::bind_decision`]) by the interpreter;
    /// everything else is the compiled code's.
    pub fn candidates(
        &self,
        input: &Bound,
        out: &DecisionOutput,
        args: &[Value],
        now_ms: i64,
    ) -> Vec<Candidate> {
        let Some(def) = self.program.decisions.get(out.decision) else {
            return Vec::new();
        };
        // The arguments as the code was run on them: sets canonical (as `bind_decision` laid
        // them out), so the candidates' arguments are those the interpreter computes. The
        // caller has only the values it bound (`bind_decision` gives no others), so they are
        // checked again here; `decide_decision` passes those its binding checked.
        let args = interp::check_decision_args(&self.program, def, args)
            .unwrap_or(std::borrow::Cow::Borrowed(args));
        self.ranked_candidates(input, out, &args, now_ms)
    }

    /// [`Self::candidates`], `args` being the checked arguments (sets canonical), as
    /// [`Self::bind_decision_checked`] gives them.
    fn ranked_candidates(
        &self,
        input: &Bound,
        out: &DecisionOutput,
        args: &[Value],
        now_ms: i64,
    ) -> Vec<Candidate> {
        let (Some(c), Some(def)) = (
            self.compiled_decision(out.decision),
            self.program.decisions.get(out.decision),
        ) else {
            return Vec::new();
        };
        if out.module != self.id || out.words.len() != c.out_words {
            return Vec::new();
        }
        let mut frame = vec![Value::Absent; def.slots as usize];
        for (cell, a) in frame.iter_mut().zip(args.iter()) {
            *cell = a.clone();
        }
        if let Some(cell) = def.now_slot.and_then(|s| frame.get_mut(s as usize)) {
            *cell = Value::Time(now_ms);
        }
        let mut ranked = Vec::with_capacity(out.len());
        for k in 0..out.len() {
            let Some((p, rank)) = out.candidate(k) else {
                continue;
            };
            let (Some(cand), Some(prop)) = (c.cands.get(p), def.proposals.get(p)) else {
                continue;
            };
            let rules: Vec<&Rule> = cand
                .rules
                .iter()
                .map(|&(pi, ri)| &self.program.policies[pi].rules[ri])
                .collect();
            let block = &out.words[cand.block()..];
            let failed_candidate = |msg: String| Candidate {
                action: prop.action.clone(),
                args: Vec::new(),
                rank: Value::Int(i64::MIN),
                decision: failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    format!(
                        "proposal of {} at line {}: {msg}",
                        prop.action, prop.source.line
                    ),
                ),
                line: prop.source.line,
                failed: true,
            };
            ranked.push(
                match self.decode(input, &out.texts, block, &rules, &cand.tables, &c.sites) {
                    Err(msg) => failed_candidate(msg),
                    Ok(decision) => {
                        let values: Result<Vec<Value>, String> = prop
                            .args
                            .iter()
                            .map(|a| interp::eval(&self.program, a, &mut frame, now_ms, &NoSignals))
                            .collect();
                        Candidate {
                            action: prop.action.clone(),
                            args: values.unwrap_or_default(),
                            rank: out.rank(k).unwrap_or(Value::Int(rank)),
                            decision,
                            line: prop.source.line,
                            failed: false,
                        }
                    }
                },
            );
        }
        ranked
    }
}

/// Lays a checked input out (see the module documentation).
struct Flat<'m, 'v, 'b> {
    module: &'m JitModule,
    words: &'b mut Vec<i64>,
    /// Strings that are no constant, in order of first appearance: id `strings.len() + i`.
    unknown: Vec<&'v str>,
    /// `unknown` by content, once it is long ([`StrIndex::added`]); it becomes the input's.
    index: StrIndex,
    zones: &'b mut Zones,
    /// Lists still to lay out: the word of their header, their element type, their elements,
    /// how deep they are, what is read of each element.
    lists: Vec<(usize, &'m Type, &'v [Value], u32, &'m Reads)>,
    /// Laying out a signal's value during a run ([`xop_signal`]) rather than an input: the
    /// input and the output's texts, where a string that is no constant and no input string
    /// becomes a computed text (see [`Texts`]).
    run: Option<(&'b Bound, &'b mut Texts)>,
}

impl<'m, 'v> Flat<'m, 'v, '_> {
    fn intern(&mut self, s: &'v str) -> i64 {
        if let Some((input, texts)) = &mut self.run {
            return run_text_id(self.module, input, texts, s);
        }
        if let Some(&id) = self.module.strings.get(s) {
            return id;
        }
        let base = self.module.strings.len();
        let known = if self.unknown.len() <= LINEAR_STRINGS {
            self.unknown.iter().position(|u| *u == s)
        } else {
            self.index.find(&self.unknown, s)
        };
        let k = known.unwrap_or_else(|| {
            self.unknown.push(s);
            self.index.added(&self.unknown);
            self.unknown.len() - 1
        });
        (base + k) as i64
    }

    fn value(&mut self, ty: &'m Type, v: &'v Value, depth: u32, reads: &'m Reads) {
        if depth > MAX_RECORD_DEPTH {
            return;
        }
        let program = &self.module.program;
        match (ty, v) {
            (Type::Optional(inner), Value::Absent) => {
                self.words.push(0);
                let n = size(program, inner, depth).unwrap_or(0);
                self.words.extend(std::iter::repeat_n(0, n));
            }
            (Type::Optional(inner), v) => {
                self.words.push(1);
                self.value(inner, v, depth, reads);
            }
            (Type::List(elem) | Type::Set(elem), Value::List(xs)) => {
                // Two words: where the elements start, how many; the elements go after the
                // fixed part (see `lists`).
                // A set is bound whole (see `Reads::add`).
                let each = match ty {
                    Type::Set(_) => &Reads::All,
                    _ => reads.elements(),
                };
                self.lists.push((self.words.len(), elem, xs, depth, each));
                self.words.extend([0, xs.len() as i64]);
            }
            (Type::Decimal, Value::Decimal(d)) => self.words.extend(dec_words(d)),
            (Type::Money, Value::Money(d, c)) => {
                self.words.extend(dec_words(d));
                let id = self.intern(c);
                self.words.push(id);
            }
            (Type::Record(r), Value::Record(_, fields)) => {
                if let Some(rt) = program.records.get(*r as usize) {
                    for (i, (f, fv)) in rt.fields.iter().zip(fields.iter()).enumerate() {
                        self.value(&f.ty, fv, depth + 1, reads.field(i));
                    }
                }
            }
            (_, Value::Bool(b)) => self.words.push(i64::from(*b)),
            (_, Value::Int(n) | Value::Duration(n) | Value::Time(n)) => self.words.push(*n),
            (_, Value::Enum(_, x) | Value::Symbol(x)) => self.words.push(i64::from(*x)),
            // A string no rule reads: no id, so nothing to intern (see `Reads`).
            (_, Value::Text(_) | Value::Id(_)) if reads.unread() => self.words.push(0),
            (_, Value::Text(s) | Value::Id(s)) => {
                let id = self.intern(s);
                self.words.push(id);
            }
            (_, Value::Tz(s)) => {
                let id = self.intern(s);
                if !self.zones.iter().any(|(z, _)| *z == id) {
                    self.zones.push((id, crate::intrinsics::time_zone(s).ok()));
                }
                self.words.push(id);
            }
            _ => {}
        }
    }

    /// Lays out the elements of every list met so far (and of the lists inside them), each
    /// list's elements contiguous, and points each list's first word at them.
    fn lists(&mut self) {
        let mut i = 0;
        while i < self.lists.len() {
            let (header, elem, xs, depth, each) = self.lists[i];
            let start = self.words.len() as i64;
            for x in xs {
                self.value(elem, x, depth + 1, each);
            }
            self.words[header] = start;
            i += 1;
        }
    }
}

/// The name of [`xop_zone_field`] in generated code.
const ZONE_FIELD: &str = "xop_zone_field";

/// [`xop_zone_field`]'s answer for a zone that is no IANA zone.
const ZONE_UNKNOWN: i64 = -1;

/// [`xop_zone_field`]'s answer for an instant outside the range of times.
const INSTANT_OUT_OF_RANGE: i64 = -2;

/// The name of [`xop_dec_arith`] in generated code.
const DEC_ARITH: &str = "xop_dec_arith";

/// The name of [`xop_dec_cmp`] in generated code.
const DEC_CMP: &str = "xop_dec_cmp";

/// The name of [`xop_rank_cmp`] in generated code.
const RANK_CMP: &str = "xop_rank_cmp";

/// [`xop_dec_arith`]'s answers: done; an overflow or a result a Decimal cannot hold exactly
/// (the message, worded by the interpreter's `dec_op`, says which); division by zero.
const DEC_OK: i64 = 0;
const DEC_OVERFLOW: i64 = 1;
const DEC_DIV_ZERO: i64 = 2;

/// Added to [`xop_dec_arith`]'s operation code when its `y` is an Int value, not the address
/// of a decimal.
const DEC_INT_Y: i64 = 4;

/// The host functions, declared in the module.
struct Host {
    zone_field: cranelift_module::FuncId,
    dec_arith: cranelift_module::FuncId,
    dec_cmp: cranelift_module::FuncId,
    rank_cmp: cranelift_module::FuncId,
    text_cmp: cranelift_module::FuncId,
    text_concat: cranelift_module::FuncId,
    signal: cranelift_module::FuncId,
}

impl Host {
    fn declare(module: &mut JITModule) -> Result<Host, String> {
        let sig = |module: &JITModule, params: usize| {
            let mut sig = module.make_signature();
            for _ in 0..params {
                sig.params.push(AbiParam::new(I64));
            }
            sig.returns.push(AbiParam::new(I64));
            sig
        };
        let err = |e| format!("declaring the host functions failed: {e}");
        let s4 = sig(module, 4);
        let s2 = sig(module, 2);
        let s3 = sig(module, 3);
        let zone_field = module
            .declare_function(ZONE_FIELD, Linkage::Import, &s4)
            .map_err(err)?;
        let dec_arith = module
            .declare_function(DEC_ARITH, Linkage::Import, &s4)
            .map_err(err)?;
        let dec_cmp = module
            .declare_function(DEC_CMP, Linkage::Import, &s2)
            .map_err(err)?;
        let rank_cmp = module
            .declare_function(RANK_CMP, Linkage::Import, &s2)
            .map_err(err)?;
        let text_cmp = module
            .declare_function(TEXT_CMP, Linkage::Import, &s3)
            .map_err(err)?;
        let text_concat = module
            .declare_function(TEXT_CONCAT, Linkage::Import, &s3)
            .map_err(err)?;
        let signal = module
            .declare_function(SIGNAL, Linkage::Import, &s4)
            .map_err(err)?;
        Ok(Host {
            zone_field,
            dec_arith,
            dec_cmp,
            rank_cmp,
            text_cmp,
            text_concat,
            signal,
        })
    }
}

/// Checked decimal arithmetic, the interpreter's [`interp::dec_checked`]: `x op y` (`op` 0 `+`,
/// 1 `-`, 2 `*`, 3 `/`, plus [`DEC_INT_Y`] when `y` is an Int rather than the address of a
/// decimal) into the two words at `out`; [`DEC_OK`], else [`DEC_DIV_ZERO`] or [`DEC_OVERFLOW`]
/// for any other failure (and `out` is left alone). Allocates nothing and cannot unwind.
extern "C" fn xop_dec_arith(op: i64, x: *const i64, y: i64, out: *mut i64) -> i64 {
    // SAFETY: generated code passes the address of a decimal's two words as `x` (in the input,
    // a constant's data kept with the code, or a stack slot of the caller), and as `y` unless
    // `op` says it is an Int.
    let a = unsafe { dec_of([*x, *x.add(1)]) };
    let b = if op & DEC_INT_Y != 0 {
        Decimal::from(y)
    } else {
        let y = y as *const i64;
        // SAFETY: as for `x`.
        unsafe { dec_of([*y, *y.add(1)]) }
    };
    let op = match op & 3 {
        0 => ArithOp::Add,
        1 => ArithOp::Sub,
        2 => ArithOp::Mul,
        _ => ArithOp::Div,
    };
    // `dec_checked` does not panic; should it, that is a failure here rather than an unwind
    // through generated code.
    match std::panic::catch_unwind(|| interp::dec_checked(op, a, b)) {
        Ok(Ok(d)) => {
            let [w0, w1] = dec_words(&d);
            // SAFETY: generated code passes a stack slot of (at least) two words as `out`.
            unsafe {
                *out = w0;
                *out.add(1) = w1;
            }
            DEC_OK
        }
        Ok(Err(interp::DecFailure::DivZero)) => DEC_DIV_ZERO,
        _ => DEC_OVERFLOW,
    }
}

/// The rank of a wide rank's three words (see [`Cand::rank_words`]): `None` for a failed
/// candidate.
fn wide_rank_of(w: [i64; 3]) -> Option<Value> {
    match w[0] {
        RANK_INT => Some(Value::Int(w[1])),
        RANK_DECIMAL => Some(Value::Decimal(dec_of([w[1], w[2]]))),
        _ => None,
    }
}

/// The rank value of a wide rank's three words, as [`Candidate::rank`] shows it (`i64::MIN`
/// for a failed candidate).
fn wide_rank(w: [i64; 3]) -> Value {
    wide_rank_of(w).unwrap_or(Value::Int(i64::MIN))
}

/// The order of the wide ranks at `x` and `y` (three words each, see [`Cand::rank_words`]):
/// -1, 0 or 1, as the interpreter orders ranks ([`interp::rank_order`]: by value, a failed
/// candidate below every rank). Cannot fail, allocates nothing and cannot unwind.
extern "C" fn xop_rank_cmp(x: *const i64, y: *const i64) -> i64 {
    // SAFETY: generated code passes the addresses of two ranks' three words in the output.
    let (a, b) = unsafe { ([*x, *x.add(1), *x.add(2)], [*y, *y.add(1), *y.add(2)]) };
    let order = interp::rank_order(wide_rank_of(a).as_ref(), wide_rank_of(b).as_ref());
    match order {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// The order of the decimals at `x` and `y` (two words each): -1, 0 or 1. Cannot fail,
/// allocates nothing and cannot unwind.
extern "C" fn xop_dec_cmp(x: *const i64, y: *const i64) -> i64 {
    // SAFETY: generated code passes the addresses of two decimals' words (see
    // `xop_dec_arith`).
    let (a, b) = unsafe { (dec_of([*x, *x.add(1)]), dec_of([*y, *y.add(1)])) };
    match a.cmp(&b) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// What generated code and the host functions see of a running decision. Generated code reads
/// the first six words (offsets [`CTX_ZONE0`] …, fixed by `repr(C)`): a copy of the input's
/// first zone pair (the usual case: one load less on the look-up's path), then the input's
/// zone pairs and the module's constant zone pairs (see [`Zones`]), each as address and pair
/// count. The host functions also see the module, the input, the texts the run computed so
/// far and the run's signal source and reads (after the words the code reads, so that their
/// offsets do not move).
#[repr(C)]
struct HostCtx<'a> {
    /// The input's first pair `(id, table address)`, or `(-1, 0)` (no id is negative).
    zone0: [i64; 2],
    zones: *const i64,
    nzones: i64,
    const_zones: *const i64,
    nconst_zones: i64,
    module: &'a JitModule,
    input: &'a Bound,
    /// The output's scratch area (see [`Texts`]): only `xop_text_concat` and `xop_signal` write
    /// it, and no reference into it outlives a host call.
    texts: *mut Texts,
    /// The run's signal source and memo ([`SigState`]), or null for a run without a source
    /// ([`JitModule::run`]): every signal then reads as absent, as with [`NoSignals`]. Only
    /// `xop_signal` uses it, and no reference into it outlives a host call.
    sig: *mut SigState<'a>,
    /// The run's cancel flag, which generated code loads (atomically, a byte) at the back-edge
    /// of every loop nested in another ([`Gen::stop_check`]): the caller's
    /// ([`JitModule::run_until`]), which another thread may set during the run, or
    /// [`NEVER_CANCELLED`]. A reference: it outlives the run, which borrows it.
    cancel: &'a AtomicBool,
}

/// Where the text of a string id is: a constant's or an input string (`Str`), or a text this
/// run computed, at a span of [`Texts::buf`] (`Own`).
enum TextAt<'a> {
    Str(&'a str),
    Own(usize, usize),
}

/// Where the text of string id `id` is (see [`Texts`] for the ids); an id of none of them
/// (never generated) reads as the empty text.
fn text_at<'a>(module: &'a JitModule, input: &'a Bound, texts: &Texts, id: i64) -> TextAt<'a> {
    let base = input.unknown_base;
    let Ok(i) = usize::try_from(id) else {
        return TextAt::Str("");
    };
    if id < base {
        return TextAt::Str(module.names.get(i).map_or("", |s| s));
    }
    let k = i - base as usize;
    if let Some(s) = input.unknown.get(k) {
        return TextAt::Str(s);
    }
    match texts.span(k - input.unknown.len()) {
        Some((s, e)) => TextAt::Own(s, e),
        None => TextAt::Str(""),
    }
}

/// The text of string id `id` (see [`text_at`]).
fn text_of<'a>(module: &'a JitModule, input: &'a Bound, texts: &'a Texts, id: i64) -> &'a str {
    match text_at(module, input, texts, id) {
        TextAt::Str(s) => s,
        TextAt::Own(s, e) => texts.buf.get(s..e).unwrap_or(""),
    }
}

/// The name of [`xop_text_cmp`] in generated code.
const TEXT_CMP: &str = "xop_text_cmp";

/// The name of [`xop_text_concat`] in generated code.
const TEXT_CONCAT: &str = "xop_text_concat";

/// The order of the texts of string ids `x` and `y`: -1, 0 or 1, as the interpreter orders
/// Text (`str`'s order: by bytes of UTF-8, which is by code points). Allocates nothing and
/// cannot fail or unwind.
extern "C" fn xop_text_cmp(ctx: *const HostCtx<'_>, x: i64, y: i64) -> i64 {
    // SAFETY: generated code passes on the context pointer it was called with, which `run` or
    // `run_decision` points at a `HostCtx` on its stack that outlives the call.
    let ctx = unsafe { &*ctx };
    // SAFETY: `texts` points at the running output's scratch area, alive for the whole run;
    // nothing else uses it while this host call reads it (generated code is single-threaded
    // and does not touch it; no other host call is running).
    let texts = unsafe { &*ctx.texts };
    let a = text_of(ctx.module, ctx.input, texts, x);
    let b = text_of(ctx.module, ctx.input, texts, y);
    match a.cmp(b) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// The string id of the concatenation of the texts of string ids `x` and `y` (see [`Texts`]):
/// a constant's or an input string's id if it equals one, else the id of an equal text this
/// run already computed (found by content, [`Texts::find_or_add`]), else a new one. Cannot
/// fail or unwind; allocates only when the output's scratch area must grow.
extern "C" fn xop_text_concat(ctx: *const HostCtx<'_>, x: i64, y: i64) -> i64 {
    // SAFETY: as in `xop_text_cmp`.
    let ctx = unsafe { &*ctx };
    // SAFETY: `texts` points at the running output's scratch area, alive for the whole run
    // and used by nothing else during this call (see `xop_text_cmp`): this is the only
    // reference to it until the call returns.
    let texts = unsafe { &mut *ctx.texts };
    let (module, input) = (ctx.module, ctx.input);
    let start = texts.buf.len();
    for id in [x, y] {
        match text_at(module, input, texts, id) {
            TextAt::Str(s) => texts.buf.push_str(s),
            TextAt::Own(s, e) => texts.buf.extend_from_within(s..e),
        }
    }
    let s = &texts.buf[start..];
    // A constant, else an input string that is none (both hashed, the latter if there are
    // many: `Bound::unknown_position`).
    let found = module.strings.get(s).copied().or_else(|| {
        input
            .unknown_position(s)
            .map(|k| input.unknown_base + k as i64)
    });
    if let Some(id) = found {
        texts.buf.truncate(start);
        return id;
    }
    // An earlier result of this run, or a new one: either way its index among the results.
    let (Ok(k) | Err(k)) = texts.find_or_add(start);
    input.unknown_base + (input.unknown.len() + k) as i64
}

/// Byte offsets of [`HostCtx`]'s words that generated code reads.
const CTX_ZONE0: i32 = std::mem::offset_of!(HostCtx<'static>, zone0) as i32;
const CTX_ZONES: i32 = std::mem::offset_of!(HostCtx<'static>, zones) as i32;
const CTX_NZONES: i32 = std::mem::offset_of!(HostCtx<'static>, nzones) as i32;
const CTX_CONST_ZONES: i32 = std::mem::offset_of!(HostCtx<'static>, const_zones) as i32;
const CTX_NCONST_ZONES: i32 = std::mem::offset_of!(HostCtx<'static>, nconst_zones) as i32;
const CTX_CANCEL: i32 = std::mem::offset_of!(HostCtx<'static>, cancel) as i32;

impl<'a> HostCtx<'a> {
    /// The context of one run; it starts with an empty text scratch area.
    // Always inlined: it is most of what `run` does besides calling the code.
    #[inline(always)]
    fn new(module: &'a JitModule, input: &'a Bound, texts: &mut Texts) -> HostCtx<'a> {
        texts.clear();
        let (zones, nzones) = input.zones.raw();
        let (const_zones, nconst_zones) = module.const_zones.raw();
        let zone0 = match input.zones.pairs.get(..2) {
            Some(&[id, table]) => [id, table],
            _ => [-1, 0],
        };
        HostCtx {
            zone0,
            zones,
            nzones,
            const_zones,
            nconst_zones,
            module,
            input,
            texts: std::ptr::from_mut(texts),
            sig: std::ptr::null_mut(),
            cancel: &NEVER_CANCELLED,
        }
    }
}

/// `local_hour` (`field` 0) or `day_of_week` (`field` 1) of instant `t` in the zone of string
/// id `tz`, as the interpreter computes them; or [`ZONE_UNKNOWN`], [`INSTANT_OUT_OF_RANGE`].
/// Cannot fail otherwise, allocates nothing and cannot unwind.
extern "C" fn xop_zone_field(ctx: *const HostCtx<'_>, t: i64, tz: i64, field: i64) -> i64 {
    // SAFETY: generated code passes on the context pointer it was called with, which
    // `JitModule::run` points at a `HostCtx` on its stack that outlives the call.
    let ctx = unsafe { &*ctx };
    // The zones of `Tz` values read from signals: only this host call knows them (the
    // generated code's search misses them and calls here).
    let read = if ctx.sig.is_null() {
        None
    } else {
        // SAFETY: `sig` points at the `SigState` of the running call, alive for the whole run;
        // no other reference to it is live during this host call (only `xop_signal` makes one,
        // and it is not running).
        Some(unsafe { &(*ctx.sig).zones })
    };
    let zone = ctx
        .input
        .zones
        .iter()
        .chain(ctx.module.const_zones.iter())
        .chain(read.into_iter().flat_map(Zones::iter))
        .find(|(id, _)| *id == tz)
        .and_then(|(_, z)| z.as_ref());
    let Some(zone) = zone else {
        return ZONE_UNKNOWN;
    };
    let field = if field == 0 {
        Field::Hour
    } else {
        Field::Weekday
    };
    zone.field(t, field).unwrap_or(INSTANT_OUT_OF_RANGE)
}

/// The name of [`xop_signal`] in generated code.
const SIGNAL: &str = "xop_signal";

/// [`xop_signal`]'s answers: the value's words are written; the signal source panicked (the
/// panic is kept in [`SigState::panic`] and resumed once the generated code has returned, so
/// that it never unwinds through generated frames).
const SIG_OK: i64 = 0;
const SIG_PANICKED: i64 = 1;

/// One signal read in generated code ([`Gen::signal`]), as [`xop_signal`] needs it.
#[derive(Debug, Clone)]
struct SigSite {
    /// The signal's index in the program (checked at compile time).
    signal: u32,
    /// The type of each argument as generated code passes it: two words per argument, its
    /// presence (0: absent) and its payload (a scalar word, or the address of the value's
    /// words for a record, Decimal, Money, list or set).
    args: Vec<Type>,
    /// The layout of the value written back: the declared type, made optional (a read may
    /// always be absent).
    ty: Type,
    /// How many words `ty` takes.
    words: usize,
    /// The memo the read goes through: 0 for a policy and for a decision's own expressions,
    /// `1 + p` for the policies guarding proposal `p` (the interpreter decides each candidate's
    /// action with a fresh evaluator, so a fresh memo).
    scope: i64,
}

/// One memoised read: its scope, signal and arguments, and the value (already checked
/// against the declared type).
type Memo = (i64, u32, Vec<Value>, Value);

/// The signal source of one run and what it read ([`JitModule::run_with_signals`]).
struct SigState<'a> {
    signals: &'a dyn Signals,
    /// The reads made so far (the interpreter's `Evaluator::read_signal` memo; a handful per
    /// decision, so a list).
    memo: Vec<Memo>,
    /// A panic of the source, caught in `xop_signal`, to resume after the run.
    panic: Option<Box<dyn std::any::Any + Send>>,
    /// Scratch for the value's words.
    words: Vec<i64>,
    /// The zone of every `Tz` id read (`Flat` adds them), for [`xop_zone_field`].
    zones: Zones,
    /// The values read that hold lists, laid out whole (fixed part, then the elements): the
    /// code finds a list's elements at `input + 8 * start`, so each list's `start` is made
    /// relative to the input's words. Boxes never move, and live until the run is over.
    lists: Vec<Box<[i64]>>,
}

impl<'a> SigState<'a> {
    fn new(signals: &'a dyn Signals) -> SigState<'a> {
        SigState {
            signals,
            memo: Vec::new(),
            panic: None,
            words: Vec::new(),
            zones: Zones::default(),
            lists: Vec::new(),
        }
    }
}

/// Whether generated code passes a value of `ty` by the address of its words.
fn by_address(ty: &Type) -> bool {
    matches!(
        ty,
        Type::Record(_) | Type::Decimal | Type::Money | Type::List(_) | Type::Set(_)
    )
}

/// The value of type `ty` laid out at `w[*at..]` (see the module documentation), reading the
/// elements of lists in the input and the texts of string ids as [`text_of`] does; `*at` moves
/// past it. The inverse of [`Flat::value`]; words that are no such layout give some value
/// (never a panic).
#[allow(clippy::too_many_arguments)] // the run's parts, and a cursor: one recursive walk
fn words_value(
    module: &JitModule,
    input: &Bound,
    texts: &Texts,
    lists: &[Box<[i64]>],
    ty: &Type,
    w: &[i64],
    at: &mut usize,
    depth: u32,
) -> Value {
    let next = |at: &mut usize| {
        let x = w.get(*at).copied().unwrap_or(0);
        *at += 1;
        x
    };
    if depth > MAX_RECORD_DEPTH {
        return Value::Absent;
    }
    let text = |id: i64| -> std::sync::Arc<str> {
        std::sync::Arc::from(text_of(module, input, texts, id))
    };
    match ty {
        Type::Optional(inner) => {
            if next(at) == 0 {
                *at += size(&module.program, inner, depth).unwrap_or(0);
                Value::Absent
            } else {
                words_value(module, input, texts, lists, inner, w, at, depth)
            }
        }
        Type::Bool => Value::Bool(next(at) != 0),
        Type::Int => Value::Int(next(at)),
        Type::Duration => Value::Duration(next(at)),
        Type::Time => Value::Time(next(at)),
        Type::Text => Value::Text(text(next(at))),
        Type::Id => Value::Id(text(next(at))),
        Type::Tz => Value::Tz(text(next(at))),
        Type::Symbol(_) => Value::Symbol(next(at) as u32),
        Type::Enum(e) => Value::Enum(*e, next(at) as u32),
        Type::Decimal => Value::Decimal(dec_of([next(at), next(at)])),
        Type::Money => {
            let d = dec_of([next(at), next(at)]);
            Value::Money(d, text(next(at)))
        }
        Type::Record(r) => {
            let Some(rt) = module.program.records.get(*r as usize) else {
                return Value::Absent;
            };
            let fields: Vec<Value> = rt
                .fields
                .iter()
                .map(|f| words_value(module, input, texts, lists, &f.ty, w, at, depth + 1))
                .collect();
            Value::Record(*r, fields.into())
        }
        Type::List(elem) | Type::Set(elem) => {
            // The elements are at word `start` from the input's (see `Flat::lists`): in the
            // input, or in a value read from a signal.
            let start = next(at);
            let len = usize::try_from(next(at)).unwrap_or(0);
            let (ws, mut c) = list_at(input, lists, start);
            let xs: Vec<Value> = (0..len.min(ws.len()))
                .map(|_| words_value(module, input, texts, lists, elem, ws, &mut c, depth + 1))
                .collect();
            Value::List(xs.into())
        }
    }
}

/// The words holding the elements of a list whose first word is `start` words from the
/// input's first (see [`SigState::lists`]), and the index of that word in them: the input's,
/// or those of a value read from a signal; none (an empty list) if neither holds it.
fn list_at<'x>(input: &'x Bound, lists: &'x [Box<[i64]>], start: i64) -> (&'x [i64], usize) {
    let addr = (input.words.as_ptr() as i64).wrapping_add(start.wrapping_mul(8));
    for ws in std::iter::once(&input.words[..]).chain(lists.iter().map(|b| &b[..])) {
        let off = addr.wrapping_sub(ws.as_ptr() as i64);
        if off >= 0 && off % 8 == 0 && (off / 8) as u64 <= ws.len() as u64 {
            return (ws, (off / 8) as usize);
        }
    }
    (&[], 0)
}

/// The string id of text `s` in a run on `input` (see [`Texts`]): a constant's, an input
/// string's or an earlier computed text's if equal, else a new computed text's.
fn run_text_id(module: &JitModule, input: &Bound, texts: &mut Texts, s: &str) -> i64 {
    if let Some(&id) = module.strings.get(s) {
        return id;
    }
    if let Some(k) = input.unknown_position(s) {
        return input.unknown_base + k as i64;
    }
    // An earlier text of the run (found by content, and filed for the texts computed after
    // it), or a new one.
    let start = texts.buf.len();
    texts.buf.push_str(s);
    let (Ok(k) | Err(k)) = texts.find_or_add(start);
    input.unknown_base + (input.unknown.len() + k) as i64
}

/// Reads signal site `site` (an index into [`JitModule::sig_sites`]) for generated code: turns
/// the argument words at `args` back into values, reads through the run's source with the
/// interpreter's memo (a read of the same signal with equal arguments, in the same scope, is
/// made once) and its out-of-contract rule (a value that does not match the declared type is
/// absent), and writes the value's words at `out` in the layout of [`SigSite::ty`]. Returns
/// [`SIG_OK`], or [`SIG_PANICKED`] when the source panicked. Unlike the other host functions,
/// it allocates, and the source may do I/O. Never unwinds: a panic (the source's, caught
/// inside; or, should one happen, this crate's) is kept in the run's [`SigState`] for the
/// caller to resume once the generated code has returned.
extern "C" fn xop_signal(
    ctx: *const HostCtx<'_>,
    site: i64,
    args: *const i64,
    out: *mut i64,
) -> i64 {
    // After a panic the run's results are not used: the caller resumes the panic.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_signal_at(ctx, site, args, out)
    }));
    r.unwrap_or_else(|p| {
        // SAFETY: as in `read_signal_at`: the context of the running call, whose `sig` is null
        // or the caller's live `SigState`; the read that panicked holds no reference into it
        // any more.
        let sig = unsafe { (*ctx).sig };
        if !sig.is_null() {
            // SAFETY: see above; nothing else uses the state during this host call.
            let state = unsafe { &mut *sig };
            state.panic.get_or_insert(p);
        }
        SIG_PANICKED
    })
}

/// The work of [`xop_signal`] (which catches its panics).
fn read_signal_at(ctx: *const HostCtx<'_>, site: i64, args: *const i64, out: *mut i64) -> i64 {
    // SAFETY: generated code passes on the context pointer it was called with, which `run`,
    // `run_decision` or their `_with_signals` forms point at a `HostCtx` on their stack that
    // outlives the call.
    let ctx = unsafe { &*ctx };
    let (module, input) = (ctx.module, ctx.input);
    let Some(s) = usize::try_from(site)
        .ok()
        .and_then(|i| module.sig_sites.get(i))
    else {
        return SIG_PANICKED;
    };
    let write = |words: &[i64]| {
        for k in 0..s.words {
            // SAFETY: generated code passes a stack slot of `s.words` words as `out`
            // (`Gen::signal`), and writes nothing else there during this call.
            unsafe { *out.add(k) = words.get(k).copied().unwrap_or(0) };
        }
    };
    if ctx.sig.is_null() {
        // No source: every read is absent (what `NoSignals` answers, and absent passes any
        // declared type made optional), so the arguments need not be read.
        write(&[]);
        return SIG_OK;
    }
    // SAFETY: `sig` points at the `SigState` of the running call, on its caller's stack and
    // alive for the whole run; nothing else uses it during this host call (generated code
    // never touches it, and no other host call is running).
    let state = unsafe { &mut *ctx.sig };
    if state.panic.is_some() {
        // A decision goes on with its next candidate after an error: read nothing more.
        return SIG_PANICKED;
    }
    // SAFETY: `texts` points at the running output's scratch area, alive for the whole run and
    // used by nothing else during this call (see `xop_text_cmp`).
    let texts = unsafe { &mut *ctx.texts };
    let mut values = Vec::with_capacity(s.args.len());
    for (k, ty) in s.args.iter().enumerate() {
        // SAFETY: generated code passes a stack slot of two words per argument as `args`.
        let (present, payload) = unsafe { (*args.add(2 * k), *args.add(2 * k + 1)) };
        if present == 0 {
            values.push(Value::Absent);
            continue;
        }
        let words: Vec<i64> = if by_address(ty) {
            let n = size(&module.program, ty, 0).unwrap_or(0);
            let p = payload as *const i64;
            // SAFETY: for a present value of such a type, generated code passes the address of
            // its `n` words (`size` of the same type, which `Gen::signal` checked): in the
            // input, a constant's data owned by the module, or a stack slot of the caller,
            // all alive during the call — the same words the generated code itself reads.
            (0..n).map(|i| unsafe { *p.add(i) }).collect()
        } else {
            vec![payload]
        };
        values.push(words_value(
            module,
            input,
            texts,
            &state.lists,
            ty,
            &words,
            &mut 0,
            0,
        ));
    }
    let program = &module.program;
    let Some(decl) = program.signals.get(s.signal as usize) else {
        return SIG_PANICKED;
    };
    let known = state
        .memo
        .iter()
        .find(|(scope, signal, a, _)| *scope == s.scope && *signal == s.signal && *a == values)
        .map(|m| m.3.clone());
    let value = match known {
        Some(v) => v,
        None => {
            let signals = state.signals;
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                signals.read(s.signal, decl, &values)
            }));
            let v = match read {
                Ok(v) => v,
                Err(p) => {
                    state.panic = Some(p);
                    return SIG_PANICKED;
                }
            };
            // An answer that does not match the declared type is out of contract: absent. A
            // set in it is canonical, as the interpreter reads it.
            let v = match canonical_in(program, &decl.ty, &v) {
                Ok(None) => v,
                Ok(Some(c)) => c,
                Err(_) => Value::Absent,
            };
            state.memo.push((s.scope, s.signal, values, v.clone()));
            v
        }
    };
    state.words.clear();
    let mut flat = Flat {
        module,
        words: &mut state.words,
        unknown: Vec::new(),
        index: StrIndex::default(),
        zones: &mut state.zones,
        lists: Vec::new(),
        run: Some((input, texts)),
    };
    flat.value(&s.ty, &value, 0, &Reads::All);
    if flat.words.len() != s.words {
        // Never for a checked value; should it happen, the read is absent (all words 0: no
        // presence, and any list empty), never a layout the code would misread.
        write(&[]);
        return SIG_OK;
    }
    if flat.lists.is_empty() {
        write(&state.words);
        return SIG_OK;
    }
    flat.lists();
    let headers: Vec<usize> = flat.lists.iter().map(|l| l.0).collect();
    let mut whole: Box<[i64]> = state.words.as_slice().into();
    // Both are arrays of words, so their distance is a whole number of words.
    let delta = (whole.as_ptr() as i64).wrapping_sub(input.words.as_ptr() as i64) / 8;
    for h in headers {
        if let Some(start) = whole.get_mut(h) {
            *start = start.wrapping_add(delta);
        }
    }
    write(&whole);
    state.lists.push(whole);
    SIG_OK
}

/// Why the JIT cannot lay out a signal's value of type `ty` in its scratch words, if so.
fn signal_layout(program: &Program, ty: &Type, depth: u32) -> Result<(), String> {
    if depth > MAX_RECORD_DEPTH {
        return Err("is a record type nested too deeply (or recursive)".into());
    }
    match ty {
        Type::List(elem) | Type::Set(elem) => signal_layout(program, elem, depth + 1),
        Type::Optional(inner) if matches!(**inner, Type::Optional(_)) => {
            Err("is a nested optional".into())
        }
        Type::Optional(inner) => signal_layout(program, inner, depth),
        Type::Record(r) => {
            let rt = program
                .records
                .get(*r as usize)
                .ok_or_else(|| format!("is record type #{r}, not in the program"))?;
            for f in &rt.fields {
                signal_layout(program, &f.ty, depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Gen<'_, '_, '_> {
    /// Reads signal `i` with `args` (the interpreter's `eval_signal`): the arguments in order,
    /// then a call to [`xop_signal`], which writes the value (made optional) into a stack slot
    /// of this function; the value is read from there like a parameter from the input.
    fn signal(&mut self, i: u32, args: &[Expr], d: u32) -> Result<JV, String> {
        let program = self.program;
        // A malformed program fails when the read is reached, in the interpreter; refusing it
        // here gives the same decisions (the interpreter decides instead).
        let decl = usize::try_from(i)
            .ok()
            .and_then(|j| program.signals.get(j))
            .ok_or_else(|| format!("reads signal #{i}, which is not in the program"))?;
        if args.len() != decl.params.len() {
            return Err(format!(
                "reads signal {} with {} argument(s) where it takes {}",
                decl.name,
                args.len(),
                decl.params.len()
            ));
        }
        let ty = match &decl.ty {
            Type::Optional(_) => decl.ty.clone(),
            t => Type::Optional(Box::new(t.clone())),
        };
        signal_layout(program, &ty, 0)
            .map_err(|why| format!("reads signal {}, whose value {why}", decl.name))?;
        let words = size(program, &ty, 0)?;
        let mut vs = Vec::with_capacity(args.len());
        for a in args {
            vs.push(self.expr(a, d)?);
        }
        let mut tys = Vec::with_capacity(vs.len());
        for v in &vs {
            tys.push(self.arg_type(v.base)?);
        }
        let f = MemFlagsData::trusted();
        let argv = self.scratch(2 * vs.len().max(1));
        for (k, v) in vs.iter().enumerate() {
            let p = self.presence(v);
            self.b.ins().store(f, p, argv, word(2 * k));
            self.b.ins().store(f, v.val, argv, word(2 * k + 1));
        }
        let site = self.sig_sites.len();
        self.sig_sites.push(SigSite {
            signal: i,
            args: tys,
            ty: ty.clone(),
            words,
            scope: self.memo_scope,
        });
        let out = self.scratch(words.max(1));
        let site = self.c(site as i64);
        let call = self.b.ins().call(self.signal, &[self.ctx, site, argv, out]);
        let status = self.b.inst_results(call)[0];
        // Only a panic of the source (resumed by the caller once the code has returned): the
        // message is never seen.
        self.check_msg(status, "the signal source panicked".into());
        self.load_typed(out, 0, &ty)
    }

    /// The IR type of a signal argument of kind `b`, as [`xop_signal`] reads it back.
    fn arg_type(&self, b: Base) -> Result<Type, String> {
        Ok(match b {
            Base::Bool | Base::Absent => Type::Bool,
            Base::Int => Type::Int,
            Base::Duration => Type::Duration,
            Base::Time => Type::Time,
            Base::Enum(e) => Type::Enum(e),
            // The kind does not change the word.
            Base::Symbol => Type::Symbol(crate::ir::SymbolKind::Channel),
            Base::Text => Type::Text,
            Base::Id => Type::Id,
            Base::Tz => Type::Tz,
            Base::Record(r) => Type::Record(r),
            Base::Decimal => Type::Decimal,
            Base::Money => Type::Money,
            Base::List(t) => Type::List(Box::new(
                self.list_tys
                    .get(t as usize)
                    .cloned()
                    .ok_or("passes a signal a list of an unknown type")?,
            )),
        })
    }

    /// `swapped_within(s, window)` on compiled operands, as `intrinsics::swapped_within`: the
    /// window must be present, then the record; the latest swap at or after `now - window`
    /// (exactly, in 128 bits), or, without one, no monitored period covering the window.
    fn swapped_within(&mut self, vs: &[JV]) -> Result<JV, String> {
        const F: &str = "swapped_within";
        let [s, w] = vs else {
            return Err(format!("calls {F} with {} argument(s)", vs.len()));
        };
        if w.base != Base::Duration {
            return Err(format!("calls {F} with a window of kind {}", w.base.kind()));
        }
        if !matches!(s.base, Base::Record(_)) {
            return Err(format!("calls {F} on a value of kind {}", s.base.kind()));
        }
        // The interpreter's messages, in its order: the window first.
        self.require_present(w, &format!("{F}: argument 2 is absent, not a Duration"));
        self.require_present(
            s,
            &format!("{F}: argument 1 is absent, not a SimSwap record"),
        );
        let record = JV {
            present: None,
            ..*s
        };
        let latest = self.elem_field(&record, "latest_swap", Base::Time, true)?;
        let period = self.elem_field(&record, "monitored_period", Base::Duration, true)?;
        let recent = self.at_or_after_window_start(latest.val, w.val);
        // Without a latest swap: true unless a monitored period covers the whole window.
        let short = self.b.ins().icmp(IntCC::SignedLessThan, period.val, w.val);
        let short = self.bool64(short);
        let unknown = match period.present {
            Some(p) => {
                let absent = self.b.ins().bxor_imm_u(p, 1);
                self.b.ins().bor(absent, short)
            }
            None => short,
        };
        let val = match latest.present {
            Some(p) => self.b.ins().select(p, recent, unknown),
            None => recent,
        };
        Ok(JV {
            base: Base::Bool,
            present: None,
            val,
        })
    }
}

/// One combining rule, one input check, one failed decision: the interpreter's, so that the
/// two engines cannot drift apart.
fn failed(reason: &str, fired: Vec<String>, error: String) -> Decision {
    Decision::failed(reason, fired, error)
}

/// `op` as a comparison of two words, ordering signed (the kinds compared as words: Int,
/// Duration, Time; equality of any word).
fn int_cc(op: CmpOp) -> IntCC {
    match op {
        CmpOp::Eq => IntCC::Equal,
        CmpOp::Ne => IntCC::NotEqual,
        CmpOp::Lt => IntCC::SignedLessThan,
        CmpOp::Le => IntCC::SignedLessThanOrEqual,
        CmpOp::Gt => IntCC::SignedGreaterThan,
        CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
    }
}

/// A verdict's code in the output.
fn verdict_code(v: Verdict) -> i64 {
    match v {
        Verdict::Allow => VERDICT_ALLOW,
        Verdict::Review => VERDICT_REVIEW,
        Verdict::Deny => VERDICT_DENY,
    }
}

/// The static kind of a JIT value (after removing one level of optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Bool,
    Int,
    Duration,
    Time,
    Enum(u32),
    Symbol,
    Text,
    Id,
    Tz,
    Record(u32),
    /// A decimal: the payload is the address of its two words ([`dec_words`]), in the input,
    /// a constant's data or a stack slot.
    Decimal,
    /// Money: the address of its three words, the amount's two and the currency's string id.
    Money,
    /// A list or set of the input: its element type's index in `Gen::list_tys`; the payload
    /// is the address of its two words (start, length).
    List(u32),
    /// Always absent (`Const(Absent)`, a lambda slot).
    Absent,
}

impl Base {
    fn kind(self) -> &'static str {
        match self {
            Base::Bool => "Bool",
            Base::Int => "Int",
            Base::Duration => "Duration",
            Base::Time => "Time",
            Base::Enum(_) => "enum value",
            Base::Symbol => "symbol",
            Base::Text => "Text",
            Base::Id => "Id",
            Base::Tz => "Tz",
            Base::Record(_) => "record",
            Base::Decimal => "Decimal",
            Base::Money => "Money",
            Base::List(_) => "list",
            Base::Absent => "absent",
        }
    }
}

/// The base of a (non-optional) IR type, if supported.
fn base_of(ty: &Type) -> Result<Base, String> {
    Ok(match ty {
        Type::Bool => Base::Bool,
        Type::Int => Base::Int,
        Type::Duration => Base::Duration,
        Type::Time => Base::Time,
        Type::Text => Base::Text,
        Type::Tz => Base::Tz,
        Type::Id => Base::Id,
        Type::Symbol(_) => Base::Symbol,
        Type::Enum(e) => Base::Enum(*e),
        Type::Record(r) => Base::Record(*r),
        Type::Decimal => Base::Decimal,
        Type::Money => Base::Money,
        Type::List(_) | Type::Set(_) => return Err("uses a list or set value".into()),
        Type::Optional(_) => return Err("uses a nested optional".into()),
    })
}

/// A value in generated code: its kind, its presence word (0/1; `None` when always present),
/// its payload (a scalar word, or a record's address in the input).
#[derive(Debug, Clone, Copy)]
struct JV {
    base: Base,
    present: Option<CVal>,
    val: CVal,
}

/// A compiled policy before finalizing: its function, input words, error sites, tables,
/// (switches and rule tables, rule tables, cancel-flag checks) emitted and the rule tables'
/// data.
type PolicyCode = (
    cranelift_module::FuncId,
    usize,
    Vec<Site>,
    Tables,
    (usize, usize, usize),
    Vec<Box<[i64]>>,
);

/// A compiled decision before finalizing: its function, input words, error sites, candidate
/// blocks, output words and rule tables.
type DecisionCode = (
    cranelift_module::FuncId,
    usize,
    Vec<Site>,
    Vec<Cand>,
    usize,
    Vec<Box<[i64]>>,
);

fn compile_policy(
    (module, ctx, fctx): Cranelift<'_>,
    program: &Program,
    pol: &Policy,
    index: usize,
    (strings, tz_consts, sig_sites): (&mut HashMap<String, i64>, &mut Vec<i64>, &mut Vec<SigSite>),
    host: &Host,
) -> Result<PolicyCode, String> {
    let nparams = pol.params.len();
    if nparams > pol.slots as usize {
        return Err("its frame is smaller than its parameters".into());
    }
    if let Some(s) = pol.now_slot
        && s >= pol.slots
    {
        return Err("its time slot is out of the frame".into());
    }
    let mut offsets = Vec::with_capacity(nparams);
    let mut input_words = 0usize;
    for p in &pol.params {
        offsets.push(input_words);
        input_words += size(program, &p.ty, 0)?;
    }
    if input_words > (i32::MAX as usize) / 16 || pol.rules.len() > (i32::MAX as usize) / 16 {
        return Err("too large".into());
    }
    let rules: Vec<&Rule> = pol.rules.iter().collect();
    let tables = Tables::new(&rules);
    let mut sig = module.make_signature();
    for _ in 0..4 {
        sig.params.push(AbiParam::new(I64));
    }
    ctx.func.signature = sig.clone();
    let zone_field = module.declare_func_in_func(host.zone_field, &mut ctx.func);
    let dec_arith = module.declare_func_in_func(host.dec_arith, &mut ctx.func);
    let dec_cmp = module.declare_func_in_func(host.dec_cmp, &mut ctx.func);
    let rank_cmp = module.declare_func_in_func(host.rank_cmp, &mut ctx.func);
    let text_cmp = module.declare_func_in_func(host.text_cmp, &mut ctx.func);
    let text_concat = module.declare_func_in_func(host.text_concat, &mut ctx.func);
    let signal = module.declare_func_in_func(host.signal, &mut ctx.func);
    let cfg = module.target_config();
    let (sites, switches, rule_tables, stop_checks, data) = {
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let mut g = Gen {
            program,
            rules,
            frame: Frame {
                params: &pol.params,
                now_slot: pol.now_slot,
                slots: pol.slots,
                offsets,
                args: None,
            },
            on_error: None,
            b,
            input: params[0],
            now: params[1],
            out: params[2],
            rule: 0,
            sites: Vec::new(),
            strings,
            tz_consts,
            tables: &tables,
            switches: 0,
            rule_tables: 0,
            stop_checks: Some(0),
            loops: 0,
            data: Vec::new(),
            list_tys: vec![Type::Int],
            lambdas: Vec::new(),
            ctx: params[3],
            zone_field,
            dec_arith,
            dec_cmp,
            rank_cmp,
            text_cmp,
            text_concat,
            signal,
            sig_sites: &mut *sig_sites,
            memo_scope: 0,
            wide_ranks: false,
            bits: Vec::new(),
            consts: HashMap::default(),
            zero_bits: Vec::new(),
            guards: Vec::new(),
        };
        g.body()?;
        g.b.seal_all_blocks();
        let Gen {
            b,
            sites,
            switches,
            rule_tables,
            stop_checks,
            data,
            ..
        } = g;
        b.finalize(cfg);
        (sites, switches, rule_tables, stop_checks.unwrap_or(0), data)
    };
    let id = declare_define(module, &format!("xop_policy_{index}"), &sig, ctx)?;
    Ok((
        id,
        input_words,
        sites,
        tables,
        (switches, rule_tables, stop_checks),
        data,
    ))
}

/// The guarding policies of one proposal: their indices, and where their rules start in the
/// proposal's rule list.
type Guards<'p> = Vec<(usize, &'p Policy, usize)>;

fn compile_decision<'p>(
    (module, ctx, fctx): Cranelift<'_>,
    program: &'p Program,
    def: &'p DecisionDef,
    index: usize,
    (strings, tz_consts, sig_sites): (&mut HashMap<String, i64>, &mut Vec<i64>, &mut Vec<SigSite>),
    host: &Host,
    wide: bool,
) -> Result<DecisionCode, String> {
    let nparams = def.params.len();
    if nparams > def.slots as usize {
        return Err("its frame is smaller than its parameters".into());
    }
    if let Some(s) = def.now_slot
        && s >= def.slots
    {
        return Err("its time slot is out of the frame".into());
    }
    let mut offsets = Vec::with_capacity(nparams);
    let mut input_words = 0usize;
    for p in &def.params {
        offsets.push(input_words);
        input_words += size(program, &p.ty, 0)?;
    }
    // Each proposal: the policies guarding its action (what `decide_action` evaluates), their
    // rules as one list, and its block of the output.
    let n = def.proposals.len();
    let mut cands = Vec::with_capacity(n);
    let mut guards: Vec<Guards<'p>> = Vec::with_capacity(n);
    let mut rule_lists: Vec<Vec<&Rule>> = Vec::with_capacity(n);
    let mut base = DEC_PAIRS + 2 * n;
    for prop in &def.proposals {
        let mut gs = Vec::new();
        let mut rules: Vec<&Rule> = Vec::new();
        let mut ids = Vec::new();
        for (pi, pol) in program.policies.iter().enumerate() {
            if pol.action != prop.action {
                continue;
            }
            if pol.params.len() != prop.args.len() {
                return Err(format!(
                    "proposes {} with {} argument(s) where policy {} takes {}",
                    prop.action,
                    prop.args.len(),
                    pol.qualified,
                    pol.params.len()
                ));
            }
            if pol.params.len() > pol.slots as usize || pol.now_slot.is_some_and(|s| s >= pol.slots)
            {
                return Err(format!(
                    "guarded by policy {}, whose frame is malformed",
                    pol.qualified
                ));
            }
            gs.push((pi, pol, rules.len()));
            for (ri, r) in pol.rules.iter().enumerate() {
                rules.push(r);
                ids.push((pi, ri));
            }
        }
        let tables = Tables::new(&rules);
        let rank_words = if wide { 3 } else { 1 };
        let words = rank_words + tables.out_words();
        cands.push(Cand {
            base,
            rank_words,
            rules: ids,
            tables,
        });
        base += words;
        guards.push(gs);
        rule_lists.push(rules);
    }
    let out_words = base;
    if input_words > (i32::MAX as usize) / 16 || out_words > (i32::MAX as usize) / 16 {
        return Err("too large".into());
    }
    let mut sig = module.make_signature();
    for _ in 0..4 {
        sig.params.push(AbiParam::new(I64));
    }
    ctx.func.signature = sig.clone();
    let zone_field = module.declare_func_in_func(host.zone_field, &mut ctx.func);
    let dec_arith = module.declare_func_in_func(host.dec_arith, &mut ctx.func);
    let dec_cmp = module.declare_func_in_func(host.dec_cmp, &mut ctx.func);
    let rank_cmp = module.declare_func_in_func(host.rank_cmp, &mut ctx.func);
    let text_cmp = module.declare_func_in_func(host.text_cmp, &mut ctx.func);
    let text_concat = module.declare_func_in_func(host.text_concat, &mut ctx.func);
    let signal = module.declare_func_in_func(host.signal, &mut ctx.func);
    let cfg = module.target_config();
    let (sites, data) = {
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let Some(first) = cands.first() else {
            // No proposal: no candidate.
            let zero = b.ins().iconst(I64, 0);
            b.ins()
                .store(MemFlagsData::trusted(), zero, params[2], word(DEC_COUNT));
            b.ins().return_(&[]);
            b.seal_all_blocks();
            b.finalize(cfg);
            return declare_define(module, &format!("xop_decision_{index}"), &sig, ctx)
                .map(|id| (id, input_words, Vec::new(), cands, out_words, Vec::new()));
        };
        let mut g = Gen {
            program,
            rules: Vec::new(),
            frame: Frame {
                params: &def.params,
                now_slot: def.now_slot,
                slots: def.slots,
                offsets: offsets.clone(),
                args: None,
            },
            on_error: None,
            b,
            input: params[0],
            now: params[1],
            out: params[2],
            rule: 0,
            sites: Vec::new(),
            strings,
            tz_consts,
            tables: &first.tables,
            switches: 0,
            rule_tables: 0,
            // A decision's code never stops early: only policies are cancelled.
            stop_checks: None,
            loops: 0,
            data: Vec::new(),
            list_tys: vec![Type::Int],
            lambdas: Vec::new(),
            ctx: params[3],
            zone_field,
            dec_arith,
            dec_cmp,
            rank_cmp,
            text_cmp,
            text_concat,
            signal,
            sig_sites: &mut *sig_sites,
            memo_scope: 0,
            wide_ranks: false,
            bits: Vec::new(),
            consts: HashMap::default(),
            zero_bits: Vec::new(),
            guards: Vec::new(),
        };
        g.wide_ranks = wide;
        let out = params[2];
        let zero = g.c(0);
        g.b.ins()
            .store(MemFlagsData::trusted(), zero, out, word(DEC_COUNT));
        for (p, prop) in def.proposals.iter().enumerate() {
            g.frame = Frame {
                params: &def.params,
                now_slot: def.now_slot,
                slots: def.slots,
                offsets: offsets.clone(),
                args: None,
            };
            g.rules = rule_lists[p].clone();
            g.guards.clear(); // what was found of the last candidate's rules
            g.tables = &cands[p].tables;
            g.candidate(out, p, prop, cands[p].base, &guards[p])?;
        }
        g.sort_candidates(out);
        g.b.ins().return_(&[]);
        g.b.seal_all_blocks();
        let Gen { b, sites, data, .. } = g;
        b.finalize(cfg);
        (sites, data)
    };
    let id = declare_define(module, &format!("xop_decision_{index}"), &sig, ctx)?;
    Ok((id, input_words, sites, cands, out_words, data))
}

/// Declares and defines the function `name` from `ctx`.
fn declare_define(
    module: &mut JITModule,
    name: &str,
    sig: &cranelift_codegen::ir::Signature,
    ctx: &mut cranelift_codegen::Context,
) -> Result<cranelift_module::FuncId, String> {
    let id = module
        .declare_function(name, Linkage::Local, sig)
        .map_err(|e| format!("declaring the code failed: {e}"))?;
    module
        .define_function(id, ctx)
        .map_err(|e| format!("compiling the code failed: {e}"))?;
    module.clear_context(ctx);
    Ok(id)
}

/// What compiling one function needs of Cranelift: the module it goes into, and the contexts
/// it is built in.
type Cranelift<'a> = (
    &'a mut JITModule,
    &'a mut cranelift_codegen::Context,
    &'a mut FunctionBuilderContext,
);

/// Cranelift's contexts for one module's functions: they hold the buffers of every pass, the
/// register allocator's above all, which new contexts would allocate again for each function.
/// Dropped with the module's compilation, so no thread keeps a large function's buffers.
type Contexts = Option<(cranelift_codegen::Context, FunctionBuilderContext)>;

/// Runs `f` with the module's Cranelift contexts (made on first use). They are kept for the
/// next function only if `f` succeeded: a function given up half-way leaves the builder's
/// context dirty, and it cannot be cleared from outside.
fn with_contexts<T>(
    module: &mut JITModule,
    contexts: &mut Contexts,
    f: impl FnOnce(Cranelift<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let (ctx, fctx) = contexts.get_or_insert_with(|| {
        (
            cranelift_codegen::Context::new(),
            FunctionBuilderContext::new(),
        )
    });
    module.clear_context(ctx);
    let r = f((module, ctx, fctx));
    if r.is_err() {
        *contexts = None;
    }
    r
}

/// Where the slots of the code being compiled come from: a policy's or decision's parameters
/// read from the input, or (a guarding policy inlined into a decision) the values of a
/// candidate's arguments.
struct Frame<'p> {
    params: &'p [Param],
    now_slot: Option<u32>,
    slots: u32,
    /// Each parameter's word offset in the input.
    offsets: Vec<usize>,
    /// The parameters' values when they are a candidate's arguments.
    args: Option<Vec<JV>>,
}

struct Gen<'p, 'f, 's> {
    program: &'p Program,
    /// The rules being compiled: their index here is their bit in the output.
    rules: Vec<&'p Rule>,
    frame: Frame<'p>,
    /// Where a run-time error goes after writing its words: `None` returns (a policy); a
    /// decision goes on with its next candidate.
    on_error: Option<Block>,
    b: FunctionBuilder<'f>,
    input: CVal,
    now: CVal,
    out: CVal,
    rule: usize,
    sites: Vec<Site>,
    strings: &'s mut HashMap<String, i64>,
    /// The ids of the strings used as `Tz` constants.
    tz_consts: &'s mut Vec<i64>,
    tables: &'s Tables,
    /// How many equality-guard switches (or tables) were emitted.
    switches: usize,
    /// How many of them are rule tables.
    rule_tables: usize,
    /// How many cancel-flag checks were emitted ([`Gen::stop_check`]); `None`: emit none (a
    /// decision's function, which the runtime never cancels).
    stop_checks: Option<usize>,
    /// How many loops over data of the input (lists, zone pairs) enclose the code being
    /// emitted: a loop emitted at 1 or more is nested in another, and checks the cancel flag.
    loops: u32,
    /// The rule tables of the code (see [`Gen::table_run`]).
    data: Vec<Box<[i64]>>,
    /// The element types of the lists met (see [`Base::List`]); entry [`EMPTY_LIST`] is the
    /// empty literal's.
    list_tys: Vec<Type>,
    /// The lambda slots bound by the quantifiers being compiled, innermost last.
    lambdas: Vec<(u32, JV)>,
    /// The host context pointer (the fourth parameter).
    ctx: CVal,
    /// The host function for time zones ([`xop_zone_field`]).
    zone_field: FuncRef,
    /// The host functions for decimals ([`xop_dec_arith`], [`xop_dec_cmp`]).
    dec_arith: FuncRef,
    dec_cmp: FuncRef,
    /// The host function ordering wide ranks ([`xop_rank_cmp`]).
    rank_cmp: FuncRef,
    /// The host functions for texts ([`xop_text_cmp`], [`xop_text_concat`]).
    text_cmp: FuncRef,
    text_concat: FuncRef,
    /// The host function reading signals ([`xop_signal`]).
    signal: FuncRef,
    /// The signal reads compiled so far, of the whole module (see [`SigSite`]).
    sig_sites: &'s mut Vec<SigSite>,
    /// The memo scope of the signal reads being compiled (see [`SigSite::scope`]).
    memo_scope: i64,
    /// Ranks take three words (see [`Cand::rank_words`]).
    wide_ranks: bool,
    /// The bit words of a small policy (the fired bits, then the reasons of each verdict
    /// class, from word `HEADER` on) kept in variables, so that a rule that fires sets a bit
    /// in a register rather than in memory, and the output is written once, at the end (or
    /// on an error); empty: they live in the output's words (decisions, large policies).
    bits: Vec<Variable>,
    /// The constants made so far, by block (see [`Gen::c`]).
    consts: HashMap<(Block, i64), CVal>,
    /// Which of `bits` are still 0 on every path to the code being generated, so that setting
    /// a bit in one needs no `or` (see [`Gen::or_bits`]).
    zero_bits: Vec<bool>,
    /// Each rule's [`Gen::guard`] once computed: a run's rules are asked while the run is
    /// found and again while it is compiled.
    guards: Vec<Option<Option<(&'p Expr, i64)>>>,
}

/// Whether a verdict class applies, in [`Gen::finish`]: always (a rule of it has no
/// condition), or when the value is true.
#[derive(Clone, Copy)]
enum Flag {
    Always,
    If(CVal),
}

/// Policies with at most this many bit words keep them in variables (see `Gen::bits`); a
/// larger one is mostly rule tables, which set bits in memory anyway.
const BIT_VARS_MAX: usize = 8;

/// Why the JIT does not compile `a op b` for these operand kinds.
fn arith_unsupported(op: ArithOp, a: &JV, b: &JV) -> String {
    format!(
        "computes {} {} {}",
        a.base.kind(),
        op_symbol(op),
        b.base.kind()
    )
}

/// The list type (index in `Gen::list_tys`) of an empty list literal, `[]`: its elements could
/// be of any type, so it joins a list of any type (`Gen::merge`) and an intrinsic reading
/// records finds none in it. Its entry says Int, but no other list gets it.
const EMPTY_LIST: u32 = 0;

/// The most computed elements of a set literal used as a value (sorted in unrolled code).
const SET_SORT_MAX: usize = 16;

/// A list or set literal, or a constant list: what `==` compares with a list of the input
/// through [`Gen::literal_eq`].
fn is_list_literal(e: &Expr) -> bool {
    matches!(
        e,
        Expr::List(_) | Expr::Set(_) | Expr::Const(Value::List(_))
    )
}

fn word(i: usize) -> i32 {
    // Offsets are bounded in `compile_policy` (and record layouts by their input size).
    (i * 8) as i32
}

impl<'p> Gen<'p, '_, '_> {
    fn body(&mut self) -> Result<(), String> {
        // The bit sets start at 0: in variables (written at the end, or on an error), or in
        // the output. Word 0 (no failing rule) is 0 unless a check fails: `finish` writes it
        // then, or it is written here when the bits live in memory. The error site, its
        // operands, the wide words and the verdict need not: a failing check writes the ones
        // its message reads, `finish` writes the verdict, and they are read only after that.
        let bit_words = self.tables.out_words() - HEADER;
        let zero = self.c(0);
        if bit_words <= BIT_VARS_MAX {
            self.bits = (0..bit_words).map(|_| self.b.declare_var(I64)).collect();
            self.zero_bits = vec![true; bit_words];
            for k in 0..bit_words {
                self.b.def_var(self.bits[k], zero);
            }
        } else {
            self.store_out(zero, 0);
            for w in HEADER..self.tables.out_words() {
                self.store_out(zero, w);
            }
        }
        let n = self.rules.len();
        self.rules_range(0, n)?;
        self.finish();
        self.b.ins().return_(&[]);
        Ok(())
    }

    /// Proposal `p` of a decision, into its block at word `base` of the output `out`: if its
    /// condition holds, its arguments and rank, then the rules of every policy guarding its
    /// action on those arguments (`decide_action`), and the combining rule; then it joins the
    /// candidates. An error in its own evaluation makes it a failed candidate ranked
    /// `i64::MIN`; an error in a rule, a failed decision at its rank (the interpreter's `rank`).
    fn candidate(
        &mut self,
        out: CVal,
        p: usize,
        prop: &'p Proposal,
        base: usize,
        guards: &Guards<'p>,
    ) -> Result<(), String> {
        let f = MemFlagsData::trusted();
        let zero = self.c(0);
        let rank_words = if self.wide_ranks { 3 } else { 1 };
        for w in 0..rank_words + self.tables.out_words() {
            self.b.ins().store(f, zero, out, word(base + w));
        }
        self.out = self.b.ins().iadd_imm_s(out, word(base + rank_words) as i64);
        let n_rules = self.rules.len();
        // An error of the candidate itself is reported at the rule past its rules.
        self.rule = n_rules;
        let eval_fail = self.b.create_block();
        // Decided (or failed in a rule): at its rank.
        let decided = self.b.create_block();
        let append = self.b.create_block();
        // The pair's proposal word (see [`pair_proposal`]).
        let pc = self.b.append_block_param(append, I64);
        let next = self.b.create_block();
        self.b.set_cold_block(eval_fail);
        self.on_error = Some(eval_fail);
        if let Some(c) = &prop.condition {
            let v = self.expr(c, 1)?;
            let v = self.as_bool(v, "the condition")?;
            let yes = self.b.create_block();
            self.b.ins().brif(v, yes, &[], next, &[]);
            self.b.switch_to_block(yes);
        }
        let mut args = Vec::with_capacity(prop.args.len());
        let reads = self.sig_sites.len();
        for a in &prop.args {
            args.push(self.expr(a, 1)?);
        }
        if self.sig_sites.len() != reads {
            // `candidates` evaluates the arguments again, for explanations, with the
            // interpreter and no signal source: a value read here would differ there.
            return Err(format!(
                "proposes {} with an argument that reads a signal",
                prop.action
            ));
        }
        let rank = match &prop.rank {
            None => JV {
                base: Base::Int,
                present: None,
                val: zero,
            },
            Some(r) => {
                let v = self.expr(r, 1)?;
                if v.base == Base::Decimal && !self.wide_ranks {
                    return Err(WIDE_RANKS.into());
                }
                if !matches!(v.base, Base::Int | Base::Decimal) {
                    return Err(format!("ranks by a value of kind {}", v.base.kind()));
                }
                if v.present.is_some() {
                    return Err("ranks by a value that may be absent".into());
                }
                v
            }
        };
        if !self.wide_ranks {
            self.b.ins().store(f, rank.val, out, word(base));
        } else if rank.base == Base::Int {
            let kind = self.c(RANK_INT);
            self.b.ins().store(f, kind, out, word(base));
            self.b.ins().store(f, rank.val, out, word(base + 1));
        } else {
            let kind = self.c(RANK_DECIMAL);
            self.b.ins().store(f, kind, out, word(base));
            for w in 0..2 {
                let x = self.load(rank.val, w);
                self.b.ins().store(f, x, out, word(base + 1 + w));
            }
        }
        for (_, pol, _) in guards {
            for (i, param) in pol.params.iter().enumerate() {
                if !self.arg_fits(&prop.args[i], &args[i], &param.ty) {
                    return Err(format!(
                        "passes {} an argument `{}` it cannot check against policy {}",
                        prop.action, param.name, pol.qualified
                    ));
                }
            }
        }
        // From here on an error is the candidate's failed decision, at its rank.
        self.on_error = Some(decided);
        // The interpreter decides the candidate's action with a fresh signal memo.
        self.memo_scope = p as i64 + 1;
        for (gi, (_, pol, start)) in guards.iter().enumerate() {
            let end = guards.get(gi + 1).map_or(n_rules, |g| g.2);
            self.frame = Frame {
                params: &pol.params,
                now_slot: pol.now_slot,
                slots: pol.slots,
                offsets: Vec::new(),
                args: Some(args.clone()),
            };
            self.rules_range(*start, end)?;
        }
        self.memo_scope = 0;
        self.finish();
        self.b.ins().jump(decided, &[]);
        self.b.switch_to_block(decided);
        let p_ok = self.c(p as i64);
        self.b.ins().jump(append, &[BlockArg::Value(p_ok)]);
        // A failed candidate: below every real rank (`interp::rank_order`), marked as such in
        // its pair (`!p`) and, with wide ranks, in its kind; its rank shows as `i64::MIN`.
        self.b.switch_to_block(eval_fail);
        let min = self.c(i64::MIN);
        if self.wide_ranks {
            let kind = self.c(RANK_FAILED);
            self.b.ins().store(f, kind, out, word(base));
            self.b.ins().store(f, min, out, word(base + 1));
        } else {
            self.b.ins().store(f, min, out, word(base));
        }
        let pc_failed = self.c(!(p as i64));
        self.b.ins().jump(append, &[BlockArg::Value(pc_failed)]);
        // Join the candidates: the next (proposal, rank) pair.
        self.b.switch_to_block(append);
        let count = self.load(out, DEC_COUNT);
        let at = self.b.ins().ishl_imm_u(count, 4);
        let at = self.b.ins().iadd(out, at);
        // Wide ranks: the pair holds where the rank is (see `sort_candidates`).
        let r = if self.wide_ranks {
            self.c(base as i64)
        } else {
            self.load(out, base)
        };
        self.b.ins().store(f, pc, at, word(DEC_PAIRS));
        self.b.ins().store(f, r, at, word(DEC_PAIRS + 1));
        let count1 = self.b.ins().iadd_imm_s(count, 1);
        self.b.ins().store(f, count1, out, word(DEC_COUNT));
        self.b.ins().jump(next, &[]);
        self.b.switch_to_block(next);
        self.on_error = None;
        Ok(())
    }

    /// Whether every value of argument `arg` (compiled to `v`) passes the interpreter's input
    /// check against parameter type `ty` (`check_value`) and is canonical (its sets sorted and
    /// unique, `interp::canonical`), so that the code need not repeat the check.
    fn arg_fits(&self, arg: &Expr, v: &JV, ty: &Type) -> bool {
        let (want, optional) = match ty {
            Type::Optional(t) => (&**t, true),
            t => (t, false),
        };
        if let Expr::Const(k) = arg {
            // Canonical already: the code passes the constant on as it is laid out.
            return matches!(canonical_in(self.program, ty, k), Ok(None));
        }
        if v.base == Base::Absent {
            return optional;
        }
        if v.present.is_some() && !optional {
            return false;
        }
        if let Some(t) = self.decl_type(arg, 0) {
            // A path of the input, checked with its declared type when it was bound.
            return t == *ty || (optional && t == *want);
        }
        // Computed: kinds whose every value is valid.
        matches!(
            (v.base, want),
            (Base::Bool, Type::Bool)
                | (Base::Int, Type::Int)
                | (Base::Duration, Type::Duration)
                | (Base::Time, Type::Time)
                | (Base::Text, Type::Text)
                | (Base::Id, Type::Id)
                | (Base::Decimal, Type::Decimal)
                | (Base::Money, Type::Money)
        )
    }

    /// The declared type of an input path `slot.field.field…` (or of the decision time).
    fn decl_type(&self, e: &Expr, depth: u32) -> Option<Type> {
        if depth > MAX_RECORD_DEPTH {
            return None;
        }
        match e {
            Expr::Slot(s) if self.lambdas.iter().any(|(l, _)| l == s) => None,
            Expr::Slot(s) if self.frame.now_slot == Some(*s) => Some(Type::Time),
            Expr::Slot(s) => self.frame.params.get(*s as usize).map(|p| p.ty.clone()),
            Expr::Field(r, i) => {
                let Type::Record(rt) = self.decl_type(r, depth + 1)? else {
                    return None;
                };
                let rt = self.program.records.get(rt as usize)?;
                Some(rt.fields.get(*i as usize)?.ty.clone())
            }
            _ => None,
        }
    }

    /// Ranks the (proposal, rank) pairs of a decision's output `out`, highest rank first and
    /// ties in written order (an insertion sort, stable; a decision has few candidates).
    fn sort_candidates(&mut self, out: CVal) {
        let f = MemFlagsData::trusted();
        let count = self.load(out, DEC_COUNT);
        let head_i = self.b.create_block();
        let i = self.b.append_block_param(head_i, I64);
        let body_i = self.b.create_block();
        let head_j = self.b.create_block();
        let j = self.b.append_block_param(head_j, I64);
        let check_j = self.b.create_block();
        let shift = self.b.create_block();
        let place = self.b.create_block();
        let done = self.b.create_block();
        let one = self.c(1);
        self.b.ins().jump(head_i, &[BlockArg::Value(one)]);
        self.b.switch_to_block(head_i);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, count);
        self.b.ins().brif(more, body_i, &[], done, &[]);
        self.b.switch_to_block(body_i);
        let at_i = self.pair_at(out, i);
        let kp = self.load(at_i, DEC_PAIRS);
        let kr = self.load(at_i, DEC_PAIRS + 1);
        self.b.ins().jump(head_j, &[BlockArg::Value(i)]);
        self.b.switch_to_block(head_j);
        let first = self.b.ins().icmp_imm_s(IntCC::Equal, j, 0);
        self.b.ins().brif(first, place, &[], check_j, &[]);
        self.b.switch_to_block(check_j);
        let j1 = self.b.ins().iadd_imm_s(j, -1);
        let at_prev = self.pair_at(out, j1);
        let pp = self.load(at_prev, DEC_PAIRS);
        let pr = self.load(at_prev, DEC_PAIRS + 1);
        // Only a strictly lower rank moves down: ties keep their order.
        let stop = if self.wide_ranks {
            // The pairs hold the word offsets of the ranks, which the host orders.
            let a = self.b.ins().ishl_imm_u(pr, 3);
            let a = self.b.ins().iadd(out, a);
            let b = self.b.ins().ishl_imm_u(kr, 3);
            let b = self.b.ins().iadd(out, b);
            let call = self.b.ins().call(self.rank_cmp, &[a, b]);
            let o = self.b.inst_results(call)[0];
            self.b
                .ins()
                .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, o, 0)
        } else {
            // One-word Int ranks: a failed candidate (`!p`, negative, in its pair) is below
            // every rank, even a real `i64::MIN`, as `interp::rank_order` orders them. So the
            // previous one stays first if this one failed, or if it did not fail and its rank
            // is not lower.
            let k_failed = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, kp, 0);
            let prev_real = self
                .b
                .ins()
                .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, pp, 0);
            let not_lower = self.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, pr, kr);
            let kept = self.b.ins().band(prev_real, not_lower);
            self.b.ins().bor(k_failed, kept)
        };
        self.b.ins().brif(stop, place, &[], shift, &[]);
        self.b.switch_to_block(shift);
        let at_j = self.pair_at(out, j);
        self.b.ins().store(f, pp, at_j, word(DEC_PAIRS));
        self.b.ins().store(f, pr, at_j, word(DEC_PAIRS + 1));
        self.b.ins().jump(head_j, &[BlockArg::Value(j1)]);
        self.b.switch_to_block(place);
        let at_j = self.pair_at(out, j);
        self.b.ins().store(f, kp, at_j, word(DEC_PAIRS));
        self.b.ins().store(f, kr, at_j, word(DEC_PAIRS + 1));
        let i1 = self.b.ins().iadd_imm_s(i, 1);
        self.b.ins().jump(head_i, &[BlockArg::Value(i1)]);
        self.b.switch_to_block(done);
    }

    /// The address of pair `k` minus the pairs' offset (so that `load(at, DEC_PAIRS)` reads it).
    fn pair_at(&mut self, out: CVal, k: CVal) -> CVal {
        let bytes = self.b.ins().ishl_imm_u(k, 4);
        self.b.ins().iadd(out, bytes)
    }

    /// Rules `from..to` (of one frame), equality-guarded runs as switches.
    fn rules_range(&mut self, from: usize, n: usize) -> Result<(), String> {
        let mut i = from;
        while i < n {
            if let Some((path, _)) = self.guard(i) {
                let mut j = i + 1;
                while j < n && self.guard(j).is_some_and(|(p, _)| p == path) {
                    j += 1;
                }
                if j - i >= TABLE_MIN {
                    // A table sets its bits in memory.
                    self.flush_bits();
                    if self.table_run(i, j, path)? {
                        self.reload_bits();
                        i = j;
                        continue;
                    }
                }
                if j - i >= SWITCH_MIN {
                    self.switch_run(i, j, path)?;
                    i = j;
                    continue;
                }
            }
            self.rule(i)?;
            i += 1;
        }
        Ok(())
    }

    fn store_out(&mut self, v: CVal, w: usize) {
        self.b
            .ins()
            .store(MemFlagsData::trusted(), v, self.out, word(w));
    }

    /// Sets bit `bit` of output word `w` if `cond` (an `icmp` result) holds; always if `None`.
    fn set_bit_if(&mut self, w: usize, bit: usize, cond: Option<CVal>) {
        let mask = self.c((1u64 << bit) as i64);
        self.or_bits(w, mask, cond);
    }
    /// Word `w` of the bit sets `|= mask` (if `cond`).
    fn or_bits(&mut self, w: usize, mask: CVal, cond: Option<CVal>) {
        let var = w.checked_sub(HEADER).filter(|&k| k < self.bits.len());
        let new = if var.is_some_and(|k| self.zero_bits[k]) {
            // Still 0 here: `0 | mask` is the mask.
            match cond {
                Some(cond) => {
                    let zero = self.c(0);
                    self.b.ins().select(cond, mask, zero)
                }
                None => mask,
            }
        } else {
            let old = self.bit_word(w);
            let new = self.b.ins().bor(old, mask);
            match cond {
                Some(cond) => self.b.ins().select(cond, new, old),
                None => new,
            }
        };
        match var {
            Some(k) => {
                self.b.def_var(self.bits[k], new);
                self.zero_bits[k] = false;
            }
            None => self.store_out(new, w),
        }
    }

    /// The current value of output word `w`, a bit word (from its variable if it has one).
    fn bit_word(&mut self, w: usize) -> CVal {
        match w.checked_sub(HEADER).and_then(|k| self.bits.get(k)) {
            Some(&var) => self.b.use_var(var),
            None => self.load(self.out, w),
        }
    }

    /// Writes the bit words kept in variables to the output.
    fn flush_bits(&mut self) {
        for k in 0..self.bits.len() {
            let v = self.b.use_var(self.bits[k]);
            self.store_out(v, HEADER + k);
        }
    }

    /// Reads the bit words kept in variables back from the output (after code that set bits
    /// there).
    fn reload_bits(&mut self) {
        for k in 0..self.bits.len() {
            let v = self.load(self.out, HEADER + k);
            self.b.def_var(self.bits[k], v);
            self.zero_bits[k] = false;
        }
    }

    /// Rule `i`: if its condition holds, marks it fired and notes its reason under its verdict.
    fn rule(&mut self, i: usize) -> Result<(), String> {
        self.rule = i;
        let Some(cond) = &self.rules[i].condition else {
            // Always fires: its bits are set where the code is.
            return self.case_rule(i, None, None);
        };
        let fire = self.b.create_block();
        let next = self.b.create_block();
        match cond {
            // `unless c` (`not c`): branch on `c` the other way instead of negating it.
            Expr::Not(c) => {
                let v = self.expr(c, 1)?;
                let v = self.as_bool(v, "the operand of `not`")?;
                self.b.ins().brif(v, next, &[], fire, &[]);
            }
            c => {
                let v = self.expr(c, 1)?;
                let v = self.as_bool(v, "the condition")?;
                self.b.ins().brif(v, fire, &[], next, &[]);
            }
        }
        self.b.switch_to_block(fire);
        self.case_rule(i, None, None)?;
        self.b.ins().jump(next, &[]);
        self.b.switch_to_block(next);
        Ok(())
    }

    /// The equality guard of rule `i`: its condition is `P == constant` (or `constant == P`),
    /// alone or as the leftmost operand of `and`s, where `P` is an always-present input path of
    /// a scalar kind and the constant of the same kind; gives `P` and the constant's word.
    fn guard(&mut self, i: usize) -> Option<(&'p Expr, i64)> {
        if let Some(Some(known)) = self.guards.get(i) {
            return *known;
        }
        let found = self.find_guard(i);
        if self.guards.len() <= i {
            self.guards.resize(self.rules.len(), None);
        }
        self.guards[i] = Some(found);
        found
    }

    /// [`Gen::guard`], computed.
    fn find_guard(&mut self, i: usize) -> Option<(&'p Expr, i64)> {
        let mut e = self.rules[i].condition.as_ref()?;
        while let Expr::And(a, _) = e {
            e = a;
        }
        let Expr::Cmp(CmpOp::Eq, a, b) = e else {
            return None;
        };
        let (path, k) = match (&**a, &**b) {
            (Expr::Const(k), p) | (p, Expr::Const(k)) if !matches!(p, Expr::Const(_)) => (p, k),
            _ => return None,
        };
        let base = base_of(&self.path_type(path, 0)?).ok()?;
        if matches!(base, Base::Record(_) | Base::Absent) {
            return None;
        }
        let (kb, word) = self.const_word(k)?;
        (kb == base).then_some((path, word))
    }

    /// The type of an input path `slot.field.field…` whose every step is always present.
    fn path_type(&self, e: &Expr, depth: u32) -> Option<Type> {
        if depth > MAX_RECORD_DEPTH {
            return None;
        }
        let ty = match e {
            Expr::Slot(s) if self.frame.now_slot != Some(*s) => {
                self.frame.params.get(*s as usize)?.ty.clone()
            }
            Expr::Field(r, i) => {
                let Type::Record(rt) = self.path_type(r, depth + 1)? else {
                    return None;
                };
                let rt = self.program.records.get(rt as usize)?;
                rt.fields.get(*i as usize)?.ty.clone()
            }
            _ => return None,
        };
        (!matches!(ty, Type::Optional(_))).then_some(ty)
    }

    /// The residual of rule `i` after its equality guard when it is simple: `None` for
    /// `P == k` alone, or `Q op c` with `Q` an always-present scalar input path and `c` a
    /// constant of its kind (ordering only on Int, Duration and Time), which can neither fail
    /// nor be absent.
    #[allow(clippy::type_complexity)]
    fn simple_residual(&mut self, i: usize) -> Option<Option<(&'p Expr, CmpOp, i64)>> {
        let r = match self.rules[i].condition.as_ref()? {
            Expr::Cmp(CmpOp::Eq, ..) => return Some(None),
            Expr::And(a, r) if matches!(**a, Expr::Cmp(CmpOp::Eq, ..)) => r,
            _ => return None,
        };
        let Expr::Cmp(op, q, k) = &**r else {
            return None;
        };
        let (Expr::Const(k), false) = (&**k, matches!(**q, Expr::Const(_))) else {
            return None;
        };
        let base = base_of(&self.path_type(q, 0)?).ok()?;
        if matches!(base, Base::Record(_) | Base::List(_) | Base::Absent) {
            return None;
        }
        let (kb, c) = self.const_word(k)?;
        let ordered = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        if kb != base || (ordered && !matches!(base, Base::Int | Base::Duration | Base::Time)) {
            return None;
        }
        Some(Some((&**q, *op, c)))
    }

    /// Rules `from..to`, all guarded by equality on `path` and with simple residuals (see
    /// [`Self::simple_residual`]) on one path `Q`, as data instead of code: a table of the
    /// guards' constants (indexed directly when they are dense, else binary-searched) gives
    /// each constant's rules, and one loop evaluates their residuals branch-free and sets
    /// their fired and reason bits. The code is the same size whatever the number of rules,
    /// which is what makes a policy of thousands of rules quick to compile. Evaluating `Q` for
    /// every input, and the residuals in any order, is the rule-order scan's result: neither
    /// can fail, and bits only accumulate. `Ok(false)`: the run does not qualify.
    fn table_run(&mut self, from: usize, to: usize, path: &Expr) -> Result<bool, String> {
        let mut q_path: Option<&'p Expr> = None;
        // (key, outcome mask, constant, rule); outcome bits: 1 `q < c`, 2 `q == c`, 4 `q > c`.
        let mut rows: Vec<(i64, i64, i64, usize)> = Vec::with_capacity(to - from);
        for i in from..to {
            let (Some((_, k)), Some(res)) = (self.guard(i), self.simple_residual(i)) else {
                return Ok(false);
            };
            let (mask, c) = match res {
                None => (0b111, 0),
                Some((q, op, c)) => {
                    match q_path {
                        None => q_path = Some(q),
                        Some(p) if p == q => {}
                        Some(_) => return Ok(false),
                    }
                    let mask = match op {
                        CmpOp::Lt => 0b001,
                        CmpOp::Le => 0b011,
                        CmpOp::Eq => 0b010,
                        CmpOp::Ne => 0b101,
                        CmpOp::Gt => 0b100,
                        CmpOp::Ge => 0b110,
                    };
                    (mask, c)
                }
            };
            rows.push((k, mask, c, i));
        }
        // Keys ascending, each key's rules in rule order (the sort is stable).
        rows.sort_by_key(|r| r.0);
        let mut keys: Vec<i64> = Vec::new();
        let mut starts: Vec<i64> = Vec::new();
        for (e, r) in rows.iter().enumerate() {
            if keys.last() != Some(&r.0) {
                keys.push(r.0);
                starts.push(e as i64);
            }
        }
        starts.push(rows.len() as i64);
        let m = keys.len();
        let (Some(&min), Some(&max)) = (keys.first(), keys.last()) else {
            return Ok(false);
        };
        let span = i128::from(max) - i128::from(min) + 1;
        let dense = span <= 2 * m as i128 + 16;
        let mut data: Vec<i64> = Vec::with_capacity(2 * m + 1 + ENTRY_WORDS * rows.len());
        data.extend(&keys);
        data.extend(&starts);
        let entries_at = data.len();
        for &(_, mask, c, i) in &rows {
            let fired_w = HEADER + i / 64;
            let (class_w, class_bit) = match self.tables.rule_reason[i] {
                Some(r) => {
                    let r = r as usize;
                    let at = self.tables.class_at(verdict_code(self.rules[i].verdict));
                    (at + r / 64, 1u64 << (r % 64))
                }
                None => (fired_w, 0),
            };
            data.extend([
                mask,
                c,
                i64::from(word(fired_w)),
                (1u64 << (i % 64)) as i64,
                i64::from(word(class_w)),
                class_bit as i64,
            ]);
        }
        let dense_at = data.len();
        if dense {
            let mut index = vec![-1i64; span as usize];
            for (case, k) in keys.iter().enumerate() {
                index[(k - min) as usize] = case as i64;
            }
            data.extend(index);
        }
        if data.len() > (i32::MAX as usize) / 16 {
            return Ok(false);
        }
        let data: Box<[i64]> = data.into_boxed_slice();
        let table = self.c(data.as_ptr() as i64);
        // The code reads the table at this address: it is kept with the code and never moves
        // (a boxed slice's elements stay where they are when the box is moved).
        self.data.push(data);

        let v = self.expr(path, 1)?.val;
        let q = match q_path {
            Some(q) => self.expr(q, 1)?.val,
            None => self.c(0),
        };
        let join = self.b.create_block();
        let found = self.b.create_block();
        let case = self.b.append_block_param(found, I64);
        if dense {
            // `v - min` wraps for values below `min`: one unsigned check covers both ends.
            let d = self.b.ins().iadd_imm_s(v, min.wrapping_neg());
            let inside = self
                .b
                .ins()
                .icmp_imm_u(IntCC::UnsignedLessThan, d, span as i64);
            let look = self.b.create_block();
            self.b.ins().brif(inside, look, &[], join, &[]);
            self.b.switch_to_block(look);
            let at = self.b.ins().ishl_imm_u(d, 3);
            let at = self.b.ins().iadd(table, at);
            let c = self.load(at, dense_at);
            let hit = self
                .b
                .ins()
                .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, c, 0);
            self.b
                .ins()
                .brif(hit, found, &[BlockArg::Value(c)], join, &[]);
        } else {
            // The first key not below `v`, by binary search.
            let head = self.b.create_block();
            let lo = self.b.append_block_param(head, I64);
            let hi = self.b.append_block_param(head, I64);
            let body = self.b.create_block();
            let done = self.b.create_block();
            let zero = self.c(0);
            let mk = self.c(m as i64);
            self.b
                .ins()
                .jump(head, &[BlockArg::Value(zero), BlockArg::Value(mk)]);
            self.b.switch_to_block(head);
            let more = self.b.ins().icmp(IntCC::SignedLessThan, lo, hi);
            self.b.ins().brif(more, body, &[], done, &[]);
            self.b.switch_to_block(body);
            let sum = self.b.ins().iadd(lo, hi);
            let mid = self.b.ins().ushr_imm_u(sum, 1);
            let at = self.b.ins().ishl_imm_u(mid, 3);
            let at = self.b.ins().iadd(table, at);
            let km = self.load(at, 0);
            let less = self.b.ins().icmp(IntCC::SignedLessThan, km, v);
            let mid1 = self.b.ins().iadd_imm_s(mid, 1);
            let lo1 = self.b.ins().select(less, mid1, lo);
            let hi1 = self.b.ins().select(less, hi, mid);
            self.b
                .ins()
                .jump(head, &[BlockArg::Value(lo1), BlockArg::Value(hi1)]);
            self.b.switch_to_block(done);
            let inside = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, lo, m as i64);
            let check = self.b.create_block();
            self.b.ins().brif(inside, check, &[], join, &[]);
            self.b.switch_to_block(check);
            let at = self.b.ins().ishl_imm_u(lo, 3);
            let at = self.b.ins().iadd(table, at);
            let k = self.load(at, 0);
            let hit = self.b.ins().icmp(IntCC::Equal, k, v);
            self.b
                .ins()
                .brif(hit, found, &[BlockArg::Value(lo)], join, &[]);
        }
        // The key's rules: entries `starts[case]..starts[case + 1]`.
        self.b.switch_to_block(found);
        let at = self.b.ins().ishl_imm_u(case, 3);
        let at = self.b.ins().iadd(table, at);
        let start = self.load(at, m);
        let end = self.load(at, m + 1);
        let head = self.b.create_block();
        let e = self.b.append_block_param(head, I64);
        let body = self.b.create_block();
        self.b.ins().jump(head, &[BlockArg::Value(start)]);
        self.b.switch_to_block(head);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, e, end);
        self.b.ins().brif(more, body, &[], join, &[]);
        self.b.switch_to_block(body);
        let at = self.b.ins().imul_imm_s(e, (ENTRY_WORDS * 8) as i64);
        let at = self.b.ins().iadd(table, at);
        let mask = self.load(at, entries_at);
        let c = self.load(at, entries_at + 1);
        // The outcome's bit: 0 below, 1 equal, 2 above (ordering kinds are compared signed;
        // the masks of `==` and `!=` give the same answer below and above).
        let gt = self.b.ins().icmp(IntCC::SignedGreaterThan, q, c);
        let eq = self.b.ins().icmp(IntCC::Equal, q, c);
        let gt = self.bool64(gt);
        let eq = self.bool64(eq);
        let shift = self.b.ins().ishl_imm_u(gt, 1);
        let shift = self.b.ins().bor(shift, eq);
        let holds = self.b.ins().ushr(mask, shift);
        let holds = self.b.ins().band_imm_u(holds, 1);
        let all = self.b.ins().ineg(holds);
        for (w, bit) in [(2, 3), (4, 5)] {
            let off = self.load(at, entries_at + w);
            let bits = self.load(at, entries_at + bit);
            let bits = self.b.ins().band(bits, all);
            let addr = self.b.ins().iadd(self.out, off);
            let old = self.load(addr, 0);
            let new = self.b.ins().bor(old, bits);
            self.b.ins().store(MemFlagsData::trusted(), new, addr, 0);
        }
        let e1 = self.b.ins().iadd_imm_s(e, 1);
        self.b.ins().jump(head, &[BlockArg::Value(e1)]);
        self.b.switch_to_block(join);
        self.switches += 1;
        self.rule_tables += 1;
        Ok(true)
    }

    /// Rules `from..to`, all guarded by equality on `path`: one switch on `path`'s value, each
    /// case evaluating its rules in order.
    fn switch_run(&mut self, from: usize, to: usize, path: &Expr) -> Result<(), String> {
        let v = self.expr(path, 1)?;
        let join = self.b.create_block();
        let mut cases: Vec<(i64, Block, Vec<usize>)> = Vec::new();
        for i in from..to {
            let (_, k) = self.guard(i).ok_or("a guard changed while compiling")?;
            match cases.iter_mut().find(|c| c.0 == k) {
                Some(c) => c.2.push(i),
                None => {
                    let blk = self.b.create_block();
                    cases.push((k, blk, vec![i]));
                }
            }
        }
        // When every rule compares the same input path with a constant, the path is read once,
        // before the switch: an input path is loads only (see `path_type`), so reading it on
        // every way through costs nothing but spares an instruction per case.
        let residuals: Vec<_> = (from..to).map(|i| self.simple_residual(i)).collect();
        let mut operand = None;
        let first = residuals[0].flatten().map(|r| r.0);
        if let Some(q) = first
            && residuals
                .iter()
                .all(|r| r.flatten().is_some_and(|r| r.0 == q))
        {
            operand = Some(self.expr(q, 1)?.val);
        }
        let mut sw = Switch::new();
        for (k, blk, _) in &cases {
            sw.set_entry(u128::from(*k as u64), *blk);
        }
        sw.emit(&mut self.b, v.val, join);
        self.switches += 1;
        // Each case starts from the bits as they were before the switch; after it, a bit word
        // is still 0 only if no case set it.
        let before = self.zero_bits.clone();
        let mut after = before.clone();
        for (_, blk, rules) in cases {
            self.b.switch_to_block(blk);
            self.zero_bits.clone_from(&before);
            for i in rules {
                match residuals[i - from] {
                    Some(res) => self.case_rule(i, res, operand)?,
                    None => self.rule(i)?,
                }
            }
            for (a, z) in after.iter_mut().zip(&self.zero_bits) {
                *a &= *z;
            }
            self.b.ins().jump(join, &[]);
        }
        self.zero_bits = after;
        self.b.switch_to_block(join);
        Ok(())
    }

    /// Rule `i` in its guard's switch case when its residual is simple (see
    /// [`Self::simple_residual`]): the guard holds there and the residual can neither fail nor
    /// be absent, so it is one comparison whose outcome selects the bits, without a branch or
    /// the guard compared again (a fifth of the blocks of [`Self::rule`], which is what
    /// Cranelift's time grows with).
    fn case_rule(
        &mut self,
        i: usize,
        res: Option<(&'p Expr, CmpOp, i64)>,
        operand: Option<CVal>,
    ) -> Result<(), String> {
        self.rule = i;
        let holds = match res {
            None => None,
            Some((q, op, c)) => {
                let q = match operand {
                    Some(q) => q,
                    None => self.expr(q, 1)?.val,
                };
                // Ordering only on kinds compared signed (Int, Duration, Time): see
                // `simple_residual`.
                let c = self.c(c);
                Some(self.b.ins().icmp(int_cc(op), q, c))
            }
        };
        let reason = self.tables.rule_reason[i].map(|r| {
            let r = r as usize;
            let at = self.tables.class_at(verdict_code(self.rules[i].verdict));
            (at + r / 64, r % 64)
        });
        match (holds, reason) {
            // The rule's bit and its reason's at the same place in their words: one select
            // makes the mask both take.
            (Some(holds), Some((w, bit))) if bit == i % 64 => {
                let (mask, zero) = (self.c((1u64 << bit) as i64), self.c(0));
                let on = self.b.ins().select(holds, mask, zero);
                self.or_bits(HEADER + i / 64, on, None);
                self.or_bits(w, on, None);
            }
            _ => {
                self.set_bit_if(HEADER + i / 64, i % 64, holds);
                if let Some((w, bit)) = reason {
                    self.set_bit_if(w, bit, holds);
                }
            }
        }
        Ok(())
    }

    /// `flag ? on : off`, folded when the flag is known.
    fn pick(&mut self, flag: Option<Flag>, on: CVal, off: CVal) -> CVal {
        match flag {
            None => off,
            Some(Flag::Always) => on,
            Some(Flag::If(f)) => self.b.ins().select(f, on, off),
        }
    }
    /// The combining rule over the fired bits: deny if a deny rule fired, else review, else
    /// allow, else deny; the reasons are those noted under the winning verdict.
    fn finish(&mut self) {
        let t = self.tables;
        // A class with a rule that has no condition has fired by now (an error returns before
        // this): its flag is a constant, not a test of the bits.
        let mut always = [false; 3];
        for r in &self.rules {
            if r.condition.is_none() {
                always[verdict_code(r.verdict) as usize] = true;
            }
        }
        // Whether a rule of each other class fired (`None`: the policy has no rule of the
        // class, so nothing is computed for it: every instruction costs compiling time).
        let mut any: [Option<CVal>; 3] = [None, None, None];
        for w in 0..t.fired_words {
            let fired = self.bit_word(HEADER + w);
            for (class, acc) in any.iter_mut().enumerate() {
                let mask = self
                    .rules
                    .iter()
                    .enumerate()
                    .skip(w * 64)
                    .take(64)
                    .filter(|(_, r)| verdict_code(r.verdict) == class as i64)
                    .fold(0u64, |m, (i, _)| m | (1u64 << (i % 64)));
                if mask != 0 && !always[class] {
                    let mask = self.c(mask as i64);
                    let m = self.b.ins().band(fired, mask);
                    *acc = Some(match *acc {
                        Some(a) => self.b.ins().bor(a, m),
                        None => m,
                    });
                }
            }
        }
        let zero = self.c(0);
        let flags: [Option<Flag>; 3] = std::array::from_fn(|class| {
            if always[class] {
                Some(Flag::Always)
            } else {
                any[class].map(|a| Flag::If(self.b.ins().icmp(IntCC::NotEqual, a, zero)))
            }
        });
        // Deny if a deny fired, else review if a review did, else allow if an allow did, else
        // deny: the verdict classes from the weakest up.
        let order = [VERDICT_ALLOW, VERDICT_REVIEW, VERDICT_DENY];
        let mut v = self.c(VERDICT_DENY);
        for class in order {
            let on = self.c(class);
            v = self.pick(flags[class as usize], on, v);
        }
        self.store_out(v, VERDICT);
        if !self.bits.is_empty() {
            self.store_out(zero, 0);
            for w in 0..t.fired_words {
                let fired = self.bit_word(HEADER + w);
                self.store_out(fired, HEADER + w);
            }
        }
        for w in 0..t.reason_words {
            let mut x = zero;
            for class in order {
                if flags[class as usize].is_some() {
                    let r = self.bit_word(t.class_at(class) + w);
                    x = self.pick(flags[class as usize], r, x);
                }
            }
            self.store_out(x, t.reasons_at() + w);
        }
    }

    /// The constant `n`, made once per block: every instruction costs compiling time (about
    /// ten thousand of the host's), constants included, and codegen asks for the same few
    /// (0, bit masks) again and again.
    fn c(&mut self, n: i64) -> CVal {
        let Some(block) = self.b.current_block() else {
            return self.b.ins().iconst(I64, n);
        };
        if let Some(&v) = self.consts.get(&(block, n)) {
            return v;
        }
        let v = self.b.ins().iconst(I64, n);
        self.consts.insert((block, n), v);
        v
    }

    /// The presence word of `v`: its own for an optional, the constant 1 otherwise.
    fn presence(&mut self, v: &JV) -> CVal {
        match v.present {
            Some(p) => p,
            None => self.c(1),
        }
    }

    fn bool64(&mut self, v: CVal) -> CVal {
        self.b.ins().uextend(I64, v)
    }

    fn load(&mut self, ptr: CVal, w: usize) -> CVal {
        self.b
            .ins()
            .load(I64, MemFlagsData::trusted(), ptr, word(w))
    }

    /// At the back-edge of a loop over data of the input (a list's elements, the zone pairs),
    /// when the loop is nested in another one (`loops > 0`): loads the run's cancel flag
    /// (`HostCtx::cancel`) and, if it is set, leaves the run at once with [`CANCELLED`] in
    /// word 0 (the rest of the output is then meaningless). One loop alone is bounded by the
    /// input's size and checks nothing: such code is what it was without cancelling. Only a
    /// policy's function checks (`stop_checks` is `None` in a decision's).
    fn stop_check(&mut self) {
        let Some(n) = self.stop_checks else {
            return;
        };
        if self.loops == 0 {
            return;
        }
        self.stop_checks = Some(n + 1);
        // The context does not change during a run: its word may be loaded once, before the
        // loop. The flag itself is loaded atomically on every pass, so that no optimisation
        // takes it for a value already known: another thread sets it.
        let at = self.b.ins().load(
            I64,
            MemFlagsData::trusted().with_readonly().with_can_move(),
            self.ctx,
            CTX_CANCEL,
        );
        let flag = self.b.ins().atomic_load(I8, MemFlagsData::trusted(), at);
        let stop = self.b.create_block();
        let go = self.b.create_block();
        self.b.set_cold_block(stop);
        self.b.ins().brif(flag, stop, &[], go, &[]);
        self.b.switch_to_block(stop);
        let mark = self.c(CANCELLED as i64);
        self.b
            .ins()
            .store(MemFlagsData::trusted(), mark, self.out, 0);
        self.b.ins().return_(&[]);
        self.b.switch_to_block(go);
    }

    /// Stops with an error if `cond` is non-zero.
    fn check(&mut self, cond: CVal, site: Site, x: CVal, y: CVal) {
        self.check_wide(cond, site, x, y, &[]);
    }

    /// [`Self::check`], also copying the decimals at the addresses `wide` (two words each) to
    /// the output's wide words for the message.
    fn check_wide(&mut self, cond: CVal, site: Site, x: CVal, y: CVal, wide: &[CVal]) {
        let err = self.b.create_block();
        let ok = self.b.create_block();
        self.b.set_cold_block(err);
        self.b.ins().brif(cond, err, &[], ok, &[]);
        self.b.switch_to_block(err);
        let site_ix = self.sites.len();
        self.sites.push(site);
        let rule = self.c(self.rule as i64 + 1);
        let s = self.c(site_ix as i64);
        let f = MemFlagsData::trusted();
        let out = self.out;
        self.b.ins().store(f, rule, out, 0);
        self.b.ins().store(f, s, out, 8);
        self.b.ins().store(f, x, out, 16);
        self.b.ins().store(f, y, out, 24);
        for (k, &at) in wide.iter().enumerate() {
            for w in 0..2 {
                let v = self.load(at, w);
                self.b.ins().store(f, v, out, word(WIDE + 2 * k + w));
            }
        }
        if !self.bits.is_empty() {
            // The rules fired before the error are part of the failed decision; its reasons
            // read as none, as when the bits live in memory.
            self.flush_bits();
            let zero = self.c(0);
            for w in 0..self.tables.reason_words {
                self.store_out(zero, self.tables.reasons_at() + w);
            }
        }
        match self.on_error {
            Some(blk) => {
                self.b.ins().jump(blk, &[]);
            }
            None => {
                self.b.ins().return_(&[]);
            }
        }
        self.b.switch_to_block(ok);
    }

    fn check_msg(&mut self, cond: CVal, msg: String) {
        let z = self.c(0);
        self.check(cond, Site::Msg(msg), z, z);
    }

    /// Fails with `msg` if `v` may be absent.
    fn require_present(&mut self, v: &JV, msg: &str) {
        if let Some(p) = v.present {
            let absent = self.b.ins().icmp_imm_s(IntCC::Equal, p, 0);
            self.check_msg(absent, msg.to_string());
        }
    }

    fn as_bool(&mut self, v: JV, what: &str) -> Result<CVal, String> {
        if v.base != Base::Bool {
            return Err(format!("{what} is not statically a Bool"));
        }
        self.require_present(&v, &format!("{what} is absent, not a Bool"));
        Ok(v.val)
    }

    fn absent(&mut self) -> JV {
        let z = self.c(0);
        JV {
            base: Base::Absent,
            present: Some(z),
            val: z,
        }
    }

    /// A value of IR type `ty` at word `off` from `ptr`.
    fn load_typed(&mut self, ptr: CVal, off: usize, ty: &Type) -> Result<JV, String> {
        let (present, inner, off) = match ty {
            Type::Optional(inner) => (Some(self.load(ptr, off)), &**inner, off + 1),
            t => (None, t, off),
        };
        let base = match inner {
            Type::List(elem) | Type::Set(elem) => {
                let elem = (**elem).clone();
                Base::List(self.list_type(&elem)?)
            }
            t => base_of(t)?,
        };
        let val = match base {
            // At offset 0, the address itself: no instructions for Cranelift to fold away.
            Base::Record(_) | Base::List(_) | Base::Decimal | Base::Money if off == 0 => ptr,
            Base::Record(_) | Base::List(_) | Base::Decimal | Base::Money => {
                self.b.ins().iadd_imm_u(ptr, word(off) as i64)
            }
            _ => self.load(ptr, off),
        };
        Ok(JV { base, present, val })
    }

    /// The kind and word of a scalar constant (strings interned).
    fn const_word(&mut self, v: &Value) -> Option<(Base, i64)> {
        Some(match v {
            Value::Bool(b) => (Base::Bool, i64::from(*b)),
            Value::Int(n) => (Base::Int, *n),
            Value::Duration(n) => (Base::Duration, *n),
            Value::Time(n) => (Base::Time, *n),
            Value::Enum(e, x) => (Base::Enum(*e), i64::from(*x)),
            Value::Symbol(s) => (Base::Symbol, i64::from(*s)),
            Value::Text(s) => (Base::Text, self.intern(s)),
            Value::Id(s) => (Base::Id, self.intern(s)),
            Value::Tz(s) => {
                let id = self.intern(s);
                if !self.tz_consts.contains(&id) {
                    self.tz_consts.push(id);
                }
                (Base::Tz, id)
            }
            _ => return None,
        })
    }

    fn konst(&mut self, v: &Value) -> Result<JV, String> {
        if *v == Value::Absent {
            return Ok(self.absent());
        }
        let (base, data) = match v {
            Value::Decimal(d) => (Base::Decimal, dec_words(d).to_vec()),
            Value::Money(d, c) => {
                let [w0, w1] = dec_words(d);
                (Base::Money, vec![w0, w1, self.intern(c)])
            }
            _ => (Base::Absent, Vec::new()),
        };
        if base != Base::Absent {
            let data: Box<[i64]> = data.into_boxed_slice();
            // The code reads the constant at this address: kept with the code, never moved
            // (as the rule tables, see `table_run`).
            let val = self.c(data.as_ptr() as i64);
            self.data.push(data);
            return Ok(JV {
                base,
                present: None,
                val,
            });
        }
        let (base, n) = self
            .const_word(v)
            .ok_or_else(|| format!("uses a constant {}", v.kind()))?;
        let val = self.c(n);
        Ok(JV {
            base,
            present: None,
            val,
        })
    }

    fn intern(&mut self, s: &str) -> i64 {
        if let Some(&id) = self.strings.get(s) {
            return id;
        }
        let n = self.strings.len() as i64;
        self.strings.insert(s.to_string(), n);
        n
    }

    fn expr(&mut self, e: &Expr, depth: u32) -> Result<JV, String> {
        if depth >= MAX_JIT_DEPTH {
            return Err("an expression nested too deeply".into());
        }
        let d = depth + 1;
        match e {
            Expr::Const(Value::List(vs)) => {
                // As a literal of its elements (already in the order of the value).
                let es: Vec<Expr> = vs.iter().cloned().map(Expr::Const).collect();
                self.list_value(&es, d)
            }
            Expr::Const(v) => self.konst(v),
            Expr::Slot(s) => self.slot(*s),
            Expr::Field(r, i) => {
                let r = self.expr(r, d)?;
                self.field(r, *i)
            }
            Expr::Not(x) => {
                let v = self.expr(x, d)?;
                let v = self.as_bool(v, "the operand of `not`")?;
                let val = self.b.ins().bxor_imm_u(v, 1);
                Ok(JV {
                    base: Base::Bool,
                    present: None,
                    val,
                })
            }
            Expr::Neg(x) => {
                let v = self.expr(x, d)?;
                self.neg(v)
            }
            Expr::And(a, b) => self.and_or(false, a, b, d),
            Expr::Or(a, b) => self.and_or(true, a, b, d),
            Expr::Cmp(op @ (CmpOp::Eq | CmpOp::Ne), a, b)
                if is_list_literal(a) || is_list_literal(b) =>
            {
                let eq = self.literal_eq(a, b, d)?;
                let val = if *op == CmpOp::Eq {
                    eq
                } else {
                    self.b.ins().bxor_imm_u(eq, 1)
                };
                Ok(JV {
                    base: Base::Bool,
                    present: None,
                    val,
                })
            }
            Expr::Cmp(op, a, b) => {
                if let (Expr::Const(Value::Text(x)), Expr::Const(Value::Text(y))) = (&**a, &**b) {
                    // Two constant texts: their order is known now (the interpreter's `cmp`).
                    let o = x.cmp(y);
                    let holds = match op {
                        CmpOp::Eq => o.is_eq(),
                        CmpOp::Ne => o.is_ne(),
                        CmpOp::Lt => o.is_lt(),
                        CmpOp::Le => o.is_le(),
                        CmpOp::Gt => o.is_gt(),
                        CmpOp::Ge => o.is_ge(),
                    };
                    let val = self.c(i64::from(holds));
                    return Ok(JV {
                        base: Base::Bool,
                        present: None,
                        val,
                    });
                }
                let a = self.expr(a, d)?;
                let b = self.expr(b, d)?;
                let val = self.cmp(*op, a, b)?;
                Ok(JV {
                    base: Base::Bool,
                    present: None,
                    val,
                })
            }
            Expr::Arith(op, a, b) => {
                let a = self.expr(a, d)?;
                let b = self.expr(b, d)?;
                self.arith(*op, a, b)
            }
            Expr::In(x, xs) => self.member(x, xs, d),
            Expr::InRange {
                value,
                lo,
                hi,
                inclusive,
            } => {
                let (lo_e, hi_e) = (&**lo, &**hi);
                let v = self.expr(value, d)?;
                let lo = self.expr(lo, d)?;
                let hi = self.expr(hi, d)?;
                if [v.base, lo.base, hi.base]
                    .iter()
                    .any(|b| matches!(b, Base::Decimal | Base::Money))
                {
                    // `lo <= v`, then `v < hi` (or `<=`), as the interpreter orders them.
                    let o1 = self.dec_order(lo, v)?;
                    let o2 = self.dec_order(v, hi)?;
                    let above = self.b.ins().icmp_imm_s(IntCC::SignedLessThanOrEqual, o1, 0);
                    let cc = if *inclusive {
                        IntCC::SignedLessThanOrEqual
                    } else {
                        IntCC::SignedLessThan
                    };
                    let below = self.b.ins().icmp_imm_s(cc, o2, 0);
                    let both = self.b.ins().band(above, below);
                    let val = self.bool64(both);
                    return Ok(JV {
                        base: Base::Bool,
                        present: None,
                        val,
                    });
                }
                self.ordered(&[v, lo, hi])?;
                if let Some(val) = self.const_range(v, lo_e, hi_e, *inclusive) {
                    return Ok(JV {
                        base: Base::Bool,
                        present: None,
                        val,
                    });
                }
                let cc = if *inclusive {
                    IntCC::SignedLessThanOrEqual
                } else {
                    IntCC::SignedLessThan
                };
                let (above, below) = if v.base == Base::Text {
                    // `lo <= v`, then `v < hi` (or `<=`), by the texts' order.
                    let o1 = self.text_order(lo.val, v.val);
                    let o2 = self.text_order(v.val, hi.val);
                    (
                        self.b.ins().icmp_imm_s(IntCC::SignedLessThanOrEqual, o1, 0),
                        self.b.ins().icmp_imm_s(cc, o2, 0),
                    )
                } else {
                    (
                        self.b
                            .ins()
                            .icmp(IntCC::SignedLessThanOrEqual, lo.val, v.val),
                        self.b.ins().icmp(cc, v.val, hi.val),
                    )
                };
                let both = self.b.ins().band(above, below);
                let val = self.bool64(both);
                Ok(JV {
                    base: Base::Bool,
                    present: None,
                    val,
                })
            }
            Expr::IsPresent(x) => {
                let v = self.expr(x, d)?;
                let val = match v.present {
                    Some(p) => p,
                    None => self.c(1),
                };
                Ok(JV {
                    base: Base::Bool,
                    present: None,
                    val,
                })
            }
            Expr::Default(a, b) => self.default(a, b, d),
            Expr::If(c, a, b) => {
                let c = self.expr(c, d)?;
                let c = self.as_bool(c, "the condition of `if`")?;
                let then = self.b.create_block();
                let els = self.b.create_block();
                self.b.ins().brif(c, then, &[], els, &[]);
                self.b.switch_to_block(then);
                let a = self.expr(a, d)?;
                let a_end = self.b.create_block();
                self.b.ins().jump(a_end, &[]);
                self.b.switch_to_block(els);
                let b = self.expr(b, d)?;
                let b_end = self.b.create_block();
                self.b.ins().jump(b_end, &[]);
                self.merge(a_end, a, b_end, b)
            }
            Expr::List(es) => self.list_value(es, d),
            Expr::Set(es) if !es.iter().all(|e| matches!(e, Expr::Const(_))) => {
                self.literal_value(es, true, d)
            }
            Expr::Set(es) => {
                // Sorted and unique now, as the interpreter builds sets; computed elements
                // would need sorting at run time.
                let mut vs: Vec<&Expr> = es.iter().collect();
                vs.sort_by(|a, b| match (a, b) {
                    (Expr::Const(x), Expr::Const(y)) => x.cmp(y),
                    _ => std::cmp::Ordering::Equal,
                });
                vs.dedup_by(|a, b| a == b);
                let es: Vec<Expr> = vs.into_iter().cloned().collect();
                self.list_value(&es, d)
            }
            Expr::Record(..) => Err("builds a record".into()),
            Expr::Quantify {
                quantifier,
                list,
                slot,
                body,
            } => self.quantify(*quantifier, list, *slot, body.as_deref(), d),
            Expr::Intrinsic(which, args) => self.intrinsic(*which, args, d),
            Expr::Signal(i, args) => self.signal(*i, args, d),
        }
    }

    /// Joins two values computed in (unfilled, still empty) blocks `a_end` and `b_end`.
    fn merge(&mut self, a_end: Block, a: JV, b_end: Block, b: JV) -> Result<JV, String> {
        let base = if a.base == b.base {
            a.base
        } else if a.base == Base::Absent {
            b.base
        } else if b.base == Base::Absent {
            a.base
        } else if a.base == Base::List(EMPTY_LIST) && matches!(b.base, Base::List(_)) {
            // An empty literal's header reads as an empty list of any type.
            b.base
        } else if b.base == Base::List(EMPTY_LIST) && matches!(a.base, Base::List(_)) {
            a.base
        } else if matches!((a.base, b.base), (Base::List(_), Base::List(_))) {
            // Their elements are laid out differently: one list value cannot hold both.
            return Err("uses a list or set value (joins lists of different element types)".into());
        } else {
            return Err(format!(
                "joins values of different kinds ({} and {})",
                a.base.kind(),
                b.base.kind()
            ));
        };
        let opt = a.present.is_some() || b.present.is_some();
        let join = self.b.create_block();
        let present = opt.then(|| self.b.append_block_param(join, I64));
        let val = self.b.append_block_param(join, I64);
        for (blk, v) in [(a_end, a), (b_end, b)] {
            self.b.switch_to_block(blk);
            let mut args = Vec::with_capacity(2);
            if opt {
                let p = match v.present {
                    Some(p) => p,
                    None => self.c(1),
                };
                args.push(BlockArg::Value(p));
            }
            args.push(BlockArg::Value(v.val));
            self.b.ins().jump(join, &args);
        }
        self.b.switch_to_block(join);
        Ok(JV { base, present, val })
    }

    fn default(&mut self, a: &Expr, b: &Expr, d: u32) -> Result<JV, String> {
        let av = self.expr(a, d)?;
        let Some(pa) = av.present else {
            return Ok(av);
        };
        if av.base == Base::Absent {
            return self.expr(b, d);
        }
        let yes = self.b.create_block();
        let no = self.b.create_block();
        self.b.ins().brif(pa, yes, &[], no, &[]);
        self.b.switch_to_block(no);
        let bv = match (av.base, b) {
            // `xs ?? []`: the literal takes the list's type (it has none of its own). A left
            // side that is only ever an empty list has no element type either: the right side
            // is then compiled as it is, and the join takes its type.
            (Base::List(t), Expr::List(es) | Expr::Set(es))
                if t != EMPTY_LIST && es.iter().all(|e| matches!(e, Expr::Const(_))) =>
            {
                let mut vals: Vec<&Value> = es
                    .iter()
                    .filter_map(|e| match e {
                        Expr::Const(v) => Some(v),
                        _ => None,
                    })
                    .collect();
                if matches!(b, Expr::Set(_)) {
                    // The interpreter's canonical set: sorted by value, unique.
                    vals.sort();
                    vals.dedup();
                }
                self.const_list(t, &vals)?
            }
            (Base::List(t), Expr::Const(Value::List(vs))) if t != EMPTY_LIST => {
                let vals: Vec<&Value> = vs.iter().collect();
                self.const_list(t, &vals)?
            }
            _ => self.expr(b, d)?,
        };
        let b_end = self.b.create_block();
        self.b.ins().jump(b_end, &[]);
        self.b.switch_to_block(yes);
        let a_end = self.b.create_block();
        self.b.ins().jump(a_end, &[]);
        let present_a = JV {
            present: None,
            ..av
        };
        self.merge(a_end, present_a, b_end, bv)
    }

    /// A list literal as a list value: its elements evaluated in order, then laid out in a
    /// stack slot in the input layout of their type (a presence word each when one may be
    /// absent), after a header (start, length) whose start is counted in words from the input
    /// as for every list (see `Flat::lists`), so the code reading lists reads it as it reads
    /// those of the input. The slot lives as long as the function's frame, like the code
    /// reading it.
    fn list_value(&mut self, es: &[Expr], d: u32) -> Result<JV, String> {
        self.literal_value(es, false, d)
    }

    /// A list literal (`set` false) or a set literal as a list value: see
    /// [`Self::list_value`]; a set's elements are then sorted and deduplicated into a second
    /// slot as the interpreter builds sets (stable: of equal elements the first is kept), for
    /// at most [`SET_SORT_MAX`] elements.
    fn literal_value(&mut self, es: &[Expr], set: bool, d: u32) -> Result<JV, String> {
        if set && es.len() > SET_SORT_MAX {
            return Err(format!(
                "uses a list or set value (a set of more than {SET_SORT_MAX} computed elements)"
            ));
        }
        let mut vs = Vec::with_capacity(es.len());
        for e in es {
            vs.push(self.expr(e, d + 1)?);
        }
        // The elements' type: one kind for all (absent ones aside), optional if one may be
        // absent. An empty literal reads no element: any type does.
        let mut kind: Option<Type> = None;
        let mut optional = false;
        for (e, v) in es.iter().zip(&vs) {
            optional |= v.present.is_some() || v.base == Base::Absent;
            if v.base == Base::Absent {
                continue;
            }
            let t = self
                .type_of(e, v)
                .ok_or("uses a list or set value (elements of an unknown type)")?;
            match &kind {
                None => kind = Some(t),
                Some(k) if *k == t => {}
                Some(_) => {
                    return Err("uses a list or set value (elements of several kinds)".into());
                }
            }
        }
        let elem = match kind {
            None if !vs.is_empty() => {
                return Err("uses a list or set value (of absent values)".into());
            }
            None => Type::Int,
            Some(t) if optional => Type::Optional(Box::new(t)),
            Some(t) => t,
        };
        let t = if vs.is_empty() {
            EMPTY_LIST
        } else {
            self.list_type(&elem)?
        };
        let sz = size(self.program, &elem, 0)?;
        let slot = self.scratch(2 + sz * vs.len());
        let f = MemFlagsData::trusted();
        let zero = self.c(0);
        for (i, v) in vs.iter().enumerate() {
            let mut at = word(2 + i * sz);
            let inner = match &elem {
                Type::Optional(inner) => {
                    let p = self.presence(v);
                    self.b.ins().store(f, p, slot, at);
                    at += 8;
                    &**inner
                }
                t => t,
            };
            let n = size(self.program, inner, 0)?;
            if v.base == Base::Absent {
                for w in 0..n {
                    self.b.ins().store(f, zero, slot, at + word(w));
                }
                continue;
            }
            if !matches!(
                v.base,
                Base::Decimal | Base::Money | Base::Record(_) | Base::List(_)
            ) {
                self.b.ins().store(f, v.val, slot, at);
                continue;
            }
            // The value is the address of its words: copy them, only when present (an absent
            // one may have no address); absent, its words stay zero.
            let (copy, done) = (self.b.create_block(), self.b.create_block());
            for w in 0..n {
                self.b.ins().store(f, zero, slot, at + word(w));
            }
            let p = self.presence(v);
            self.b.ins().brif(p, copy, &[], done, &[]);
            self.b.switch_to_block(copy);
            for w in 0..n {
                let x = self.load(v.val, w);
                self.b.ins().store(f, x, slot, at + word(w));
            }
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
        }
        let elems = self.b.ins().iadd_imm_s(slot, 16);
        // Both the slot and the input are arrays of words: the distance is whole words.
        let bytes = self.b.ins().isub(elems, self.input);
        let start = self.b.ins().sshr_imm_u(bytes, 3);
        let n = self.c(vs.len() as i64);
        self.b.ins().store(f, start, slot, 0);
        self.b.ins().store(f, n, slot, 8);
        let slot = if set && vs.len() > 1 {
            self.canonical_set(elems, vs.len(), &elem)?
        } else {
            slot
        };
        Ok(JV {
            base: Base::List(t),
            present: None,
            val: slot,
        })
    }

    /// The `k` elements of type `elem` laid out from address `elems` (absent ones as zero
    /// words, so every address in them is readable), sorted by value and without repeats into
    /// a new stack slot behind its header: its address. Element `i` goes to the place given
    /// by how many distinct elements are smaller, unless an earlier element equals it: no
    /// swaps, `k (k - 1)` comparisons unrolled (`k` is at most [`SET_SORT_MAX`]).
    fn canonical_set(&mut self, elems: CVal, k: usize, elem: &Type) -> Result<CVal, String> {
        let sz = size(self.program, elem, 0)?;
        let mut es = Vec::with_capacity(k);
        for i in 0..k {
            es.push(self.load_typed(elems, i * sz, elem)?);
        }
        // order[j][i]: the order of element j and element i (j != i).
        let mut order = vec![vec![None; k]; k];
        for j in 0..k {
            for i in 0..k {
                if i != j {
                    order[j][i] = Some(self.value_order(es[j], es[i], 0)?);
                }
            }
        }
        let mut dup = Vec::with_capacity(k);
        for i in 0..k {
            let mut any = self.c(0);
            for row in order.iter().take(i) {
                if let Some(o) = row[i] {
                    let e = self.b.ins().icmp_imm_s(IntCC::Equal, o, 0);
                    let e = self.bool64(e);
                    any = self.b.ins().bor(any, e);
                }
            }
            dup.push(any);
        }
        let out = self.scratch(2 + sz * k);
        let out_elems = self.b.ins().iadd_imm_s(out, 16);
        let f = MemFlagsData::trusted();
        let mut n = self.c(0);
        for i in 0..k {
            let mut pos = self.c(0);
            for (j, row) in order.iter().enumerate() {
                if let Some(o) = row[i] {
                    let lt = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, o, 0);
                    let lt = self.bool64(lt);
                    let kept = self.b.ins().bxor_imm_u(dup[j], 1);
                    let smaller = self.b.ins().band(lt, kept);
                    pos = self.b.ins().iadd(pos, smaller);
                }
            }
            let kept = self.b.ins().bxor_imm_u(dup[i], 1);
            n = self.b.ins().iadd(n, kept);
            let (copy, next) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(dup[i], next, &[], copy, &[]);
            self.b.switch_to_block(copy);
            let off = self.b.ins().imul_imm_s(pos, (sz * 8) as i64);
            let to = self.b.ins().iadd(out_elems, off);
            let from = self.b.ins().iadd_imm_s(elems, (i * sz * 8) as i64);
            for w in 0..sz {
                let x = self.load(from, w);
                self.b.ins().store(f, x, to, word(w));
            }
            self.b.ins().jump(next, &[]);
            self.b.switch_to_block(next);
        }
        // Both the slot and the input are arrays of words: the distance is whole words.
        let bytes = self.b.ins().isub(out_elems, self.input);
        let start = self.b.ins().sshr_imm_u(bytes, 3);
        self.b.ins().store(f, start, out, 0);
        self.b.ins().store(f, n, out, 8);
        Ok(out)
    }

    /// The IR type of value `v` of expression `e` (without its optional), as far as the code
    /// knows it: from its kind, and for a symbol from its declaration or constant.
    fn type_of(&self, e: &Expr, v: &JV) -> Option<Type> {
        Some(match v.base {
            Base::Bool => Type::Bool,
            Base::Int => Type::Int,
            Base::Duration => Type::Duration,
            Base::Time => Type::Time,
            Base::Text => Type::Text,
            Base::Id => Type::Id,
            Base::Tz => Type::Tz,
            Base::Decimal => Type::Decimal,
            Base::Money => Type::Money,
            Base::Enum(e) => Type::Enum(e),
            Base::Record(r) => Type::Record(r),
            Base::List(t) => match e {
                Expr::Set(_) => Type::Set(Box::new(self.list_tys.get(t as usize)?.clone())),
                _ => match self.decl_type(e, 0) {
                    Some(Type::Optional(t)) => *t,
                    Some(t @ (Type::List(_) | Type::Set(_))) => t,
                    _ => Type::List(Box::new(self.list_tys.get(t as usize)?.clone())),
                },
            },
            Base::Symbol => match e {
                Expr::Const(Value::Symbol(s)) => {
                    Type::Symbol(self.program.symbols.get(*s as usize)?.kind)
                }
                _ => match self.decl_type(e, 0)? {
                    Type::Optional(t) => *t,
                    t => t,
                },
            },
            Base::Absent => return None,
        })
    }

    /// The index in `list_tys` of element type `elem` (added if new).
    fn list_type(&mut self, elem: &Type) -> Result<u32, String> {
        // Not the empty literal's own entry (`EMPTY_LIST`).
        let found = self.list_tys.iter().skip(1).position(|t| t == elem);
        let t = match found.map(|t| t + 1) {
            Some(t) => t,
            None => {
                self.list_tys.push(elem.clone());
                self.list_tys.len() - 1
            }
        };
        u32::try_from(t).map_err(|_| "too many list types".into())
    }

    /// The list of constants `vals` as a list value of element type `list_tys[t]`. Its
    /// elements are laid out at compile time in data kept with the code; its header (start,
    /// length) is on the stack, its start counted in words from the input as for every list
    /// (see `Flat::lists`), so the code reading lists reads it as it reads those of the input.
    fn const_list(&mut self, t: u32, vals: &[&Value]) -> Result<JV, String> {
        let elem = self
            .list_tys
            .get(t as usize)
            .cloned()
            .ok_or("uses an unknown list type")?;
        let mut words = Vec::new();
        for v in vals {
            self.const_layout(&elem, v, &mut words)?;
        }
        let header = self.scratch(2);
        let start = if words.is_empty() {
            // No element is ever read.
            self.c(0)
        } else {
            let data: Box<[i64]> = words.into_boxed_slice();
            // Kept with the code, never moved (as the rule tables, see `table_run`); both it
            // and the input are arrays of words, so the distance is a whole number of words.
            let at = self.c(data.as_ptr() as i64);
            self.data.push(data);
            let bytes = self.b.ins().isub(at, self.input);
            self.b.ins().sshr_imm_u(bytes, 3)
        };
        let n = self.c(vals.len() as i64);
        let f = MemFlagsData::trusted();
        self.b.ins().store(f, start, header, 0);
        self.b.ins().store(f, n, header, 8);
        Ok(JV {
            base: Base::List(t),
            present: None,
            val: header,
        })
    }

    /// Appends the words of constant `v` laid out as type `ty` (the input layout), or refuses
    /// a constant of another kind than `ty` or of a kind not laid out at compile time.
    fn const_layout(&mut self, ty: &Type, v: &Value, out: &mut Vec<i64>) -> Result<(), String> {
        let wrong = || format!("uses a constant {} in a list of another type", v.kind());
        match (ty, v) {
            (Type::Optional(inner), Value::Absent) => {
                out.push(0);
                let n = size(self.program, inner, 0)?;
                out.extend(std::iter::repeat_n(0, n));
            }
            (Type::Optional(inner), v) => {
                out.push(1);
                self.const_layout(inner, v, out)?;
            }
            (Type::Decimal, Value::Decimal(d)) => out.extend(dec_words(d)),
            (Type::Money, Value::Money(d, c)) => {
                out.extend(dec_words(d));
                let id = self.intern(c);
                out.push(id);
            }
            (Type::Record(_) | Type::List(_) | Type::Set(_), _) => {
                return Err("uses a constant list of records or lists".into());
            }
            (ty, v) => {
                let (base, w) = self.const_word(v).ok_or_else(wrong)?;
                if base_of(ty)? != base {
                    return Err(wrong());
                }
                out.push(w);
            }
        }
        Ok(())
    }

    fn slot(&mut self, s: u32) -> Result<JV, String> {
        if let Some((_, v)) = self.lambdas.iter().rev().find(|(l, _)| *l == s) {
            return Ok(*v);
        }
        if self.frame.now_slot == Some(s) {
            return Ok(JV {
                base: Base::Time,
                present: None,
                val: self.now,
            });
        }
        let i = s as usize;
        if let Some(p) = self.frame.params.get(i) {
            if let Some(args) = &self.frame.args {
                return args
                    .get(i)
                    .copied()
                    .ok_or_else(|| "misses an argument".to_string());
            }
            let off = self.frame.offsets[i];
            let ty = p.ty.clone();
            return self.load_typed(self.input, off, &ty);
        }
        if s < self.frame.slots {
            return Ok(self.absent());
        }
        Err(format!("reads slot {s}, out of the frame"))
    }

    fn field(&mut self, r: JV, i: u32) -> Result<JV, String> {
        let Base::Record(rt) = r.base else {
            return Err(format!("reads a field of {}", r.base.kind()));
        };
        let program = self.program;
        let rt = program
            .records
            .get(rt as usize)
            .ok_or("reads a record type not in the program")?;
        let f = rt
            .fields
            .get(i as usize)
            .ok_or("reads a field a record does not have")?;
        self.require_present(&r, &format!("reading field #{i} of an absent value"));
        let mut off = 0;
        for g in &rt.fields[..i as usize] {
            off += size(program, &g.ty, 1)?;
        }
        self.load_typed(r.val, off, &f.ty)
    }

    fn and_or(&mut self, is_or: bool, a: &Expr, b: &Expr, d: u32) -> Result<JV, String> {
        let (left, right) = if is_or {
            ("the left operand of `or`", "the right operand of `or`")
        } else {
            ("the left operand of `and`", "the right operand of `and`")
        };
        let av = self.expr(a, d)?;
        let av = self.as_bool(av, left)?;
        let join = self.b.create_block();
        let val = self.b.append_block_param(join, I64);
        let rhs = self.b.create_block();
        let short = BlockArg::Value(av);
        if is_or {
            self.b.ins().brif(av, join, &[short], rhs, &[]);
        } else {
            self.b.ins().brif(av, rhs, &[], join, &[short]);
        }
        self.b.switch_to_block(rhs);
        let bv = self.expr(b, d)?;
        let bv = self.as_bool(bv, right)?;
        self.b.ins().jump(join, &[BlockArg::Value(bv)]);
        self.b.switch_to_block(join);
        Ok(JV {
            base: Base::Bool,
            present: None,
            val,
        })
    }

    /// Checks that the values are of one ordered kind; fails the decision if one is absent.
    fn ordered(&mut self, vs: &[JV]) -> Result<(), String> {
        let orderable = |b: Base| matches!(b, Base::Int | Base::Duration | Base::Time | Base::Text);
        if vs.iter().any(|v| v.base == Base::Absent)
            && vs
                .iter()
                .all(|v| v.base == Base::Absent || orderable(v.base))
        {
            // Always absent: the interpreter fails whatever the other operands are.
            let one = self.c(1);
            self.check_msg(one, "comparing an absent value".into());
            return Ok(());
        }
        let base = vs[0].base;
        if !orderable(base) || vs.iter().any(|v| v.base != base) {
            let kinds: Vec<&str> = vs.iter().map(|v| v.base.kind()).collect();
            return Err(format!("orders {}", kinds.join(" and ")));
        }
        let mut all: Option<CVal> = None;
        for v in vs {
            if let Some(p) = v.present {
                all = Some(match all {
                    None => p,
                    Some(q) => self.b.ins().band(p, q),
                });
            }
        }
        if let Some(all) = all {
            let absent = self.b.ins().icmp_imm_s(IntCC::Equal, all, 0);
            self.check_msg(absent, "comparing an absent value".into());
        }
        Ok(())
    }

    /// `v in lo..hi` (or `..=`) with constant bounds on a kind ordered as signed words, as
    /// one unsigned comparison, `v - lo < hi - lo` (wrapping), 0/1; `None` for other bounds.
    /// (`v`'s presence is checked already.)
    fn const_range(&mut self, v: JV, lo: &Expr, hi: &Expr, inclusive: bool) -> Option<CVal> {
        let (Expr::Const(lo), Expr::Const(hi)) = (lo, hi) else {
            return None;
        };
        let (Some((lb, lo)), Some((hb, hi))) = (self.const_word(lo), self.const_word(hi)) else {
            return None;
        };
        if lb != v.base
            || hb != v.base
            || !matches!(v.base, Base::Int | Base::Duration | Base::Time)
        {
            return None;
        }
        let end = i128::from(hi) + i128::from(inclusive);
        let width = end - i128::from(lo);
        Some(if width <= 0 {
            self.c(0)
        } else if let Ok(width) = u64::try_from(width) {
            let off = self.b.ins().iadd_imm_s(v.val, lo.wrapping_neg());
            let inside = self
                .b
                .ins()
                .icmp_imm_u(IntCC::UnsignedLessThan, off, width as i64);
            self.bool64(inside)
        } else {
            // The whole of i64: every value is inside.
            self.c(1)
        })
    }

    fn cmp(&mut self, op: CmpOp, a: JV, b: JV) -> Result<CVal, String> {
        let cc = match op {
            CmpOp::Eq => return self.eq(a, b, 0),
            CmpOp::Ne => {
                let e = self.eq(a, b, 0)?;
                return Ok(self.b.ins().bxor_imm_u(e, 1));
            }
            CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => int_cc(op),
        };
        if [a.base, b.base]
            .iter()
            .any(|b| matches!(b, Base::Decimal | Base::Money))
        {
            let o = self.dec_order(a, b)?;
            let r = self.b.ins().icmp_imm_s(cc, o, 0);
            return Ok(self.bool64(r));
        }
        self.ordered(&[a, b])?;
        if a.base == Base::Text && b.base == Base::Text {
            let o = self.text_order(a.val, b.val);
            let r = self.b.ins().icmp_imm_s(cc, o, 0);
            return Ok(self.bool64(r));
        }
        let r = self.b.ins().icmp(cc, a.val, b.val);
        Ok(self.bool64(r))
    }

    /// The order (-1, 0, 1) of the texts of string ids `x` and `y`: equal ids are equal texts
    /// (see [`Texts`]) inline, else the host compares the texts.
    fn text_order(&mut self, x: CVal, y: CVal) -> CVal {
        let same = self.b.ins().icmp(IntCC::Equal, x, y);
        let slow = self.b.create_block();
        let join = self.b.create_block();
        let r = self.b.append_block_param(join, I64);
        let zero = self.c(0);
        self.b
            .ins()
            .brif(same, join, &[BlockArg::Value(zero)], slow, &[]);
        self.b.switch_to_block(slow);
        let call = self.b.ins().call(self.text_cmp, &[self.ctx, x, y]);
        let o = self.b.inst_results(call)[0];
        self.b.ins().jump(join, &[BlockArg::Value(o)]);
        self.b.switch_to_block(join);
        r
    }

    /// Structural equality (0/1), as the interpreter's `==` on values.
    fn eq(&mut self, a: JV, b: JV, depth: u32) -> Result<CVal, String> {
        if depth > MAX_RECORD_DEPTH {
            return Err("compares records nested too deeply".into());
        }
        // Two lists are of one kind whatever their element types: `[] == []` holds, and the
        // elements decide the rest (see `list_eq`).
        let both_lists = matches!((a.base, b.base), (Base::List(_), Base::List(_)));
        let same = both_lists || (a.base == b.base && a.base != Base::Absent);
        if a.present.is_none() && b.present.is_none() {
            return if same {
                self.payload_eq2(a.base, a.val, b.base, b.val, depth)
            } else {
                Ok(self.c(0))
            };
        }
        let (pa, pb) = (self.presence(&a), self.presence(&b));
        let any = self.b.ins().bor(pa, pb);
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, any, 0);
        let both_absent = self.bool64(none);
        if !same {
            return Ok(both_absent);
        }
        let both = self.b.ins().band(pa, pb);
        let peq = if matches!(
            a.base,
            Base::Record(_) | Base::Decimal | Base::Money | Base::List(_)
        ) {
            // An absent record (or decimal, money, list) may have no address, or no elements
            // where its header points: compare the words only when both are present.
            let cmp_blk = self.b.create_block();
            let join = self.b.create_block();
            let joined = self.b.append_block_param(join, I64);
            let zero = self.c(0);
            self.b
                .ins()
                .brif(both, cmp_blk, &[], join, &[BlockArg::Value(zero)]);
            self.b.switch_to_block(cmp_blk);
            let e = self.payload_eq2(a.base, a.val, b.base, b.val, depth)?;
            self.b.ins().jump(join, &[BlockArg::Value(e)]);
            self.b.switch_to_block(join);
            joined
        } else {
            let e = self.payload_eq(a.base, a.val, b.val, depth)?;
            self.b.ins().band(e, both)
        };
        Ok(self.b.ins().bor(peq, both_absent))
    }

    /// [`Self::payload_eq`] of two present values of one kind, where two lists are of one
    /// kind whatever their element types (`bx` is `y`'s kind).
    fn payload_eq2(
        &mut self,
        base: Base,
        x: CVal,
        bx: Base,
        y: CVal,
        depth: u32,
    ) -> Result<CVal, String> {
        match (base, bx) {
            (Base::List(tx), Base::List(ty)) => self.list_eq(tx, x, ty, y, depth),
            _ => self.payload_eq(base, x, y, depth),
        }
    }

    /// Whether the lists whose headers are at `x` (elements of type `list_tys[tx]`) and `y`
    /// (`list_tys[ty]`) are equal (0/1), as the interpreter compares them: as many elements,
    /// equal in order (sets too: the interpreter compares them in element order, which for
    /// sets bound from JSON is their canonical order). Elements are compared with [`Self::eq`],
    /// so decimals compare as numbers (`1.0 == 1.00`) whatever their words.
    fn list_eq(&mut self, tx: u32, x: CVal, ty: u32, y: CVal, depth: u32) -> Result<CVal, String> {
        if depth > MAX_RECORD_DEPTH {
            return Err("compares lists nested too deeply".into());
        }
        let elem = |g: &Self, t: u32| {
            g.list_tys
                .get(t as usize)
                .cloned()
                .ok_or_else(|| "compares an unknown list type".to_string())
        };
        let (ex, ey) = (elem(self, tx)?, elem(self, ty)?);
        let sx = size(self.program, &ex, 0)? as i64;
        let sy = size(self.program, &ey, 0)? as i64;
        let (start_x, len_x) = (self.load(x, 0), self.load(x, 1));
        let (start_y, len_y) = (self.load(y, 0), self.load(y, 1));
        // Two addresses stepped together (as `list_walk` does), the first list's end bounding
        // both: the lengths are equal by then.
        let zero = self.c(0);
        let first_x = self.elem_addr(start_x, zero, sx);
        let first_y = self.elem_addr(start_y, zero, sy);
        let span = self.b.ins().imul_imm_s(len_x, 8 * sx);
        let end_x = self.b.ins().iadd(first_x, span);
        let head = self.b.create_block();
        let at_x = self.b.append_block_param(head, I64);
        let at_y = self.b.append_block_param(head, I64);
        let body = self.b.create_block();
        let exit = self.b.create_block();
        let result = self.b.append_block_param(exit, I64);
        let same_len = self.b.ins().icmp(IntCC::Equal, len_x, len_y);
        let (zero, one) = (self.c(0), self.c(1));
        self.b.ins().brif(
            same_len,
            head,
            &[BlockArg::Value(first_x), BlockArg::Value(first_y)],
            exit,
            &[BlockArg::Value(zero)],
        );
        self.b.switch_to_block(head);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, at_x, end_x);
        self.b
            .ins()
            .brif(more, body, &[], exit, &[BlockArg::Value(one)]);
        self.b.switch_to_block(body);
        let vx = self.load_typed(at_x, 0, &ex)?;
        let vy = self.load_typed(at_y, 0, &ey)?;
        self.loops += 1;
        let e = self.eq(vx, vy, depth + 1);
        self.loops -= 1;
        let e = e?;
        let next_x = self.b.ins().iadd_imm_s(at_x, 8 * sx);
        let next_y = self.b.ins().iadd_imm_s(at_y, 8 * sy);
        self.stop_check();
        let zero = self.c(0);
        self.b.ins().brif(
            e,
            head,
            &[BlockArg::Value(next_x), BlockArg::Value(next_y)],
            exit,
            &[BlockArg::Value(zero)],
        );
        self.b.switch_to_block(exit);
        Ok(result)
    }

    /// The address of element `i` of a list whose elements start at input word `start` and
    /// take `sz` words each (see `Flat::lists`).
    fn elem_addr(&mut self, start: CVal, i: CVal, sz: i64) -> CVal {
        let k = self.b.ins().imul_imm_s(i, sz);
        let w = self.b.ins().iadd(start, k);
        let bytes = self.b.ins().ishl_imm_u(w, 3);
        self.b.ins().iadd(self.input, bytes)
    }

    fn payload_eq(&mut self, base: Base, x: CVal, y: CVal, depth: u32) -> Result<CVal, String> {
        if matches!(base, Base::Decimal | Base::Money) {
            let e = self.dec_eq(x, y);
            if base == Base::Decimal {
                return Ok(e);
            }
            let (cx, cy) = (self.load(x, 2), self.load(y, 2));
            let same = self.b.ins().icmp(IntCC::Equal, cx, cy);
            let same = self.bool64(same);
            return Ok(self.b.ins().band(e, same));
        }
        if let Base::List(t) = base {
            return self.list_eq(t, x, t, y, depth);
        }
        let Base::Record(r) = base else {
            let e = self.b.ins().icmp(IntCC::Equal, x, y);
            return Ok(self.bool64(e));
        };
        let program = self.program;
        let rt = program
            .records
            .get(r as usize)
            .ok_or("compares a record type not in the program")?;
        let mut acc = self.c(1);
        let mut off = 0;
        for f in &rt.fields {
            let fa = self.load_typed(x, off, &f.ty)?;
            let fb = self.load_typed(y, off, &f.ty)?;
            let e = self.eq(fa, fb, depth + 1)?;
            acc = self.b.ins().band(acc, e);
            off += size(program, &f.ty, 1)?;
        }
        Ok(acc)
    }

    /// The words of the decimals at `x` and `y`.
    fn dec_loads(&mut self, x: CVal, y: CVal) -> [CVal; 4] {
        [
            self.load(x, 0),
            self.load(x, 1),
            self.load(y, 0),
            self.load(y, 1),
        ]
    }

    /// Whether the decimals at `x` and `y` are equal (0/1), as numbers (`1.50 == 1.5`): with
    /// the same flags (scale and sign) they are when their words are; with other flags the
    /// host compares them.
    fn dec_eq(&mut self, x: CVal, y: CVal) -> CVal {
        let [x0, x1, y0, y1] = self.dec_loads(x, y);
        let e0 = self.b.ins().icmp(IntCC::Equal, x0, y0);
        let e1 = self.b.ins().icmp(IntCC::Equal, x1, y1);
        let same = self.b.ins().band(e0, e1);
        let same = self.bool64(same);
        let flags = self.same_flags(x0, y0);
        let slow = self.b.create_block();
        let join = self.b.create_block();
        let r = self.b.append_block_param(join, I64);
        self.b
            .ins()
            .brif(flags, join, &[BlockArg::Value(same)], slow, &[]);
        self.b.switch_to_block(slow);
        let call = self.b.ins().call(self.dec_cmp, &[x, y]);
        let o = self.b.inst_results(call)[0];
        let e = self.b.ins().icmp_imm_s(IntCC::Equal, o, 0);
        let e = self.bool64(e);
        self.b.ins().jump(join, &[BlockArg::Value(e)]);
        self.b.switch_to_block(join);
        r
    }

    /// Whether two decimals' first words (`dec_words`) have the same flags, their low 32 bits:
    /// the same scale and sign.
    fn same_flags(&mut self, x0: CVal, y0: CVal) -> CVal {
        let d = self.b.ins().bxor(x0, y0);
        let d = self.b.ins().band_imm_u(d, 0xffff_ffff);
        self.b.ins().icmp_imm_s(IntCC::Equal, d, 0)
    }

    /// The order (-1, 0, 1) of the decimals at `x` and `y`: with the same flags (scale and
    /// sign) by their 96-bit mantissas inline, else by the host.
    fn dec_cmp_call(&mut self, x: CVal, y: CVal) -> CVal {
        let [x0, x1, y0, y1] = self.dec_loads(x, y);
        let flags = self.same_flags(x0, y0);
        let fast = self.b.create_block();
        let slow = self.b.create_block();
        let join = self.b.create_block();
        let r = self.b.append_block_param(join, I64);
        self.b.ins().brif(flags, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        // The mantissa is `lo | mid << 32 | hi << 64` (see `dec_words`): its high 32 bits are
        // the second word's high half, its low 64 bits the first word's high half then the
        // second word's low half.
        let mantissa = |g: &mut Self, w0: CVal, w1: CVal| {
            let hi = g.b.ins().ushr_imm_u(w1, 32);
            let a = g.b.ins().ushr_imm_u(w0, 32);
            let b = g.b.ins().ishl_imm_u(w1, 32);
            (hi, g.b.ins().bor(a, b))
        };
        let (xh, xl) = mantissa(self, x0, x1);
        let (yh, yl) = mantissa(self, y0, y1);
        let h_lt = self.b.ins().icmp(IntCC::UnsignedLessThan, xh, yh);
        let h_gt = self.b.ins().icmp(IntCC::UnsignedGreaterThan, xh, yh);
        let h_eq = self.b.ins().icmp(IntCC::Equal, xh, yh);
        let l_lt = self.b.ins().icmp(IntCC::UnsignedLessThan, xl, yl);
        let l_gt = self.b.ins().icmp(IntCC::UnsignedGreaterThan, xl, yl);
        let lt = self.b.ins().band(h_eq, l_lt);
        let lt = self.b.ins().bor(h_lt, lt);
        let gt = self.b.ins().band(h_eq, l_gt);
        let gt = self.b.ins().bor(h_gt, gt);
        let lt = self.bool64(lt);
        let gt = self.bool64(gt);
        let o = self.b.ins().isub(gt, lt);
        // Both negative (the sign is bit 31 of the flags): the larger mantissa is the smaller.
        let neg = self.b.ins().band_imm_u(x0, 1 << 31);
        let minus = self.b.ins().ineg(o);
        let o = self.b.ins().select(neg, minus, o);
        self.b.ins().jump(join, &[BlockArg::Value(o)]);
        self.b.switch_to_block(slow);
        let call = self.b.ins().call(self.dec_cmp, &[x, y]);
        let h = self.b.inst_results(call)[0];
        self.b.ins().jump(join, &[BlockArg::Value(h)]);
        self.b.switch_to_block(join);
        r
    }

    /// A stack slot of `words` words, for a computed decimal or money: its address.
    fn scratch(&mut self, words: usize) -> CVal {
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (words * 8) as u32,
            3,
        ));
        self.b.ins().stack_addr(I64, slot, 0)
    }

    /// The order of `a` and `b` (-1, 0, 1) when either is a Decimal or Money, as the
    /// interpreter's `order`: absent fails, then money in two currencies, then the numbers.
    fn dec_order(&mut self, a: JV, b: JV) -> Result<CVal, String> {
        let orderable = |b: Base| {
            matches!(
                b,
                Base::Int
                    | Base::Duration
                    | Base::Time
                    | Base::Decimal
                    | Base::Money
                    | Base::Absent
            )
        };
        if (a.base == Base::Absent || b.base == Base::Absent)
            && orderable(a.base)
            && orderable(b.base)
        {
            let one = self.c(1);
            self.check_msg(one, "comparing an absent value".into());
            return Ok(self.c(0));
        }
        if a.base != b.base || !matches!(a.base, Base::Decimal | Base::Money) {
            return Err(format!("orders {} and {}", a.base.kind(), b.base.kind()));
        }
        if a.present.is_some() || b.present.is_some() {
            let (pa, pb) = (self.presence(&a), self.presence(&b));
            let both = self.b.ins().band(pa, pb);
            let absent = self.b.ins().icmp_imm_s(IntCC::Equal, both, 0);
            self.check_msg(absent, "comparing an absent value".into());
        }
        if a.base == Base::Money {
            let (ca, cb) = (self.load(a.val, 2), self.load(b.val, 2));
            let differ = self.b.ins().icmp(IntCC::NotEqual, ca, cb);
            self.check(differ, Site::CompareCurrencies, ca, cb);
        }
        Ok(self.dec_cmp_call(a.val, b.val))
    }

    /// Arithmetic with a Decimal or Money operand, as the interpreter's `arith` and `dec_op`.
    fn dec_arith(&mut self, op: ArithOp, a: JV, b: JV) -> Result<JV, String> {
        use ArithOp::{Add, Div, Mul, Rem, Sub};
        use Base::{Decimal as Dc, Int as I, Money as M};
        let (base, int_y) = match (op, a.base, b.base) {
            (_, Dc, Dc) => (Dc, false),
            (Add | Sub, M, M) => (M, false),
            (Mul | Div, M, I) => (M, true),
            (Mul | Div, M, Dc) => (M, false),
            _ => return Err(arith_unsupported(op, &a, &b)),
        };
        self.check_arith_present(op, &a, &b);
        let words = if base == M { 3 } else { 2 };
        let out = self.scratch(words);
        if op == Rem {
            let one = self.c(1);
            self.check_msg(one, "`%` is for Int only".into());
            return Ok(JV {
                base,
                present: None,
                val: out,
            });
        }
        if (a.base, b.base) == (M, M) {
            let (ca, cb) = (self.load(a.val, 2), self.load(b.val, 2));
            let differ = self.b.ins().icmp(IntCC::NotEqual, ca, cb);
            self.check(differ, Site::MixedCurrencies(op), ca, cb);
        }
        let code = match op {
            Add => 0,
            Sub => 1,
            Mul => 2,
            _ => 3,
        } + if int_y { DEC_INT_Y } else { 0 };
        let code = self.c(code);
        let call = self
            .b
            .ins()
            .call(self.dec_arith, &[code, a.val, b.val, out]);
        let st = self.b.inst_results(call)[0];
        let wide: Vec<CVal> = if int_y {
            vec![a.val]
        } else {
            vec![a.val, b.val]
        };
        let y = if int_y { b.val } else { self.c(0) };
        let zero = self.c(0);
        let of = self.b.ins().icmp_imm_s(IntCC::Equal, st, DEC_OVERFLOW);
        self.check_wide(of, Site::DecOverflow(op, int_y), zero, y, &wide);
        if op == Div {
            let dz = self.b.ins().icmp_imm_s(IntCC::Equal, st, DEC_DIV_ZERO);
            self.check_wide(dz, Site::DecDivZero(int_y), zero, y, &wide);
        }
        if base == M {
            let c = self.load(a.val, 2);
            self.b.ins().store(MemFlagsData::trusted(), c, out, word(2));
        }
        Ok(JV {
            base,
            present: None,
            val: out,
        })
    }

    fn member(&mut self, x: &Expr, xs: &Expr, d: u32) -> Result<JV, String> {
        let xv = self.expr(x, d)?;
        let mut items = Vec::new();
        match xs {
            Expr::List(es) | Expr::Set(es) => {
                for e in es {
                    items.push(self.expr(e, d + 1)?);
                }
            }
            Expr::Const(Value::List(vs)) => {
                let mut acc = self.c(0);
                for v in vs.iter() {
                    let hit = match v {
                        // A constant list is equal to a list `x` element by element, and to
                        // no value of another kind.
                        Value::List(ws) if matches!(xv.base, Base::List(_)) => {
                            let ws = ws.iter().map(|w| self.konst(w)).collect::<Result<_, _>>()?;
                            self.list_matches(xv, ws, false)?
                        }
                        Value::List(_) => continue,
                        v => {
                            let it = self.konst(v)?;
                            self.eq(xv, it, 0)?
                        }
                    };
                    acc = self.b.ins().bor(acc, hit);
                }
                return Ok(JV {
                    base: Base::Bool,
                    present: None,
                    val: acc,
                });
            }
            xs => {
                let l = self.expr(xs, d + 1)?;
                let val = self.each(&l, "`in`", Quantifier::Any, |g, e| g.eq(xv, e, 0))?;
                return Ok(JV {
                    base: Base::Bool,
                    present: None,
                    val,
                });
            }
        }
        let mut acc = self.c(0);
        for it in items {
            let e = self.eq(xv, it, 0)?;
            acc = self.b.ins().bor(acc, e);
        }
        Ok(JV {
            base: Base::Bool,
            present: None,
            val: acc,
        })
    }

    /// `==` between a list or set of the input and a list or set literal (either side), 0/1,
    /// as the interpreter compares the literal's value with the list: in element order.
    ///
    /// A list literal is that value, element by element. A set literal's value is its elements
    /// sorted and without duplicates (`eval_set`): for constants that is done here, and then
    /// it is compared like a list literal. For computed elements the list equals it when the
    /// list is strictly increasing (in the order of values), every element of the list is one
    /// of the literal's and every element of the literal is in the list: the sorted list of the
    /// literal's distinct elements is the only such list. An absent list equals no literal.
    ///
    /// The literal's elements are evaluated before the list is read when the literal is on
    /// the left, as the interpreter evaluates the left operand first, and before any element
    /// is compared in either case, so an element that fails fails whatever the lengths.
    fn literal_eq(&mut self, a: &Expr, b: &Expr, d: u32) -> Result<CVal, String> {
        // With two literals, the right one is a list value (`Gen::list_value`).
        let lit_left = is_list_literal(a);
        let (lit, other) = if lit_left { (a, b) } else { (b, a) };
        // The literal's elements, and whether they still need the set treatment above.
        let elems = |g: &mut Self| -> Result<(Vec<JV>, bool), String> {
            match lit {
                Expr::List(es) => Ok((
                    es.iter()
                        .map(|e| g.expr(e, d + 1))
                        .collect::<Result<_, _>>()?,
                    false,
                )),
                Expr::Set(es) => {
                    let consts: Option<Vec<&Value>> = es
                        .iter()
                        .map(|e| match e {
                            Expr::Const(v) => Some(v),
                            _ => None,
                        })
                        .collect();
                    match consts {
                        Some(mut vals) => {
                            // The interpreter's canonical set: sorted by value, unique.
                            vals.sort();
                            vals.dedup();
                            let items = vals
                                .into_iter()
                                .map(|v| g.konst(v))
                                .collect::<Result<_, _>>()?;
                            Ok((items, false))
                        }
                        None => Ok((
                            es.iter()
                                .map(|e| g.expr(e, d + 1))
                                .collect::<Result<_, _>>()?,
                            true,
                        )),
                    }
                }
                // A constant list is its value as it is (a constant set is already canonical).
                Expr::Const(Value::List(vs)) => Ok((
                    vs.iter().map(|v| g.konst(v)).collect::<Result<_, _>>()?,
                    false,
                )),
                _ => Err("compares lists".into()),
            }
        };
        let ((items, computed_set), l) = if lit_left {
            let items = elems(self)?;
            (items, self.expr(other, d)?)
        } else {
            let l = self.expr(other, d)?;
            (elems(self)?, l)
        };
        if !matches!(l.base, Base::List(_)) {
            // A list equals no value of another kind (nor an absent one); both operands are
            // evaluated, as the interpreter does.
            return Ok(self.c(0));
        }
        self.list_matches(l, items, computed_set)
    }

    /// Whether list `l` (of the input, maybe absent) equals the list of `items` (0/1), or
    /// with `computed_set` the set they make (see [`Self::literal_eq`]).
    fn list_matches(&mut self, l: JV, items: Vec<JV>, computed_set: bool) -> Result<CVal, String> {
        let exit = self.b.create_block();
        let result = self.b.append_block_param(exit, I64);
        let zero = self.c(0);
        if let Some(p) = l.present {
            // `==` never fails: an absent list is just not equal to the literal's value.
            let cmp = self.b.create_block();
            self.b
                .ins()
                .brif(p, cmp, &[], exit, &[BlockArg::Value(zero)]);
            self.b.switch_to_block(cmp);
        }
        let l = JV { present: None, ..l };
        let (elem, start, len) = self.list_parts(&l, "`==`")?;
        let n = items.len() as i64;
        let body = self.b.create_block();
        let fits = if computed_set {
            // At most one element per element of the literal (duplicates make fewer).
            self.b
                .ins()
                .icmp_imm_s(IntCC::SignedLessThanOrEqual, len, n)
        } else {
            self.b.ins().icmp_imm_s(IntCC::Equal, len, n)
        };
        let zero = self.c(0);
        self.b
            .ins()
            .brif(fits, body, &[], exit, &[BlockArg::Value(zero)]);
        self.b.switch_to_block(body);
        let mut acc = self.c(1);
        if !computed_set {
            let sz = size(self.program, &elem, 0)? as i64;
            for (i, it) in items.into_iter().enumerate() {
                // Element `i` starts at word `start + i * sz` of the input (see `Flat::lists`).
                let w = self.b.ins().iadd_imm_s(start, i as i64 * sz);
                let bytes = self.b.ins().ishl_imm_u(w, 3);
                let addr = self.b.ins().iadd(self.input, bytes);
                let e = self.load_typed(addr, 0, &elem)?;
                let hit = self.eq(e, it, 0)?;
                acc = self.b.ins().band(acc, hit);
            }
        } else {
            let inc = self.increasing(&elem, start, len)?;
            acc = self.b.ins().band(acc, inc);
            let within = self.each(&l, "`==`", Quantifier::All, |g, e| {
                let mut one_of = g.c(0);
                for &it in &items {
                    let hit = g.eq(e, it, 0)?;
                    one_of = g.b.ins().bor(one_of, hit);
                }
                Ok(one_of)
            })?;
            acc = self.b.ins().band(acc, within);
            for &it in &items {
                let held = self.each(&l, "`==`", Quantifier::Any, |g, e| g.eq(e, it, 0))?;
                acc = self.b.ins().band(acc, held);
            }
        }
        self.b.ins().jump(exit, &[BlockArg::Value(acc)]);
        self.b.switch_to_block(exit);
        Ok(result)
    }

    /// Whether the elements (of type `elem`) of the list at input word `start`, `len` of them,
    /// are strictly increasing in the order of values (0/1), the order the interpreter sorts
    /// sets by (`Value`'s derived order).
    fn increasing(&mut self, elem: &Type, start: CVal, len: CVal) -> Result<CVal, String> {
        let sz = size(self.program, elem, 0)? as i64;
        let head = self.b.create_block();
        let i = self.b.append_block_param(head, I64);
        let body = self.b.create_block();
        let exit = self.b.create_block();
        let result = self.b.append_block_param(exit, I64);
        let one = self.c(1);
        self.b.ins().jump(head, &[BlockArg::Value(one)]);
        self.b.switch_to_block(head);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, len);
        let one = self.c(1);
        self.b
            .ins()
            .brif(more, body, &[], exit, &[BlockArg::Value(one)]);
        self.b.switch_to_block(body);
        let prev = self.b.ins().iadd_imm_s(i, -1);
        let pa = self.elem_addr(start, prev, sz);
        let ia = self.elem_addr(start, i, sz);
        let x = self.load_typed(pa, 0, elem)?;
        let y = self.load_typed(ia, 0, elem)?;
        self.loops += 1;
        let o = self.value_order(x, y, 0);
        self.loops -= 1;
        let lt = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, o?, 0);
        let i1 = self.b.ins().iadd_imm_s(i, 1);
        self.stop_check();
        let zero = self.c(0);
        self.b.ins().brif(
            lt,
            head,
            &[BlockArg::Value(i1)],
            exit,
            &[BlockArg::Value(zero)],
        );
        self.b.switch_to_block(exit);
        Ok(result)
    }

    /// The order (-1, 0, 1) of two values of one kind in `Value`'s derived order, which the
    /// interpreter sorts sets by: absent first; numbers, times and indices (Bool, enum
    /// variants, symbols) by value; Decimal by number; Money by amount, then currency; texts by
    /// code points; records field by field. Never fails; lists are not ordered here.
    fn value_order(&mut self, a: JV, b: JV, depth: u32) -> Result<CVal, String> {
        if depth > MAX_RECORD_DEPTH {
            return Err(
                "compares with a set literal of computed elements nested too deeply".into(),
            );
        }
        if a.base != b.base || matches!(a.base, Base::List(_) | Base::Absent) {
            return Err(format!(
                "compares with a set literal of computed elements of kinds {} and {}",
                a.base.kind(),
                b.base.kind()
            ));
        }
        let o = match a.base {
            Base::Bool | Base::Int | Base::Duration | Base::Time | Base::Enum(_) | Base::Symbol => {
                let gt = self.b.ins().icmp(IntCC::SignedGreaterThan, a.val, b.val);
                let lt = self.b.ins().icmp(IntCC::SignedLessThan, a.val, b.val);
                let (gt, lt) = (self.bool64(gt), self.bool64(lt));
                self.b.ins().isub(gt, lt)
            }
            Base::Text | Base::Id | Base::Tz => self.text_order(a.val, b.val),
            Base::Decimal => self.dec_cmp_call(a.val, b.val),
            Base::Money => {
                let amount = self.dec_cmp_call(a.val, b.val);
                let (ca, cb) = (self.load(a.val, 2), self.load(b.val, 2));
                let currency = self.text_order(ca, cb);
                self.b.ins().select(amount, amount, currency)
            }
            Base::Record(r) => {
                let program = self.program;
                let rt = program
                    .records
                    .get(r as usize)
                    .ok_or("orders a record type not in the program")?;
                let mut o = self.c(0);
                let mut off = 0;
                for f in &rt.fields {
                    let fa = self.load_typed(a.val, off, &f.ty)?;
                    let fb = self.load_typed(b.val, off, &f.ty)?;
                    let fo = self.value_order(fa, fb, depth + 1)?;
                    // The first field that differs decides.
                    o = self.b.ins().select(o, o, fo);
                    off += size(program, &f.ty, 1)?;
                }
                o
            }
            Base::List(_) | Base::Absent => {
                return Err("compares with a set literal of computed elements of kind list".into());
            }
        };
        if a.present.is_none() && b.present.is_none() {
            return Ok(o);
        }
        // Absent orders first (`Value::Absent` is the first variant); two absents are equal.
        let (pa, pb) = (self.presence(&a), self.presence(&b));
        let both = self.b.ins().band(pa, pb);
        let by_presence = self.b.ins().isub(pa, pb);
        Ok(self.b.ins().select(both, o, by_presence))
    }

    /// The interpreter's error for arithmetic on an absent operand, when either may be absent.
    fn check_arith_present(&mut self, op: ArithOp, a: &JV, b: &JV) {
        if a.present.is_some() || b.present.is_some() {
            let (pa, pb) = (self.presence(a), self.presence(b));
            let both = self.b.ins().band(pa, pb);
            let absent = self.b.ins().icmp_imm_s(IntCC::Equal, both, 0);
            self.check(
                absent,
                Site::ArithAbsent(op, a.base.kind(), b.base.kind()),
                pa,
                pb,
            );
        }
    }

    /// The list `l` (a list value of the input) as its element type, start word and length.
    fn list_parts(&mut self, l: &JV, what: &str) -> Result<(Type, CVal, CVal), String> {
        let Base::List(t) = l.base else {
            return Err(format!("uses {what} on {}", l.base.kind()));
        };
        // An absent list fails as in the interpreter (`not_a_list`); `==` never gets here
        // with one (see `literal_eq`).
        self.require_present(l, &format!("{what} needs a list or set, not absent"));
        let elem = self
            .list_tys
            .get(t as usize)
            .cloned()
            .ok_or("uses an unknown list type")?;
        let start = self.load(l.val, 0);
        let len = self.load(l.val, 1);
        Ok((elem, start, len))
    }

    /// A loop over the elements of list `l`: `hit` decides each element (a 0/1 word); `any`
    /// stops at the first hit (1, else 0), `all` at the first miss (0, else 1), `count` counts
    /// the hits. Returns the result word.
    fn each(
        &mut self,
        l: &JV,
        what: &str,
        q: Quantifier,
        mut hit: impl FnMut(&mut Self, JV) -> Result<CVal, String>,
    ) -> Result<CVal, String> {
        match q {
            Quantifier::Any => self.each_branch(l, what, true, |g, e, stop, next| {
                let h = hit(g, e)?;
                g.b.ins().brif(h, stop, &[], next, &[]);
                Ok(())
            }),
            Quantifier::All => self.each_branch(l, what, false, |g, e, stop, next| {
                let h = hit(g, e)?;
                g.b.ins().brif(h, next, &[], stop, &[]);
                Ok(())
            }),
            Quantifier::Count => {
                let (elem, first, end, stride) = self.list_walk(l, what)?;
                let head = self.b.create_block();
                let at = self.b.append_block_param(head, I64);
                let acc = self.b.append_block_param(head, I64);
                let body = self.b.create_block();
                let exit = self.b.create_block();
                let result = self.b.append_block_param(exit, I64);
                let zero = self.c(0);
                self.b
                    .ins()
                    .jump(head, &[BlockArg::Value(first), BlockArg::Value(zero)]);
                self.b.switch_to_block(head);
                let more = self.b.ins().icmp(IntCC::UnsignedLessThan, at, end);
                self.b
                    .ins()
                    .brif(more, body, &[], exit, &[BlockArg::Value(acc)]);
                self.b.switch_to_block(body);
                let e = self.load_typed(at, 0, &elem)?;
                self.loops += 1;
                let h = hit(self, e);
                self.loops -= 1;
                let acc1 = self.b.ins().iadd(acc, h?);
                let at1 = self.b.ins().iadd_imm_s(at, stride);
                self.stop_check();
                self.b
                    .ins()
                    .jump(head, &[BlockArg::Value(at1), BlockArg::Value(acc1)]);
                self.b.switch_to_block(exit);
                Ok(result)
            }
        }
    }

    /// The element type of list `l`, the address of its first element, the address past its
    /// last, and the element size in bytes: element `i` is at word `start + i * size` of the
    /// input (see `Flat::lists`), so a loop steps an address instead of multiplying an index.
    fn list_walk(&mut self, l: &JV, what: &str) -> Result<(Type, CVal, CVal, i64), String> {
        let (elem, start, len) = self.list_parts(l, what)?;
        let stride = 8 * size(self.program, &elem, 0)? as i64;
        let bytes = self.b.ins().ishl_imm_u(start, 3);
        let first = self.b.ins().iadd(self.input, bytes);
        let span = self.b.ins().imul_imm_s(len, stride);
        let end = self.b.ins().iadd(first, span);
        Ok((elem, first, end, stride))
    }

    /// A loop over the elements of list `l` that may stop early: `step` gets each element and
    /// ends the current block by branching to `stop` (the result is `stop_value`) or to `next`
    /// (the next element; after the last, the result is the opposite). Branching directly, a
    /// test of several parts (`consent`) needs no 0/1 word per part. Returns the result word.
    fn each_branch(
        &mut self,
        l: &JV,
        what: &str,
        stop_value: bool,
        mut step: impl FnMut(&mut Self, JV, Block, Block) -> Result<(), String>,
    ) -> Result<CVal, String> {
        let (elem, first, end, stride) = self.list_walk(l, what)?;
        let head = self.b.create_block();
        let at = self.b.append_block_param(head, I64);
        let body = self.b.create_block();
        let stop = self.b.create_block();
        let next = self.b.create_block();
        let exit = self.b.create_block();
        let result = self.b.append_block_param(exit, I64);
        self.b.ins().jump(head, &[BlockArg::Value(first)]);
        self.b.switch_to_block(head);
        let more = self.b.ins().icmp(IntCC::UnsignedLessThan, at, end);
        let done = self.c(i64::from(!stop_value));
        self.b
            .ins()
            .brif(more, body, &[], exit, &[BlockArg::Value(done)]);
        self.b.switch_to_block(body);
        let e = self.load_typed(at, 0, &elem)?;
        self.loops += 1;
        let stepped = step(self, e, stop, next);
        self.loops -= 1;
        stepped?;
        self.b.switch_to_block(stop);
        let found = self.c(i64::from(stop_value));
        self.b.ins().jump(exit, &[BlockArg::Value(found)]);
        self.b.switch_to_block(next);
        let at1 = self.b.ins().iadd_imm_s(at, stride);
        self.stop_check();
        self.b.ins().jump(head, &[BlockArg::Value(at1)]);
        self.b.switch_to_block(exit);
        Ok(result)
    }

    fn quantify(
        &mut self,
        q: Quantifier,
        list: &Expr,
        slot: u32,
        body: Option<&Expr>,
        d: u32,
    ) -> Result<JV, String> {
        let l = self.expr(list, d)?;
        if l.base == Base::List(EMPTY_LIST) {
            // `[]` has no element type to compile the condition for, and the condition never
            // runs: `any` is false, `all` true, `count` 0 (without one too, or failing).
            if body.is_none() && q != Quantifier::Count {
                return Err(format!("uses `{q:?}` without a condition"));
            }
            let val = self.c(i64::from(q == Quantifier::All));
            let base = if q == Quantifier::Count {
                Base::Int
            } else {
                Base::Bool
            };
            return Ok(JV {
                base,
                present: None,
                val,
            });
        }
        let val = match body {
            None => {
                if q != Quantifier::Count {
                    // The interpreter fails on it; nothing well-typed has it.
                    return Err(format!("uses `{q:?}` without a condition"));
                }
                self.list_parts(&l, "a quantifier")?.2
            }
            Some(body) => self.each(&l, "a quantifier", q, |g, e| {
                g.lambdas.push((slot, e));
                let v = g.expr(body, d);
                g.lambdas.pop();
                g.as_bool(v?, "the condition of a quantifier")
            })?,
        };
        let base = if q == Quantifier::Count {
            Base::Int
        } else {
            Base::Bool
        };
        Ok(JV {
            base,
            present: None,
            val,
        })
    }

    /// Word offset and type of field `name` of record type `rt`.
    fn field_at(&self, rt: u32, name: &str) -> Result<(usize, Type), String> {
        let r = self
            .program
            .records
            .get(rt as usize)
            .ok_or("reads a record type not in the program")?;
        let mut off = 0;
        for f in &r.fields {
            if f.name == name {
                return Ok((off, f.ty.clone()));
            }
            off += size(self.program, &f.ty, 1)?;
        }
        Err(format!("reads a record without a field `{name}`"))
    }

    /// Field `name` of the element record `e`, which must be of kind `base` (and present
    /// unless `optional`).
    fn elem_field(&mut self, e: &JV, name: &str, base: Base, optional: bool) -> Result<JV, String> {
        let Base::Record(rt) = e.base else {
            return Err("calls an intrinsic on a list that is not of records".into());
        };
        let (off, fty) = self.field_at(rt, name)?;
        let v = self.load_typed(e.val, off, &fty)?;
        if v.base != base || (v.present.is_some() && !optional) {
            return Err(format!(
                "calls an intrinsic on a field `{name}` of another type"
            ));
        }
        Ok(v)
    }

    /// `field` of instant `t` (ms) in the zone of string id `tz`, as [`Zone::field`] computes
    /// it, or a run-time error as the interpreter gives it.
    ///
    /// The zone's table is found by searching the context's zone pairs (the input's, then the
    /// module's constants: almost always one pair), and read inline: bucket `sec >> BUCKET_BITS`
    /// gives the offset, then the local hour or weekday is a few divisions by constants, which
    /// Cranelift turns into multiplications. The host call [`xop_zone_field`] remains for what
    /// the table does not answer: an id that is no IANA zone, an instant outside 1970–2106,
    /// a bucket with two transitions; it also words the errors.
    fn zone_field(&mut self, t: CVal, tz: CVal, field: Field) -> CVal {
        use crate::zone::{
            ASK_JIFF, BUCKET_AFTER, BUCKET_AT, BUCKET_BEFORE, BUCKET_BITS, BUCKET_SIZE_BITS, DAY,
            TABLE_END,
        };
        let f = MemFlagsData::trusted();
        let slow = self.b.create_block();
        let found = self.b.create_block();
        let table = self.b.append_block_param(found, I64);
        let done = self.b.create_block();
        let r = self.b.append_block_param(done, I64);
        self.b.set_cold_block(slow);
        // The input's first pair, then the two pair arrays, one after the other: a miss in the
        // input's goes on to the constants', a miss there to the host call (which answers
        // "unknown zone").
        let consts = self.b.create_block();
        let rest = self.b.create_block();
        let ctx = self.ctx;
        let id0 = self.b.ins().load(I64, f, ctx, CTX_ZONE0);
        let table0 = self.b.ins().load(I64, f, ctx, CTX_ZONE0 + 8);
        let hit0 = self.b.ins().icmp(IntCC::Equal, id0, tz);
        self.b
            .ins()
            .brif(hit0, found, &[BlockArg::Value(table0)], rest, &[]);
        self.b.switch_to_block(rest);
        let zones = self.b.ins().load(I64, f, ctx, CTX_ZONES);
        let nzones = self.b.ins().load(I64, f, ctx, CTX_NZONES);
        self.search_pairs(zones, nzones, tz, found, consts);
        self.b.switch_to_block(consts);
        let czones = self.b.ins().load(I64, f, ctx, CTX_CONST_ZONES);
        let nczones = self.b.ins().load(I64, f, ctx, CTX_NCONST_ZONES);
        self.search_pairs(czones, nczones, tz, found, slow);

        // Found: a table (address 0 is a name that is no zone: the host call says so). The
        // instant must be in the table's range, `0 <= t < TABLE_END * 1000`: one unsigned
        // compare, since a negative `t` is a huge unsigned one.
        self.b.switch_to_block(found);
        let in_range = self.b.create_block();
        let known = self.b.create_block();
        self.b.ins().brif(table, known, &[], slow, &[]);
        self.b.switch_to_block(known);
        let ok = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, t, TABLE_END * 1000);
        self.b.ins().brif(ok, in_range, &[], slow, &[]);

        // `sec = t / 1000` (t is non-negative here, so this is `div_euclid`), then its bucket:
        // `table + (sec >> BUCKET_BITS) * 16`, below 1,024 buckets since `sec < 2^32`.
        self.b.switch_to_block(in_range);
        let sec = self.udiv_small(t, 1000);
        let index = self.b.ins().ushr_imm_u(sec, i64::from(BUCKET_BITS));
        let off = self.b.ins().ishl_imm_u(index, i64::from(BUCKET_SIZE_BITS));
        let bucket = self.b.ins().iadd(table, off);
        let at = self.b.ins().load(I64, f, bucket, BUCKET_AT);
        let before = self.b.ins().sload32(f, bucket, BUCKET_BEFORE);
        let after = self.b.ins().sload32(f, bucket, BUCKET_AFTER);
        let ask = self.b.ins().icmp_imm_s(IntCC::Equal, at, ASK_JIFF);
        let table_answers = self.b.create_block();
        self.b.ins().brif(ask, slow, &[], table_answers, &[]);

        // The offset in force, then the local time shifted by a week: positive (offsets are
        // under a day), so unsigned divisions give the Euclidean ones, and a whole week keeps
        // both the hour and the weekday. It is below 2^34, so the hours and days since the
        // shifted epoch fit 32 bits.
        self.b.switch_to_block(table_answers);
        let later = self.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, sec, at);
        let offset = self.b.ins().select(later, after, before);
        let local = self.b.ins().iadd(sec, offset);
        let local = self.b.ins().iadd_imm_s(local, 7 * DAY);
        let value = match field {
            Field::Hour => {
                let hours = self.udiv_small(local, 3600);
                let hours = self.b.ins().ireduce(I32, hours);
                let day = self.b.ins().iconst(I32, 24);
                let hour = self.b.ins().urem(hours, day);
                self.b.ins().uextend(I64, hour)
            }
            Field::Weekday => {
                // 1970-01-01 was a Thursday, ISO day 4.
                let days = self.udiv_small(local, DAY as u64);
                let days = self.b.ins().ireduce(I32, days);
                let days = self.b.ins().iadd_imm_s(days, 3);
                let week = self.b.ins().iconst(I32, 7);
                let wd = self.b.ins().urem(days, week);
                let wd = self.b.ins().iadd_imm_s(wd, 1);
                self.b.ins().uextend(I64, wd)
            }
        };
        self.b.ins().jump(done, &[BlockArg::Value(value)]);

        // The host call, for everything else, with the errors it reports.
        self.b.switch_to_block(slow);
        let which = self.c(i64::from(field == Field::Weekday));
        let call = self.b.ins().call(self.zone_field, &[ctx, t, tz, which]);
        let answer = self.b.inst_results(call)[0];
        let unknown = self.b.ins().icmp_imm_s(IntCC::Equal, answer, ZONE_UNKNOWN);
        self.check(unknown, Site::UnknownZone, t, tz);
        let range = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, answer, INSTANT_OUT_OF_RANGE);
        self.check(range, Site::InstantRange, t, tz);
        self.b.ins().jump(done, &[BlockArg::Value(answer)]);

        self.b.switch_to_block(done);
        r
    }

    /// `x / d` for `x < 2^48` and `d` one of 1,000, 3,600, 86,400: the high word of
    /// `x * ceil(2^64 / d)`. That product is `2^64 * (x/d + x*e / (d * 2^64))` with
    /// `e = ceil(2^64/d) * d - 2^64` (384, 3,584 and 61,184), so the floor is exact while
    /// `x * e < 2^64`. Cranelift's own `udiv` by a constant must hold for all of `u64`, which
    /// for these divisors costs three more instructions on the look-up's critical path.
    fn udiv_small(&mut self, x: CVal, d: u64) -> CVal {
        debug_assert!(matches!(d, 1_000 | 3_600 | 86_400));
        let m = self.c(u64::MAX.div_ceil(d) as i64);
        self.b.ins().umulhi(x, m)
    }

    /// Searches `n` pairs `(id, table address)` at `pairs` for `tz`: to `found` with the
    /// address, or to `miss`.
    fn search_pairs(&mut self, pairs: CVal, n: CVal, tz: CVal, found: Block, miss: Block) {
        let f = MemFlagsData::trusted();
        let head = self.b.create_block();
        let i = self.b.append_block_param(head, I64);
        let body = self.b.create_block();
        let zero = self.c(0);
        self.b.ins().jump(head, &[BlockArg::Value(zero)]);
        self.b.switch_to_block(head);
        let end = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, i, n);
        self.b.ins().brif(end, miss, &[], body, &[]);
        self.b.switch_to_block(body);
        let off = self.b.ins().ishl_imm_u(i, 4);
        let pair = self.b.ins().iadd(pairs, off);
        let id = self.b.ins().load(I64, f, pair, 0);
        let addr = self.b.ins().load(I64, f, pair, 8);
        let hit = self.b.ins().icmp(IntCC::Equal, id, tz);
        let next = self.b.ins().iadd_imm_s(i, 1);
        self.stop_check();
        self.b.ins().brif(
            hit,
            found,
            &[BlockArg::Value(addr)],
            head,
            &[BlockArg::Value(next)],
        );
    }

    /// `t >= now - window`, exactly (in 128 bits), as a 0/1 word.
    fn at_or_after_window_start(&mut self, t: CVal, window: CVal) -> CVal {
        let t = self.b.ins().sextend(I128, t);
        let now = self.b.ins().sextend(I128, self.now);
        let w = self.b.ins().sextend(I128, window);
        let start = self.b.ins().isub(now, w);
        let ge = self.b.ins().icmp(IntCC::SignedGreaterThanOrEqual, t, start);
        self.bool64(ge)
    }

    fn intrinsic(&mut self, which: Intrinsic, args: &[Expr], d: u32) -> Result<JV, String> {
        let fname = intrinsics::name(which);
        let mut vs = Vec::with_capacity(args.len());
        for a in args {
            vs.push(self.expr(a, d)?);
        }
        if vs.len() != intrinsics::arity(which) {
            return Err(format!("calls {fname} with {} argument(s)", vs.len()));
        }
        if which == Intrinsic::SwappedWithin {
            return self.swapped_within(&vs);
        }
        let bases: Vec<Base> = vs.iter().map(|v| v.base).collect();
        // What each argument must be, in the words of the interpreter's errors (`intrinsics`).
        let wants: &[&str] = match (which, bases.as_slice()) {
            (Intrinsic::Hours | Intrinsic::Minutes | Intrinsic::Days, [Base::Int]) => &["an Int"],
            (Intrinsic::LocalHour | Intrinsic::DayOfWeek, [Base::Time, Base::Tz]) => {
                &["a Time", "a Tz"]
            }
            (Intrinsic::Consent, [Base::List(_), Base::Symbol, Base::Symbol]) => {
                &["a list", "a symbol", "a symbol"]
            }
            (Intrinsic::ContactsWithin, [Base::List(_), Base::Duration]) => {
                &["a list", "a Duration"]
            }
            (Intrinsic::ContactsOnWithin, [Base::List(_), Base::Symbol, Base::Duration]) => {
                &["a list", "a symbol", "a Duration"]
            }
            _ => return Err(format!("uses the intrinsic {fname}")),
        };
        // An optional argument: the interpreter checks the arguments in order, after
        // evaluating them all, and fails on the first absent one.
        for (pos, (v, want)) in vs.iter_mut().zip(wants).enumerate() {
            if v.present.is_some() {
                let msg = format!("{fname}: argument {} is absent, not {want}", pos + 1);
                self.require_present(v, &msg);
                v.present = None;
            }
        }
        let int = |val| JV {
            base: Base::Int,
            present: None,
            val,
        };
        if vs.first().is_some_and(|v| v.base == Base::List(EMPTY_LIST))
            && matches!(
                which,
                Intrinsic::Consent | Intrinsic::ContactsWithin | Intrinsic::ContactsOnWithin
            )
        {
            // An empty literal has no record type to read fields of, and needs none: the
            // interpreter reads no element, so `consent` is false and the counts are 0.
            let val = self.c(0);
            let base = if which == Intrinsic::Consent {
                Base::Bool
            } else {
                Base::Int
            };
            return Ok(JV {
                base,
                present: None,
                val,
            });
        }
        Ok(match (which, bases.as_slice()) {
            (Intrinsic::Hours | Intrinsic::Minutes | Intrinsic::Days, [Base::Int]) => {
                let unit = match which {
                    Intrinsic::Hours => 3_600_000,
                    Intrinsic::Minutes => 60_000,
                    _ => 86_400_000,
                };
                let u = self.c(unit);
                let (r, of) = self.b.ins().smul_overflow(vs[0].val, u);
                let z = self.c(0);
                self.check(of, Site::Unit(fname), vs[0].val, z);
                JV {
                    base: Base::Duration,
                    present: None,
                    val: r,
                }
            }
            (Intrinsic::LocalHour | Intrinsic::DayOfWeek, [Base::Time, Base::Tz]) => {
                let field = if which == Intrinsic::DayOfWeek {
                    Field::Weekday
                } else {
                    Field::Hour
                };
                int(self.zone_field(vs[0].val, vs[1].val, field))
            }
            (Intrinsic::Consent, [Base::List(_), Base::Symbol, Base::Symbol]) => {
                let (purpose, channel) = (vs[1].val, vs[2].val);
                let val = self.each_branch(&vs[0], fname, true, |g, k, found, next| {
                    // Purpose and channel first: a record for another purpose or channel (most
                    // of them) skips the loads and compares of its times, as Rust's `&&` would.
                    let kp = g.elem_field(&k, "purpose", Base::Symbol, false)?;
                    let same = g.b.ins().icmp(IntCC::Equal, kp.val, purpose);
                    let on_channel = g.b.create_block();
                    g.b.ins().brif(same, on_channel, &[], next, &[]);
                    g.b.switch_to_block(on_channel);
                    let kc = g.elem_field(&k, "channel", Base::Symbol, false)?;
                    let same = g.b.ins().icmp(IntCC::Equal, kc.val, channel);
                    let times = g.b.create_block();
                    g.b.ins().brif(same, times, &[], next, &[]);
                    g.b.switch_to_block(times);
                    // Given at or before now, and not withdrawn: withdrawn absent, or after now.
                    let given = g.elem_field(&k, "given_at", Base::Time, false)?;
                    let given =
                        g.b.ins()
                            .icmp(IntCC::SignedLessThanOrEqual, given.val, g.now);
                    let withdrawal = g.b.create_block();
                    g.b.ins().brif(given, withdrawal, &[], next, &[]);
                    g.b.switch_to_block(withdrawal);
                    let withdrawn = g.elem_field(&k, "withdrawn_at", Base::Time, true)?;
                    if let Some(p) = withdrawn.present {
                        let when = g.b.create_block();
                        g.b.ins().brif(p, when, &[], found, &[]);
                        g.b.switch_to_block(when);
                    }
                    let later =
                        g.b.ins()
                            .icmp(IntCC::SignedGreaterThan, withdrawn.val, g.now);
                    g.b.ins().brif(later, found, &[], next, &[]);
                    Ok(())
                })?;
                JV {
                    base: Base::Bool,
                    present: None,
                    val,
                }
            }
            (Intrinsic::ContactsWithin, [Base::List(_), Base::Duration])
            | (Intrinsic::ContactsOnWithin, [Base::List(_), Base::Symbol, Base::Duration]) => {
                let on = (which == Intrinsic::ContactsOnWithin).then(|| vs[1].val);
                let window = vs[vs.len() - 1].val;
                let val = self.each(&vs[0], fname, Quantifier::Count, |g, k| {
                    let at = g.elem_field(&k, "contacted_at", Base::Time, false)?;
                    let mut ok = g.b.ins().icmp(IntCC::SignedLessThanOrEqual, at.val, g.now);
                    let ok64 = g.bool64(ok);
                    let after = g.at_or_after_window_start(at.val, window);
                    let mut hit = g.b.ins().band(ok64, after);
                    if let Some(ch) = on {
                        let kc = g.elem_field(&k, "channel", Base::Symbol, false)?;
                        ok = g.b.ins().icmp(IntCC::Equal, kc.val, ch);
                        let same = g.bool64(ok);
                        hit = g.b.ins().band(hit, same);
                    }
                    Ok(hit)
                })?;
                int(val)
            }
            _ => return Err(format!("uses the intrinsic {fname}")),
        })
    }

    fn neg(&mut self, v: JV) -> Result<JV, String> {
        if matches!(v.base, Base::Decimal | Base::Money) {
            // rust_decimal's `-` flips the sign bit (bit 31 of the flags, the first word's).
            self.require_present(&v, "negating an absent value");
            let words = if v.base == Base::Money { 3 } else { 2 };
            let out = self.scratch(words);
            let f = MemFlagsData::trusted();
            for w in 0..words {
                let x = self.load(v.val, w);
                let x = if w == 0 {
                    self.b.ins().bxor_imm_u(x, 1 << 31)
                } else {
                    x
                };
                self.b.ins().store(f, x, out, word(w));
            }
            return Ok(JV {
                base: v.base,
                present: None,
                val: out,
            });
        }
        let site = match v.base {
            Base::Int => Site::NegInt,
            Base::Duration => Site::NegDur,
            other => return Err(format!("negates {}", other.kind())),
        };
        self.require_present(&v, "negating an absent value");
        let min = self.b.ins().icmp_imm_s(IntCC::Equal, v.val, i64::MIN);
        let z = self.c(0);
        self.check(min, site, v.val, z);
        let val = self.b.ins().ineg(v.val);
        Ok(JV {
            base: v.base,
            present: None,
            val,
        })
    }

    /// `a + b` on two Texts: the host concatenates them into the run's scratch area and gives
    /// the result's string id (see [`Texts`]); an absent operand fails as in `arith`.
    fn concat(&mut self, a: JV, b: JV) -> JV {
        if a.present.is_some() || b.present.is_some() {
            let (pa, pb) = (self.presence(&a), self.presence(&b));
            let both = self.b.ins().band(pa, pb);
            let absent = self.b.ins().icmp_imm_s(IntCC::Equal, both, 0);
            self.check(
                absent,
                Site::ArithAbsent(ArithOp::Add, "Text", "Text"),
                pa,
                pb,
            );
        }
        let call = self
            .b
            .ins()
            .call(self.text_concat, &[self.ctx, a.val, b.val]);
        let val = self.b.inst_results(call)[0];
        JV {
            base: Base::Text,
            present: None,
            val,
        }
    }

    fn arith(&mut self, op: ArithOp, a: JV, b: JV) -> Result<JV, String> {
        if [a.base, b.base]
            .iter()
            .any(|b| matches!(b, Base::Decimal | Base::Money))
        {
            return self.dec_arith(op, a, b);
        }
        if (op, a.base, b.base) == (ArithOp::Add, Base::Text, Base::Text) {
            return Ok(self.concat(a, b));
        }
        use ArithOp::{Add, Div, Mul, Rem, Sub};
        use Base::{Duration as D, Int as I, Time as T};
        let (base, site) = match (op, a.base, b.base) {
            (_, I, I) => (I, Site::IntOp(op)),
            (Add | Sub, D, D) => (D, Site::IntOp(op)),
            (Mul | Div, D, I) => (D, Site::IntOp(op)),
            (Mul, I, D) => (D, Site::IntOp(op)),
            (Add | Sub, T, D) => (T, Site::IntOp(op)),
            (Add, D, T) => (T, Site::DurPlusTime),
            (Sub, T, T) => (D, Site::TimeMinusTime),
            _ => return Err(arith_unsupported(op, &a, &b)),
        };
        self.check_arith_present(op, &a, &b);
        let (x, y) = (a.val, b.val);
        let val = match op {
            Add | Sub | Mul => {
                let (r, of) = match op {
                    Add => self.b.ins().sadd_overflow(x, y),
                    Sub => self.b.ins().ssub_overflow(x, y),
                    _ => self.b.ins().smul_overflow(x, y),
                };
                self.check(of, site, x, y);
                r
            }
            Div | Rem => {
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                self.check(zero, site.clone(), x, y);
                let m1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                if op == Div {
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                    let of = self.b.ins().band(min, m1);
                    self.check(of, site, x, y);
                    self.b.ins().sdiv(x, y)
                } else {
                    // `x % -1` is 0 for every x, i64::MIN included (whose quotient alone
                    // overflows): taken as `x % 1`, so the machine's division never traps.
                    let one = self.b.ins().iconst(I64, 1);
                    let y = self.b.ins().select(m1, one, y);
                    self.b.ins().srem(x, y)
                }
            }
        };
        Ok(JV {
            base,
            present: None,
            val,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Decimal and Money edge cases: the JIT against the interpreter, and the expected result
    //! spelled out so that both being wrong alike fails too.
    use std::sync::Arc;

    use super::*;
    use crate::interp::NoSignals;
    use crate::ir::SourceRef;

    use crate::ir::build::{self, arith, b, cmp, dec, money, slot};

    fn k(v: Value) -> Expr {
        Expr::Const(v)
    }

    /// One policy over parameters `params`: deny "hit" when `cond`, else allow "ok".
    fn program(params: Vec<Type>, cond: Expr) -> Program {
        build::program(
            params,
            vec![
                build::rule(1, Verdict::Deny, "hit", Some(cond)),
                build::rule(2, Verdict::Allow, "ok", None),
            ],
        )
    }

    /// Decides `program` on `args` with both engines, requires the same decision and the JIT to
    /// have compiled it; gives the decision's error, or whether the rule fired.
    fn run(program: &Program, args: &[Value]) -> Result<bool, String> {
        let jit = compile(program);
        assert_eq!(jit.unsupported(0), None);
        let expected = interp::decide(program, 0, args, 0, &NoSignals);
        assert_eq!(jit.decide(0, args, 0), Some(expected.clone()), "{args:?}");
        match expected.error {
            Some(e) => Err(e),
            None => Ok(expected.verdict == Verdict::Deny),
        }
    }

    fn dd() -> Vec<Type> {
        vec![Type::Decimal, Type::Decimal]
    }

    #[test]
    fn scales_do_not_matter_to_equality_or_order() {
        let eq = program(dd(), cmp(CmpOp::Eq, slot(0), slot(1)));
        assert_eq!(run(&eq, &[dec("1.50"), dec("1.5")]), Ok(true));
        assert_eq!(run(&eq, &[dec("1.50"), dec("1.51")]), Ok(false));
        assert_eq!(run(&eq, &[dec("0"), dec("-0.00")]), Ok(true));
        let lt = program(dd(), cmp(CmpOp::Lt, slot(0), slot(1)));
        assert_eq!(run(&lt, &[dec("1.5"), dec("1.50")]), Ok(false));
        assert_eq!(run(&lt, &[dec("1.499"), dec("1.5")]), Ok(true));
        assert_eq!(run(&lt, &[dec("-2"), dec("-1.99")]), Ok(true));
        let mm = vec![Type::Money, Type::Money];
        let eq = program(mm.clone(), cmp(CmpOp::Eq, slot(0), slot(1)));
        assert_eq!(
            run(&eq, &[money("1.50", "EUR"), money("1.5", "EUR")]),
            Ok(true)
        );
        // Equality across currencies is false, not an error (the interpreter's `==`).
        assert_eq!(
            run(&eq, &[money("1.5", "EUR"), money("1.5", "USD")]),
            Ok(false)
        );
        let ge = program(mm, cmp(CmpOp::Ge, slot(0), k(money("100.00", "EUR"))));
        assert_eq!(
            run(&ge, &[money("100", "EUR"), money("0", "EUR")]),
            Ok(true)
        );
        assert_eq!(
            run(&ge, &[money("99.999", "EUR"), money("0", "EUR")]),
            Ok(false)
        );
        let member = program(
            vec![Type::Decimal],
            Expr::In(
                b(slot(0)),
                b(k(Value::List(Arc::from(vec![dec("1"), dec("2.5")])))),
            ),
        );
        assert_eq!(run(&member, &[dec("2.50")]), Ok(true));
        assert_eq!(run(&member, &[dec("1.01")]), Ok(false));
    }

    /// Same scale and sign: ordered inline by the 96-bit mantissa (its high word first),
    /// reversed when negative.
    #[test]
    fn same_scale_orders_inline() {
        let lt = program(dd(), cmp(CmpOp::Lt, slot(0), slot(1)));
        let two64 = "18446744073709551616";
        let below = "18446744073709551615";
        for (x, y, want) in [
            ("-1.5", "-1.4", true),
            ("-1.4", "-1.5", false),
            ("1.4", "1.5", true),
            ("-1.5", "-1.5", false),
            (below, two64, true),
            (two64, below, false),
            ("-18446744073709551616", "-18446744073709551615", true),
            ("4294967296.00", "4294967295.99", false),
            ("4294967295.99", "4294967296.00", true),
        ] {
            assert_eq!(run(&lt, &[dec(x), dec(y)]), Ok(want), "{x} < {y}");
        }
        let max = Value::Decimal(Decimal::MAX);
        let almost = Value::Decimal(Decimal::MAX - Decimal::ONE);
        assert_eq!(run(&lt, &[almost.clone(), max.clone()]), Ok(true));
        assert_eq!(run(&lt, &[max, almost]), Ok(false));
        let eq = program(dd(), cmp(CmpOp::Eq, slot(0), slot(1)));
        assert_eq!(run(&eq, &[dec("-2.50"), dec("-2.5")]), Ok(true));
        assert_eq!(run(&eq, &[dec("-2.50"), dec("-2.51")]), Ok(false));
    }

    #[test]
    fn negatives_and_negation() {
        let p = program(
            vec![Type::Decimal],
            cmp(CmpOp::Gt, Expr::Neg(b(slot(0))), k(dec("2.4"))),
        );
        assert_eq!(run(&p, &[dec("-2.5")]), Ok(true));
        assert_eq!(run(&p, &[dec("2.5")]), Ok(false));
        let p = program(
            vec![Type::Money],
            cmp(CmpOp::Eq, Expr::Neg(b(slot(0))), k(money("-3.10", "EUR"))),
        );
        assert_eq!(run(&p, &[money("3.1", "EUR")]), Ok(true));
        assert_eq!(run(&p, &[money("3.1", "USD")]), Ok(false));
    }

    #[test]
    fn overflow_is_the_interpreters_error() {
        let max = Value::Decimal(Decimal::MAX);
        let add = program(
            dd(),
            cmp(
                CmpOp::Gt,
                arith(ArithOp::Add, slot(0), slot(1)),
                k(dec("0")),
            ),
        );
        assert_eq!(
            run(&add, &[max.clone(), dec("1")]),
            Err("rule t.p#1: 79228162514264337593543950335 + 1 overflows".into())
        );
        let mul = program(
            dd(),
            cmp(
                CmpOp::Gt,
                arith(ArithOp::Mul, slot(0), slot(1)),
                k(dec("0")),
            ),
        );
        assert_eq!(
            run(&mul, &[max.clone(), dec("-2.0")]),
            Err("rule t.p#1: 79228162514264337593543950335 * -2.0 overflows".into())
        );
        // Money times an Int: the Int is the message's right operand.
        let times = program(
            vec![Type::Money, Type::Int],
            cmp(
                CmpOp::Gt,
                arith(ArithOp::Mul, slot(0), slot(1)),
                k(money("0", "EUR")),
            ),
        );
        assert_eq!(
            run(
                &times,
                &[
                    Value::Money(Decimal::MIN, Arc::from("EUR")),
                    Value::Int(i64::MIN)
                ]
            ),
            Err(
                "rule t.p#1: -79228162514264337593543950335 * -9223372036854775808 overflows"
                    .into()
            )
        );
        assert_eq!(
            run(&times, &[money("2.50", "EUR"), Value::Int(3)]),
            Ok(true)
        );
    }

    /// `i64::MIN % -1` is 0 (it fits; only the quotient `i64::MIN / -1` overflows), in both
    /// engines, and the machine's division does not trap on it.
    #[test]
    fn int_remainder_by_minus_one_is_zero() {
        let ii = || vec![Type::Int, Type::Int];
        let op = |op, rhs| program(ii(), cmp(CmpOp::Eq, arith(op, slot(0), slot(1)), rhs));
        let rem = op(ArithOp::Rem, k(Value::Int(0)));
        for x in [i64::MIN, i64::MIN + 1, -7, 0, 7, i64::MAX] {
            assert_eq!(run(&rem, &[Value::Int(x), Value::Int(-1)]), Ok(true), "{x}");
        }
        assert_eq!(
            run(&rem, &[Value::Int(i64::MIN), Value::Int(0)]),
            Err(format!("rule t.p#1: {} % 0: division by zero", i64::MIN))
        );
        let rem = op(ArithOp::Rem, k(Value::Int(-1)));
        assert_eq!(run(&rem, &[Value::Int(-7), Value::Int(3)]), Ok(true));
        let div = op(ArithOp::Div, k(Value::Int(0)));
        assert_eq!(
            run(&div, &[Value::Int(i64::MIN), Value::Int(-1)]),
            Err(format!("rule t.p#1: {} / -1 overflows", i64::MIN))
        );
    }

    #[test]
    fn division_by_zero_and_rounding() {
        let div = |params, rhs| {
            program(
                params,
                cmp(CmpOp::Eq, arith(ArithOp::Div, slot(0), slot(1)), rhs),
            )
        };
        let p = div(dd(), k(dec("0.3333333333333333333333333333")));
        assert_eq!(
            run(&p, &[dec("1"), dec("0.00")]),
            Err("rule t.p#1: 1 / 0.00: division by zero".into())
        );
        assert_eq!(run(&p, &[dec("1"), dec("3")]), Ok(true));
        let p = div(dd(), k(dec("0.6666666666666666666666666667")));
        assert_eq!(run(&p, &[dec("2"), dec("3")]), Ok(true));
        let p = div(
            vec![Type::Money, Type::Int],
            k(money("3.3333333333333333333333333333", "EUR")),
        );
        assert_eq!(
            run(&p, &[money("10", "EUR"), Value::Int(0)]),
            Err("rule t.p#1: 10 / 0: division by zero".into())
        );
        assert_eq!(run(&p, &[money("10", "EUR"), Value::Int(3)]), Ok(true));
        let rem = program(
            dd(),
            cmp(
                CmpOp::Eq,
                arith(ArithOp::Rem, slot(0), slot(1)),
                k(dec("0")),
            ),
        );
        assert_eq!(
            run(&rem, &[dec("1"), dec("3")]),
            Err("rule t.p#1: `%` is for Int only".into())
        );
    }

    #[test]
    fn currencies_must_match() {
        let mm = vec![Type::Money, Type::Money];
        let add = program(
            mm.clone(),
            cmp(
                CmpOp::Gt,
                arith(ArithOp::Add, slot(0), slot(1)),
                k(money("0", "EUR")),
            ),
        );
        assert_eq!(
            run(&add, &[money("1", "EUR"), money("1", "USD")]),
            Err("rule t.p#1: money in EUR + money in USD: mixed currencies".into())
        );
        // A currency no constant has (an input string's id) is named in the message too.
        assert_eq!(
            run(&add, &[money("1", "JPY"), money("1", "GBP")]),
            Err("rule t.p#1: money in JPY + money in GBP: mixed currencies".into())
        );
        assert_eq!(
            run(&add, &[money("1", "EUR"), money("-1", "EUR")]),
            Ok(false)
        );
        let lt = program(mm, cmp(CmpOp::Lt, slot(0), slot(1)));
        assert_eq!(
            run(&lt, &[money("1", "USD"), money("2", "EUR")]),
            Err("rule t.p#1: comparing money in USD with money in EUR".into())
        );
        // In a range, `lo <= v` is ordered first: its currencies fail before the absent `hi`.
        let range = program(
            vec![
                Type::Money,
                Type::Money,
                Type::Optional(Box::new(Type::Money)),
            ],
            Expr::InRange {
                value: b(slot(1)),
                lo: b(slot(0)),
                hi: b(slot(2)),
                inclusive: false,
            },
        );
        assert_eq!(
            run(
                &range,
                &[money("1", "USD"), money("2", "EUR"), Value::Absent]
            ),
            Err("rule t.p#1: comparing money in USD with money in EUR".into())
        );
        assert_eq!(
            run(
                &range,
                &[money("1", "EUR"), money("2", "EUR"), Value::Absent]
            ),
            Err("rule t.p#1: comparing an absent value".into())
        );
        assert_eq!(
            run(
                &range,
                &[money("1", "EUR"), money("2", "EUR"), money("2.00", "EUR")]
            ),
            Ok(false)
        );
    }

    #[test]
    fn absent_decimals_fail_or_default_like_the_interpreter() {
        let od = vec![Type::Optional(Box::new(Type::Decimal)), Type::Decimal];
        let add = program(
            od.clone(),
            cmp(
                CmpOp::Gt,
                arith(ArithOp::Add, slot(0), slot(1)),
                k(dec("0")),
            ),
        );
        assert_eq!(
            run(&add, &[Value::Absent, dec("1")]),
            Err("rule t.p#1: absent + Decimal: absent where a value is needed".into())
        );
        let dflt = program(
            od.clone(),
            cmp(
                CmpOp::Eq,
                Expr::Default(b(slot(0)), b(slot(1))),
                k(dec("7.0")),
            ),
        );
        assert_eq!(run(&dflt, &[Value::Absent, dec("7")]), Ok(true));
        assert_eq!(run(&dflt, &[dec("6.99"), dec("7")]), Ok(false));
        let eq = program(od, cmp(CmpOp::Eq, slot(0), k(Value::Absent)));
        assert_eq!(run(&eq, &[Value::Absent, dec("1")]), Ok(true));
        assert_eq!(run(&eq, &[dec("0"), dec("1")]), Ok(false));
        // An `if` joining a decimal with an absent one, compared for equality.
        let join = program(
            vec![Type::Bool, Type::Decimal],
            cmp(
                CmpOp::Eq,
                Expr::If(b(slot(0)), b(slot(1)), b(k(Value::Absent))),
                k(dec("1")),
            ),
        );
        assert_eq!(run(&join, &[Value::Bool(false), dec("1")]), Ok(false));
        assert_eq!(run(&join, &[Value::Bool(true), dec("1.000")]), Ok(true));
    }

    /// A decision ranked by Decimals (and by nothing: an Int 0, compared by value; and by a
    /// failing division: below every rank) ranks as the interpreter does, ties in written order.
    #[test]
    fn decisions_rank_by_decimals() {
        use crate::ir::{DecisionDef, Proposal};
        let mut program = program(dd(), cmp(CmpOp::Gt, slot(0), slot(1)));
        let prop = |line: u32, rank: Option<Expr>| Proposal {
            action: "t.act".into(),
            args: vec![slot(0), slot(1)],
            rank,
            condition: None,
            source: SourceRef {
                line,
                ..SourceRef::default()
            },
        };
        program.decisions = vec![DecisionDef {
            name: "d".into(),
            qualified: "t.d".into(),
            params: program.policies[0].params.clone(),
            now_slot: None,
            slots: 2,
            proposals: vec![
                prop(1, None),
                prop(2, Some(slot(0))),
                prop(3, Some(arith(ArithOp::Div, slot(0), slot(1)))),
                prop(4, Some(k(dec("-1.5")))),
                prop(5, Some(slot(1))),
                prop(6, Some(k(dec("2.50")))),
            ],
        }];
        let jit = compile(&program);
        assert_eq!(jit.decision_unsupported(0), None);
        let mut lines_seen = Vec::new();
        for (x, y) in [("2.5", "1"), ("1", "0"), ("-3", "2.500"), ("2.5", "2.5")] {
            let args = [dec(x), dec(y)];
            let expected = interp::rank(&program, 0, &args, 0, &NoSignals);
            let actual = jit.decide_decision(0, &args, 0);
            assert_eq!(actual.as_ref(), Some(&expected), "{x} {y}");
            let lines: Vec<u32> = expected.unwrap().iter().map(|c| c.line).collect();
            lines_seen.push(lines);
        }
        // 2.5 / 1: 2.5 (line 2), 2.5 (3), 2.50 (6), 1 (5), the Int 0 (1), then -1.5 (4).
        assert_eq!(lines_seen[0], [2, 3, 6, 5, 1, 4]);
        // 1 / 0 fails: its candidate is last, below -1.5; the Int 0 (1) and 0 (5) tie.
        assert_eq!(lines_seen[1], [6, 2, 1, 5, 4, 3]);
    }

    /// A decision's candidates on a set argument given out of order and with repeats, through
    /// `decide_decision` and through the public steps (`bind_decision`, `run_decision`,
    /// `candidates` given the values as bound): their arguments hold the canonical set, as the
    /// interpreter's do.
    #[test]
    fn candidates_arguments_are_canonical_on_both_paths() {
        use crate::ir::{DecisionDef, Proposal};
        let ints = |xs: &[i64]| Value::List(xs.iter().map(|&x| Value::Int(x)).collect());
        let set = Type::Set(Box::new(Type::Int));
        let mut program = program(vec![set], cmp(CmpOp::Eq, slot(0), k(ints(&[1, 3]))));
        program.decisions = vec![DecisionDef {
            name: "d".into(),
            qualified: "t.d".into(),
            params: program.policies[0].params.clone(),
            now_slot: None,
            slots: 1,
            proposals: vec![Proposal {
                action: "t.act".into(),
                args: vec![slot(0)],
                rank: None,
                condition: None,
                source: SourceRef::default(),
            }],
        }];
        let jit = compile(&program);
        assert_eq!(jit.decision_unsupported(0), None);
        let given = [ints(&[3, 1, 3])];
        let want = interp::rank(&program, 0, &given, 0, &NoSignals).expect("ranks");
        assert_eq!(want.len(), 1);
        assert_eq!(want[0].args, [ints(&[1, 3])]);
        assert_eq!(want[0].decision.reasons, ["hit"]);
        assert_eq!(jit.decide_decision(0, &given, 0), Some(Ok(want.clone())));
        let input = jit.bind_decision(0, &given).expect("binds");
        let mut out = jit.decision_output(0);
        jit.run_decision(&input, 0, &mut out).expect("runs");
        assert_eq!(jit.candidates(&input, &out, &given, 0), want);
    }

    /// Ranks a decision whose proposal `i` (at line `i + 1`) is ranked by `ranks[i]` on `args`
    /// with both engines: they must agree, the JIT must compile it (with wide ranks if `wide`);
    /// gives the candidates' lines in ranked order.
    fn ranked_lines(
        params: Vec<Type>,
        ranks: Vec<Option<Expr>>,
        args: &[Value],
        wide: bool,
    ) -> Vec<u32> {
        use crate::ir::{DecisionDef, Proposal};
        let mut program = program(params, cmp(CmpOp::Gt, slot(0), slot(1)));
        let proposals = (1..)
            .zip(ranks)
            .map(|(line, rank)| Proposal {
                action: "t.act".into(),
                args: vec![slot(0), slot(1)],
                rank,
                condition: None,
                source: SourceRef {
                    line,
                    ..SourceRef::default()
                },
            })
            .collect();
        program.decisions = vec![DecisionDef {
            name: "d".into(),
            qualified: "t.d".into(),
            params: program.policies[0].params.clone(),
            now_slot: None,
            slots: 2,
            proposals,
        }];
        let jit = compile(&program);
        assert_eq!(jit.decision_unsupported(0), None);
        assert_eq!(jit.decision_output(0).wide, wide);
        let expected = interp::rank(&program, 0, args, 0, &NoSignals);
        assert_eq!(jit.decide_decision(0, args, 0).as_ref(), Some(&expected));
        expected.unwrap().iter().map(|c| c.line).collect()
    }

    /// Int and Decimal ranks compare by value (language.md §5.10), ties in written order, and a
    /// candidate whose own evaluation failed ranks below every real rank: even a Decimal below
    /// `i64::MIN`, and (one-word Int ranks) a real `i64::MIN`.
    #[test]
    fn decisions_rank_ints_and_decimals_by_value() {
        let int = |n: i64| Some(k(Value::Int(n)));
        let d = |s: &str| Some(k(dec(s)));
        let one = [dec("1"), dec("1")];
        // 100, -5.0 and no rank (0): 100 first, -5.0 last.
        assert_eq!(
            ranked_lines(dd(), vec![int(100), d("-5.0"), None], &one, true),
            [1, 3, 2]
        );
        assert_eq!(
            ranked_lines(dd(), vec![d("-5.0"), None, int(100)], &one, true),
            [3, 2, 1]
        );
        assert_eq!(
            ranked_lines(dd(), vec![int(2), d("2.5")], &one, true),
            [2, 1]
        );
        assert_eq!(
            ranked_lines(dd(), vec![d("2.5"), int(2)], &one, true),
            [1, 2]
        );
        assert_eq!(
            ranked_lines(dd(), vec![int(-1), d("-0.5")], &one, true),
            [2, 1]
        );
        assert_eq!(
            ranked_lines(dd(), vec![d("-0.5"), int(-1)], &one, true),
            [1, 2]
        );
        // Equal values tie: written order.
        assert_eq!(
            ranked_lines(dd(), vec![int(3), d("3.0")], &one, true),
            [1, 2]
        );
        assert_eq!(
            ranked_lines(dd(), vec![d("3.0"), int(3)], &one, true),
            [1, 2]
        );
        assert_eq!(
            ranked_lines(dd(), vec![int(0), None, d("0.00")], &one, true),
            [1, 2, 3]
        );
        // 1 / 0 fails: below -1e28 (below `i64::MIN`'s value) and below a real `i64::MIN`.
        let div = Some(arith(ArithOp::Div, slot(0), slot(1)));
        let by_zero = [dec("1"), dec("0")];
        let very_low = d("-10000000000000000000000000000");
        assert_eq!(
            ranked_lines(
                dd(),
                vec![div.clone(), very_low.clone(), int(i64::MIN)],
                &by_zero,
                true
            ),
            [3, 2, 1]
        );
        assert_eq!(
            ranked_lines(dd(), vec![very_low, div.clone()], &by_zero, true),
            [1, 2]
        );
        // One-word Int ranks: a failed candidate written first still goes below `i64::MIN`.
        let ii = vec![Type::Int, Type::Int];
        let by_zero = [Value::Int(1), Value::Int(0)];
        assert_eq!(
            ranked_lines(
                ii.clone(),
                vec![div.clone(), int(i64::MIN), int(5)],
                &by_zero,
                false
            ),
            [3, 2, 1]
        );
        assert_eq!(
            ranked_lines(
                ii.clone(),
                vec![int(i64::MIN), div.clone(), div, int(i64::MIN)],
                &by_zero,
                false
            ),
            [1, 4, 2, 3]
        );
        assert_eq!(
            ranked_lines(
                ii,
                vec![int(2), int(i64::MIN), None, int(2)],
                &[Value::Int(1), Value::Int(1)],
                false
            ),
            [1, 4, 3, 2]
        );
    }

    #[test]
    fn words_round_trip() {
        for d in [
            Decimal::MAX,
            Decimal::MIN,
            Decimal::new(-1, 28),
            Decimal::ZERO,
        ] {
            assert_eq!(dec_of(dec_words(&d)), d);
            assert_eq!(dec_of(dec_words(&d)).to_string(), d.to_string());
        }
    }

    fn t(s: &str) -> Value {
        Value::text(s)
    }

    /// `cond`, with every text of `consts` made a constant of the program (so that inputs
    /// equal to them get constant ids): `(a0 in consts or true) and cond`.
    fn with_consts(consts: &[&str], cond: Expr) -> Expr {
        let list: Vec<Value> = consts.iter().map(|c| t(c)).collect();
        let mention = Expr::Or(
            b(Expr::In(b(slot(0)), b(k(Value::List(Arc::from(list)))))),
            b(k(Value::Bool(true))),
        );
        Expr::And(b(mention), b(cond))
    }

    /// Pairs of texts whose order the tests spell out: `(a, b, a.cmp(b))` by code points, which
    /// is the order of their UTF-8 bytes (not UTF-16's, not a collation's).
    fn text_pairs() -> Vec<(&'static str, &'static str, std::cmp::Ordering)> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        vec![
            ("ab", "abc", Less),
            ("abc", "ab", Greater),
            ("abc", "abc", Equal),
            ("", "a", Less),
            ("", "", Equal),
            ("Z", "a", Less),
            ("z", "é", Less),
            ("é", "z", Greater),
            ("e\u{301}", "é", Less),
            ("\u{FFFF}", "\u{10000}", Less),
            ("b", "ab", Greater),
        ]
    }

    #[test]
    fn texts_order_by_code_points_like_the_interpreter() {
        let tt = vec![Type::Text, Type::Text];
        let all: Vec<&str> = text_pairs().iter().flat_map(|(a, b, _)| [*a, *b]).collect();
        for (op, holds) in [
            (
                CmpOp::Lt,
                std::cmp::Ordering::is_lt as fn(std::cmp::Ordering) -> bool,
            ),
            (CmpOp::Le, std::cmp::Ordering::is_le),
            (CmpOp::Gt, std::cmp::Ordering::is_gt),
            (CmpOp::Ge, std::cmp::Ordering::is_ge),
        ] {
            // input/input: texts no constant has, then texts that are all constants
            let fresh = program(tt.clone(), cmp(op, slot(0), slot(1)));
            let known = program(tt.clone(), with_consts(&all, cmp(op, slot(0), slot(1))));
            for (x, y, order) in text_pairs() {
                let want = Ok(holds(order));
                assert_eq!(run(&fresh, &[t(x), t(y)]), want, "{x:?} {op:?} {y:?}");
                assert_eq!(run(&known, &[t(x), t(y)]), want, "{x:?} {op:?} {y:?}");
                // constant/input, input/constant, constant/constant
                let ci = program(vec![Type::Text], cmp(op, k(t(x)), slot(0)));
                assert_eq!(run(&ci, &[t(y)]), want, "{x:?} {op:?} {y:?}");
                let ic = program(vec![Type::Text], cmp(op, slot(0), k(t(y))));
                assert_eq!(run(&ic, &[t(x)]), want, "{x:?} {op:?} {y:?}");
                let cc = program(vec![Type::Text], cmp(op, k(t(x)), k(t(y))));
                assert_eq!(run(&cc, &[t("")]), want, "{x:?} {op:?} {y:?}");
                // constant ids not folded: chosen at run time
                let pick = Expr::If(
                    b(cmp(CmpOp::Eq, slot(0), k(t("first")))),
                    b(k(t(x))),
                    b(k(t("other"))),
                );
                let cc = program(vec![Type::Text], cmp(op, pick, k(t(y))));
                assert_eq!(run(&cc, &[t("first")]), want, "{x:?} {op:?} {y:?}");
            }
        }
    }

    #[test]
    fn text_ranges_and_absent_texts_order_like_the_interpreter() {
        let range = |inclusive| {
            program(
                vec![Type::Text],
                Expr::InRange {
                    value: b(slot(0)),
                    lo: b(k(t("b"))),
                    hi: b(k(t("d"))),
                    inclusive,
                },
            )
        };
        for (x, half_open, closed) in [
            ("a", false, false),
            ("b", true, true),
            ("bz", true, true),
            ("d", false, true),
            ("d\u{0}", false, false),
            ("é", false, false),
        ] {
            assert_eq!(run(&range(false), &[t(x)]), Ok(half_open), "{x:?}");
            assert_eq!(run(&range(true), &[t(x)]), Ok(closed), "{x:?}");
        }
        let opt = program(
            vec![Type::Optional(Box::new(Type::Text)), Type::Text],
            cmp(CmpOp::Lt, slot(0), slot(1)),
        );
        assert_eq!(
            run(&opt, &[Value::Absent, t("a")]),
            Err("rule t.p#1: comparing an absent value".into())
        );
        assert_eq!(run(&opt, &[t("a"), t("b")]), Ok(true));
    }

    #[test]
    fn concatenations_get_the_ids_of_equal_texts() {
        let ttt = vec![Type::Text; 4];
        let concat = |x, y| arith(ArithOp::Add, x, y);
        // equal to a constant
        let to_const = program(
            ttt.clone(),
            cmp(CmpOp::Eq, concat(slot(0), k(t("!"))), k(t("no!"))),
        );
        assert_eq!(run(&to_const, &[t("no"), t(""), t(""), t("")]), Ok(true));
        assert_eq!(run(&to_const, &[t("ye"), t(""), t(""), t("")]), Ok(false));
        // equal to an input string (no constant), or not
        let to_input = program(
            ttt.clone(),
            cmp(CmpOp::Eq, concat(slot(0), slot(1)), slot(2)),
        );
        let args = |a: &str, b2: &str, c: &str, d: &str| [t(a), t(b2), t(c), t(d)];
        assert_eq!(run(&to_input, &args("ab", "c", "abc", "")), Ok(true));
        assert_eq!(run(&to_input, &args("ab", "c", "ab", "c")), Ok(false));
        assert_eq!(run(&to_input, &args("a", "bc", "abc", "")), Ok(true));
        assert_eq!(run(&to_input, &args("", "", "", "x")), Ok(true));
        assert_eq!(run(&to_input, &args("é", "", "é", "")), Ok(true));
        // equal to another concatenation, either side computed
        let to_concat = program(
            ttt.clone(),
            cmp(
                CmpOp::Eq,
                concat(slot(0), slot(1)),
                concat(slot(2), slot(3)),
            ),
        );
        assert_eq!(run(&to_concat, &args("ab", "c", "a", "bc")), Ok(true));
        assert_eq!(run(&to_concat, &args("ab", "c", "a", "b")), Ok(false));
        assert_eq!(run(&to_concat, &args("", "", "", "")), Ok(true));
        assert_eq!(run(&to_concat, &args("x", "", "", "x")), Ok(true));
        let ne = program(
            ttt.clone(),
            cmp(
                CmpOp::Ne,
                concat(slot(0), slot(1)),
                concat(slot(2), slot(3)),
            ),
        );
        assert_eq!(run(&ne, &args("ab", "c", "a", "bc")), Ok(false));
        assert_eq!(run(&ne, &args("ab", "c", "ab", "d")), Ok(true));
        // a concatenation of concatenations, ordered against an input and a constant
        let ordered = program(
            ttt.clone(),
            Expr::And(
                b(cmp(
                    CmpOp::Lt,
                    concat(concat(slot(0), slot(1)), k(t("b"))),
                    slot(2),
                )),
                b(cmp(CmpOp::Ge, concat(slot(0), slot(0)), k(t("aa")))),
            ),
        );
        assert_eq!(run(&ordered, &args("a", "", "ac", "")), Ok(true));
        assert_eq!(run(&ordered, &args("a", "", "ab", "")), Ok(false));
        assert_eq!(run(&ordered, &args("a", "é", "az", "")), Ok(false));
        assert_eq!(run(&ordered, &args("", "", "c", "")), Ok(false));
        // `in` a constant list
        let member = program(
            ttt,
            Expr::In(
                b(concat(slot(0), slot(1))),
                b(k(Value::List(Arc::from(vec![t("gold"), t("vip")])))),
            ),
        );
        assert_eq!(run(&member, &args("go", "ld", "", "")), Ok(true));
        assert_eq!(run(&member, &args("", "vip", "", "")), Ok(true));
        assert_eq!(run(&member, &args("v", "i", "", "")), Ok(false));
    }

    #[test]
    fn a_long_chain_of_concatenations() {
        // ((a0 + a0) + a1) + a0 … 64 times on the left, a1 + (a0 + (a1 + … a1)) on the right
        let mut left = slot(0);
        let mut right = slot(1);
        for i in 0..64 {
            left = arith(ArithOp::Add, left, slot(i % 2));
            right = arith(ArithOp::Add, slot(1 - i % 2), right);
        }
        let tt = vec![Type::Text, Type::Text];
        let want = format!("a{}", "ab".repeat(32));
        let eq = program(tt.clone(), cmp(CmpOp::Eq, left.clone(), k(t(&want))));
        assert_eq!(run(&eq, &[t("a"), t("b")]), Ok(true));
        assert_eq!(run(&eq, &[t("a"), t("c")]), Ok(false));
        assert_eq!(run(&eq, &[t(""), t("")]), Ok(false));
        // the right chain is "ab" * 32 + "b": above the left one
        let lt = program(tt.clone(), cmp(CmpOp::Lt, left.clone(), right.clone()));
        assert_eq!(run(&lt, &[t("a"), t("b")]), Ok(true));
        assert_eq!(run(&lt, &[t("é"), t("é")]), Ok(false));
        assert_eq!(run(&lt, &[t("b"), t("a")]), Ok(false));
        let eq = program(tt, cmp(CmpOp::Eq, left, right));
        assert_eq!(run(&eq, &[t("é"), t("é")]), Ok(true));
        assert_eq!(run(&eq, &[t(""), t("")]), Ok(true));
    }

    #[test]
    fn concatenating_an_absent_text_fails_like_the_interpreter() {
        let p = program(
            vec![Type::Optional(Box::new(Type::Text)), Type::Text],
            cmp(CmpOp::Eq, arith(ArithOp::Add, slot(1), slot(0)), k(t("x"))),
        );
        assert_eq!(
            run(&p, &[Value::Absent, t("x")]),
            Err("rule t.p#1: Text + absent: absent where a value is needed".into())
        );
        assert_eq!(run(&p, &[t(""), t("x")]), Ok(true));
    }

    /// One output reused across runs: every run starts with an empty scratch area, so ids of
    /// an earlier run's texts do not leak into the next.
    #[test]
    fn the_text_scratch_area_is_reused_across_runs() {
        let concat = |x, y| arith(ArithOp::Add, x, y);
        let p = program(
            vec![Type::Text; 3],
            Expr::And(
                b(cmp(CmpOp::Eq, concat(slot(0), slot(1)), slot(2))),
                b(cmp(CmpOp::Lt, concat(slot(1), slot(0)), k(t("m")))),
            ),
        );
        let jit = compile(&p);
        assert_eq!(jit.unsupported(0), None);
        let mut out = jit.output(0);
        let cases = [
            ["a", "b", "ab"],
            ["long text ", "here", "long text here"],
            ["x", "y", "yx"],
            ["", "", ""],
            ["zz", "a", "zza"],
            ["a", "b", "ab"],
        ];
        for _ in 0..3 {
            for c in cases {
                let args: Vec<Value> = c.iter().map(|s| t(s)).collect();
                let input = jit.bind(0, &args).expect("binds");
                jit.run(&input, 0, &mut out).expect("runs");
                // this run's two concatenations at most: nothing kept from earlier runs
                assert!(out.texts.ends.len() <= 2, "{:?}", out.texts);
                let expected = interp::decide(&p, 0, &args, 0, &NoSignals);
                assert_eq!(jit.decision(&input, &out), expected, "{c:?}");
            }
        }
        let cap = out.texts.buf.capacity();
        for c in cases {
            let args: Vec<Value> = c.iter().map(|s| t(s)).collect();
            let input = jit.bind(0, &args).expect("binds");
            jit.run(&input, 0, &mut out).expect("runs");
        }
        assert_eq!(
            out.texts.buf.capacity(),
            cap,
            "the steady state allocates nothing"
        );
    }

    /// Inputs read by the JSON reader number their strings themselves: concatenations and
    /// ordering see them the same.
    #[test]
    fn concatenations_see_the_strings_of_a_json_input() {
        let concat = |x, y| arith(ArithOp::Add, x, y);
        let p = program(
            vec![Type::Text; 3],
            Expr::And(
                b(cmp(CmpOp::Eq, concat(slot(0), slot(1)), slot(2))),
                b(cmp(CmpOp::Lt, slot(2), concat(slot(1), k(t("m"))))),
            ),
        );
        let jit = compile(&p);
        assert_eq!(jit.unsupported(0), None);
        let mut reader = jit.json_reader(0).expect("a reader");
        let mut input = Bound::empty();
        let mut out = jit.output(0);
        let mut fired = 0;
        for (x, y, z) in [
            ("a", "b", "ab"),
            ("a", "m", "am"),
            ("é", "a", "éa"),
            ("a", "é", "aé"),
            ("b", "a", "ab"),
            ("", "", ""),
        ] {
            let json = format!(r#"{{"a0": {x:?}, "a1": {y:?}, "a2": {z:?}}}"#);
            reader
                .bind_json_into(&jit, &json, &mut input)
                .expect("reads");
            jit.run(&input, 0, &mut out).expect("runs");
            let expected = interp::decide(&p, 0, &[t(x), t(y), t(z)], 0, &NoSignals);
            assert_eq!(jit.decision(&input, &out), expected, "{json}");
            fired += usize::from(expected.verdict == Verdict::Deny);
        }
        assert_eq!(fired, 4);
    }

    fn list(xs: Vec<Value>) -> Value {
        Value::List(Arc::from(xs))
    }

    fn list_of(t: Type) -> Type {
        Type::List(Box::new(t))
    }

    fn set_of(t: Type) -> Type {
        Type::Set(Box::new(t))
    }

    fn opt(t: Type) -> Type {
        Type::Optional(Box::new(t))
    }

    /// Every list of up to `n` elements drawn from `pool` (with repeats, in every order).
    fn lists_from(pool: &[Value], n: usize) -> Vec<Value> {
        let mut out = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..n {
            let mut next = Vec::new();
            for l in &last {
                for v in pool {
                    let mut l2: Vec<Value> = l.clone();
                    l2.push(v.clone());
                    next.push(l2);
                }
            }
            out.extend(next.iter().cloned());
            last = next;
        }
        out.into_iter().map(list).collect()
    }

    /// The lists of `lists_from` that are canonical sets (strictly increasing), each set of
    /// the pool once: a set given to `decide` in another order or with repeats is made
    /// canonical before either engine decides on it (`interp::canonical`), so it would only
    /// repeat one of these.
    fn sets_from(pool: &[Value], n: usize) -> Vec<Value> {
        lists_from(pool, n)
            .into_iter()
            .filter(|l| {
                let Value::List(xs) = l else { return false };
                xs.windows(2).all(|w| w[0] < w[1])
            })
            .collect()
    }

    /// Runs `p` on every pair of `xs` × `ys` (the first two parameters) with both engines
    /// (`run` requires them to agree); gives how many pairs made the rule fire.
    fn pairs(p: &Program, xs: &[Value], ys: &[Value], rest: &[Value]) -> usize {
        let jit = compile(p);
        assert_eq!(jit.unsupported(0), None);
        let mut hits = 0;
        for x in xs {
            for y in ys {
                let mut args = vec![x.clone(), y.clone()];
                args.extend(rest.iter().cloned());
                let expected = interp::decide(p, 0, &args, 0, &NoSignals);
                assert_eq!(jit.decide(0, &args, 0), Some(expected.clone()), "{args:?}");
                hits += usize::from(expected.error.is_none() && expected.verdict == Verdict::Deny);
            }
        }
        hits
    }

    #[test]
    fn lists_of_the_input_compare_element_by_element() {
        let ints = lists_from(&[Value::Int(1), Value::Int(2)], 3);
        let ll = vec![list_of(Type::Int), list_of(Type::Int)];
        let eq = program(ll.clone(), cmp(CmpOp::Eq, slot(0), slot(1)));
        // Each list equals only itself.
        assert_eq!(pairs(&eq, &ints, &ints, &[]), ints.len());
        let ne = program(ll, cmp(CmpOp::Ne, slot(0), slot(1)));
        assert_eq!(
            pairs(&ne, &ints, &ints, &[]),
            ints.len() * ints.len() - ints.len()
        );
        // Decimals compare as numbers, whatever their scale.
        let decs = lists_from(&[dec("1"), dec("1.0"), dec("2.50")], 2);
        let dd = vec![list_of(Type::Decimal), set_of(Type::Decimal)];
        let eq = program(dd, cmp(CmpOp::Eq, slot(0), slot(1)));
        let sets = sets_from(&[dec("1.00"), dec("2.5")], 2);
        let hits = pairs(&eq, &decs, &sets, &[]);
        assert!(hits > 4, "{hits}");
        assert_eq!(
            run(
                &eq,
                &[
                    list(vec![dec("1"), dec("2.50")]),
                    list(vec![dec("1.00"), dec("2.5")])
                ]
            ),
            Ok(true)
        );
        // Money: amounts as numbers, currencies must match.
        let mm = vec![list_of(Type::Money), list_of(Type::Money)];
        let eq = program(mm, cmp(CmpOp::Eq, slot(0), slot(1)));
        let monies = lists_from(
            &[money("1.0", "EUR"), money("1", "USD"), money("1.00", "EUR")],
            2,
        );
        assert!(pairs(&eq, &monies, &monies, &[]) > monies.len());
        // Texts of the input, equal to constants or not.
        let tt = vec![list_of(Type::Text), list_of(Type::Text)];
        let eq = program(tt, cmp(CmpOp::Eq, slot(0), slot(1)));
        let texts = lists_from(&[t("a"), t("é"), t("zz")], 2);
        assert_eq!(pairs(&eq, &texts, &texts, &[]), texts.len());
        // Two empty lists are equal whatever their element types; others are not.
        let it = vec![list_of(Type::Int), list_of(Type::Text)];
        let eq = program(it, cmp(CmpOp::Eq, slot(0), slot(1)));
        let texts = lists_from(&[t("a")], 2);
        let ints = lists_from(&[Value::Int(1)], 2);
        assert_eq!(pairs(&eq, &ints, &texts, &[]), 1);
        // Lists of optionals: absent elements are equal to each other, whatever the types.
        let oo = vec![list_of(opt(Type::Int)), list_of(opt(Type::Text))];
        let eq = program(oo, cmp(CmpOp::Eq, slot(0), slot(1)));
        let ints = lists_from(&[Value::Int(1), Value::Absent], 2);
        let texts = lists_from(&[t("a"), Value::Absent], 2);
        assert_eq!(pairs(&eq, &ints, &texts, &[]), 3);
        // Lists of lists.
        let nested = lists_from(&lists_from(&[Value::Int(1), Value::Int(2)], 1), 2);
        let ll = vec![list_of(list_of(Type::Int)), list_of(list_of(Type::Int))];
        let eq = program(ll, cmp(CmpOp::Eq, slot(0), slot(1)));
        assert_eq!(pairs(&eq, &nested, &nested, &[]), nested.len());
    }

    #[test]
    fn records_holding_lists_compare_their_lists() {
        let mut p = program(
            vec![Type::Record(0), Type::Record(0)],
            cmp(CmpOp::Eq, slot(0), slot(1)),
        );
        p.records = vec![crate::ir::RecordType {
            name: "t.R".into(),
            fields: vec![
                crate::ir::Field {
                    name: "tags".into(),
                    ty: set_of(Type::Text),
                    personal: false,
                },
                crate::ir::Field {
                    name: "amounts".into(),
                    ty: opt(list_of(Type::Decimal)),
                    personal: false,
                },
            ],
        }];
        let r = |tags: Value, amounts: Value| Value::Record(0, Arc::from(vec![tags, amounts]));
        let mut values = Vec::new();
        for tags in sets_from(&[t("a"), t("b")], 2) {
            for amounts in [
                Value::Absent,
                list(vec![]),
                list(vec![dec("1.0")]),
                list(vec![dec("1")]),
            ] {
                values.push(r(tags.clone(), amounts));
            }
        }
        // Pairs equal: same tags, and amounts both absent, both empty or both one.
        let tag_sets = sets_from(&[t("a"), t("b")], 2).len();
        assert_eq!(pairs(&p, &values, &values, &[]), tag_sets * (1 + 1 + 4));
        // `in` a list of records holding lists.
        let mut member = p.clone();
        member.policies[0].params[1].ty = list_of(Type::Record(0));
        member.policies[0].rules[0].condition = Some(Expr::In(b(slot(0)), b(slot(1))));
        let some = list(values[..5].to_vec());
        for v in &values {
            run(&member, &[v.clone(), some.clone()]).ok();
        }
    }

    #[test]
    fn set_literals_are_canonical_like_the_interpreters() {
        // An input set is canonical when decided on (sorted, unique), as is the literal.
        let ints = sets_from(&[Value::Int(1), Value::Int(2), Value::Int(3)], 3);
        let lit = |es: Vec<Expr>| Expr::Set(es);
        let params = vec![set_of(Type::Int), Type::Int, Type::Int];
        // Constants, with a duplicate.
        let consts = program(
            params.clone(),
            cmp(
                CmpOp::Eq,
                slot(0),
                lit(vec![k(Value::Int(2)), k(Value::Int(1)), k(Value::Int(2))]),
            ),
        );
        assert_eq!(pairs(&consts, &ints, &[Value::Int(0)], &[Value::Int(0)]), 1);
        // Computed elements, with duplicates among them, on either side.
        for left in [false, true] {
            let l = lit(vec![slot(1), k(Value::Int(2)), slot(2)]);
            let cond = if left {
                cmp(CmpOp::Eq, l, slot(0))
            } else {
                cmp(CmpOp::Eq, slot(0), l)
            };
            let p = program(params.clone(), cond);
            let mut hits = 0;
            for x in 0..4 {
                for y in 0..4 {
                    hits += pairs(&p, &ints, &[Value::Int(x)], &[Value::Int(y)]);
                }
            }
            // One set of the pool per (x, y) in 1..=3 (0 is in no set of the pool): {x, 2, y}
            // sorted and without duplicates.
            assert_eq!(hits, 9);
            assert_eq!(
                run(
                    &p,
                    &[
                        list(vec![Value::Int(1), Value::Int(2)]),
                        Value::Int(1),
                        Value::Int(1)
                    ]
                ),
                Ok(true)
            );
            assert_eq!(
                run(
                    &p,
                    &[
                        list(vec![Value::Int(2), Value::Int(1), Value::Int(2)]),
                        Value::Int(1),
                        Value::Int(1)
                    ]
                ),
                // Given out of order and with a repeat, the set is still {1, 2}.
                Ok(true)
            );
        }
        // Texts and decimals: ordered by text, and by number (a scale does not matter).
        let tp = vec![set_of(Type::Text), Type::Text];
        let p = program(tp, cmp(CmpOp::Eq, slot(0), lit(vec![slot(1), k(t("m"))])));
        let texts = sets_from(&[t("a"), t("m"), t("é")], 2);
        assert!(pairs(&p, &texts, &[t("a"), t("é"), t("m"), t("z")], &[]) >= 3);
        let dp = vec![set_of(Type::Decimal), Type::Decimal];
        let p = program(
            dp,
            cmp(CmpOp::Eq, slot(0), lit(vec![slot(1), k(dec("2.0"))])),
        );
        let decs = sets_from(&[dec("1"), dec("2"), dec("-1.50")], 2);
        assert!(pairs(&p, &decs, &[dec("1.0"), dec("2.00"), dec("-1.5")], &[]) >= 3);
        // Money: by amount, then currency.
        let mp = vec![set_of(Type::Money), Type::Money];
        let p = program(
            mp,
            cmp(CmpOp::Eq, slot(0), lit(vec![slot(1), k(money("1", "EUR"))])),
        );
        let ms = sets_from(
            &[money("1", "USD"), money("1.0", "EUR"), money("0.5", "EUR")],
            2,
        );
        assert!(
            pairs(
                &p,
                &ms,
                &[money("1", "USD"), money("1.00", "EUR"), money("0.5", "EUR")],
                &[]
            ) >= 3
        );
        // A list (not a set) of the input against a set literal: the same rule.
        let lp = vec![list_of(Type::Int), Type::Int];
        let p = program(
            lp,
            cmp(CmpOp::Eq, slot(0), lit(vec![slot(1), k(Value::Int(2))])),
        );
        let ls = lists_from(&[Value::Int(1), Value::Int(2)], 3);
        assert_eq!(pairs(&p, &ls, &[Value::Int(1), Value::Int(2)], &[]), 2);
        // An element that fails fails the comparison, whatever the list.
        let fp = vec![set_of(Type::Int), Type::Int];
        let p = program(
            fp,
            cmp(
                CmpOp::Eq,
                slot(0),
                lit(vec![arith(ArithOp::Add, slot(1), k(Value::Int(1)))]),
            ),
        );
        assert!(run(&p, &[list(vec![]), Value::Int(i64::MAX)]).is_err());
        assert_eq!(
            run(&p, &[list(vec![Value::Int(3)]), Value::Int(2)]),
            Ok(true)
        );
    }

    #[test]
    fn optional_lists_fail_or_compare_like_the_interpreter() {
        let ol = vec![opt(list_of(Type::Int)), opt(set_of(Type::Int))];
        let lists = {
            let mut v = lists_from(&[Value::Int(1), Value::Int(2)], 2);
            v.push(Value::Absent);
            v
        };
        let sets = {
            let mut v = sets_from(&[Value::Int(1), Value::Int(2)], 2);
            v.push(Value::Absent);
            v
        };
        // `==` never fails: absent equals absent only.
        let eq = program(ol.clone(), cmp(CmpOp::Eq, slot(0), slot(1)));
        assert!(pairs(&eq, &lists, &sets, &[]) > 1);
        assert_eq!(run(&eq, &[Value::Absent, Value::Absent]), Ok(true));
        assert_eq!(run(&eq, &[Value::Absent, list(vec![])]), Ok(false));
        let lit = program(
            ol.clone(),
            cmp(CmpOp::Eq, slot(0), Expr::List(vec![k(Value::Int(1))])),
        );
        assert_eq!(pairs(&lit, &lists, &sets, &[]), sets.len());
        // `in`, quantifiers and `count` fail on an absent list.
        let member = program(ol.clone(), Expr::In(b(k(Value::Int(1))), b(slot(0))));
        pairs(&member, &lists, &sets, &[]);
        assert!(run(&member, &[Value::Absent, Value::Absent]).is_err());
        let any = program(
            ol.clone(),
            Expr::Quantify {
                quantifier: Quantifier::Any,
                list: b(slot(1)),
                slot: 2,
                body: Some(b(cmp(CmpOp::Gt, slot(2), k(Value::Int(1))))),
            },
        );
        let mut any = any;
        any.policies[0].slots = 3;
        pairs(&any, &lists, &sets, &[]);
        let count = program(
            ol.clone(),
            cmp(
                CmpOp::Gt,
                Expr::Quantify {
                    quantifier: Quantifier::Count,
                    list: b(slot(0)),
                    slot: 0,
                    body: None,
                },
                k(Value::Int(0)),
            ),
        );
        pairs(&count, &lists, &sets, &[]);
        // A default makes it a list again.
        let dflt = program(
            ol.clone(),
            Expr::In(
                b(k(Value::Int(2))),
                b(Expr::Default(b(slot(0)), b(slot(1)))),
            ),
        );
        assert!(pairs(&dflt, &lists, &sets, &[]) > 0);
        // Constant lists (as the IR may hold them): compared as they are, and as defaults.
        let two = || k(list(vec![Value::Int(2), Value::Int(1)]));
        for cond in [
            cmp(CmpOp::Eq, slot(0), two()),
            cmp(CmpOp::Ne, two(), slot(1)),
            cmp(CmpOp::Eq, Expr::Default(b(slot(0)), b(two())), slot(1)),
            cmp(CmpOp::Eq, k(Value::Int(2)), two()),
            cmp(CmpOp::Eq, k(Value::Absent), k(list(vec![]))),
        ] {
            pairs(&program(ol.clone(), cond), &lists, &sets, &[]);
        }
        // `??` a list or set literal of constants: a list value of the input's layout.
        let ol = vec![opt(list_of(Type::Int)), opt(set_of(Type::Text)), Type::Int];
        let lists = {
            let mut v = lists_from(&[Value::Int(1), Value::Int(2)], 2);
            v.push(Value::Absent);
            v
        };
        let sets = {
            let mut v = sets_from(&[t("a"), t("b")], 2);
            v.push(Value::Absent);
            v
        };
        let ints = |xs: &[i64]| Expr::List(xs.iter().map(|&n| k(Value::Int(n))).collect());
        let texts = |xs: &[&str]| Expr::Set(xs.iter().map(|&x| k(t(x))).collect());
        let dflt = |e: Expr| Expr::Default(b(slot(0)), b(e));
        let dflt_set = |e: Expr| Expr::Default(b(slot(1)), b(e));
        let count = |l: Expr| Expr::Quantify {
            quantifier: Quantifier::Count,
            list: b(l),
            slot: 3,
            body: Some(b(cmp(CmpOp::Ge, slot(3), k(Value::Int(2))))),
        };
        for cond in [
            Expr::In(b(slot(2)), b(dflt(ints(&[])))),
            Expr::In(b(slot(2)), b(dflt(ints(&[2, 1, 2])))),
            cmp(CmpOp::Eq, dflt(ints(&[1, 2])), ints(&[1, 2])),
            cmp(CmpOp::Eq, count(dflt(ints(&[3, 2, 1]))), slot(2)),
            cmp(
                CmpOp::Eq,
                dflt_set(texts(&["b", "a", "b"])),
                texts(&["a", "b"]),
            ),
            cmp(
                CmpOp::Eq,
                dflt_set(texts(&[])),
                Expr::Default(b(slot(1)), b(texts(&["a"]))),
            ),
            Expr::In(b(k(t("b"))), b(dflt_set(texts(&["b", "c"])))),
        ] {
            let mut p = program(ol.clone(), cond);
            p.policies[0].slots = 4;
            for n in 0..3 {
                pairs(&p, &lists, &sets, &[Value::Int(n)]);
            }
        }
    }

    #[test]
    fn optional_intrinsic_arguments_fail_like_the_interpreter() {
        let p = program(
            vec![opt(Type::Int), opt(Type::Time), opt(Type::Tz)],
            Expr::Or(
                b(cmp(
                    CmpOp::Gt,
                    Expr::Intrinsic(Intrinsic::Hours, vec![slot(0)]),
                    k(Value::Duration(3_600_000)),
                )),
                b(cmp(
                    CmpOp::Eq,
                    Expr::Intrinsic(Intrinsic::LocalHour, vec![slot(1), slot(2)]),
                    k(Value::Int(1)),
                )),
            ),
        );
        let tz = Value::Tz(Arc::from("Europe/Paris"));
        for n in [
            Value::Absent,
            Value::Int(1),
            Value::Int(2),
            Value::Int(i64::MAX),
        ] {
            for time in [Value::Absent, Value::Time(0)] {
                for z in [Value::Absent, tz.clone()] {
                    let r = run(&p, &[n.clone(), time.clone(), z]);
                    if n == Value::Absent {
                        assert_eq!(
                            r,
                            Err("rule t.p#1: hours: argument 1 is absent, not an Int".to_string())
                        );
                    }
                }
            }
        }
        assert_eq!(
            run(&p, &[Value::Int(0), Value::Time(0), Value::Absent]),
            Err("rule t.p#1: local_hour: argument 2 is absent, not a Tz".to_string())
        );
    }

    #[test]
    fn many_concatenation_results_are_found_by_content() {
        // Per element: `x + "!"` (new or repeated) and `y + "!"` (repeated every time after
        // the first), so the index of results grows, finds repeats, and is reused across runs.
        let concat = |x, y| arith(ArithOp::Add, x, y);
        let mut p = program(
            vec![list_of(Type::Text), Type::Text],
            cmp(
                CmpOp::Ge,
                Expr::Quantify {
                    quantifier: Quantifier::Count,
                    list: b(slot(0)),
                    slot: 2,
                    body: Some(b(cmp(
                        CmpOp::Eq,
                        concat(slot(2), k(t("!"))),
                        concat(slot(1), k(t("!"))),
                    ))),
                },
                k(Value::Int(3)),
            ),
        );
        p.policies[0].slots = 3;
        let jit = compile(&p);
        assert_eq!(jit.unsupported(0), None);
        let mut out = jit.output(0);
        let words: Vec<String> = (0..300).map(|i| format!("w{}", i % 97)).collect();
        for round in 0..3 {
            for n in [0, 1, 5, 40, 300] {
                let xs = list(words[..n].iter().map(|w| t(w)).collect());
                for y in ["w1", "w96", "none", "w3!"] {
                    let args = [xs.clone(), t(y)];
                    let input = jit.bind(0, &args).expect("binds");
                    jit.run(&input, 0, &mut out).expect("runs");
                    let expected = interp::decide(&p, 0, &args, 0, &NoSignals);
                    assert_eq!(jit.decision(&input, &out), expected, "{round} {n} {y}");
                    // one result per distinct text: 97 words with "!", and `y + "!"`
                    assert!(out.texts.ends.len() <= 98, "{}", out.texts.ends.len());
                }
            }
        }
        let caps = (out.texts.buf.capacity(), out.texts.index.capacity());
        let xs = list(words.iter().map(|w| t(w)).collect());
        let input = jit.bind(0, &[xs, t("w5")]).expect("binds");
        jit.run(&input, 0, &mut out).expect("runs");
        assert_eq!(
            (out.texts.buf.capacity(), out.texts.index.capacity()),
            caps,
            "the steady state allocates nothing"
        );
    }

    /// Adds text `s` to `texts` and checks the index's answer against a search through
    /// `model` (this run's distinct texts in order), which it then updates.
    fn add_and_compare(texts: &mut Texts, model: &mut Vec<String>, s: &str) {
        let start = texts.buf.len();
        texts.buf.push_str(s);
        let want = match model.iter().position(|m| m == s) {
            Some(k) => Ok(k),
            None => Err(model.len()),
        };
        assert_eq!(texts.find_or_add(start), want, "{s:?} among {model:?}");
        if want.is_err() {
            model.push(s.to_string());
        }
        assert_eq!(texts.ends.len(), model.len());
        assert_eq!(
            texts.span(model.len() - 1).map(|(_, e)| e),
            Some(texts.buf.len())
        );
    }

    /// The index of a run's computed texts gives what a search through the run's earlier
    /// texts gives, over runs of many short texts (most of them repeats, so that equal hashes'
    /// tags and long probe sequences occur), empty runs and clears; the steady state keeps its
    /// capacity, and a table left large by a big run is dropped once runs are small again.
    #[test]
    fn the_texts_index_agrees_with_a_search() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut texts = Texts::default();
        let mut runs: Vec<Vec<String>> = Vec::new();
        for run in 0..60 {
            texts.clear();
            let mut model = Vec::new();
            // Every fifth run computes nothing; the others up to 800 texts of 0 to 3 letters
            // out of 5 (156 distinct texts).
            let n = if run % 5 == 0 { 0 } else { next(800) };
            let mut given = Vec::new();
            for _ in 0..n {
                let len = next(4);
                let s: String = (0..len).map(|_| char::from(b'a' + next(5) as u8)).collect();
                add_and_compare(&mut texts, &mut model, &s);
                given.push(s);
            }
            for (k, m) in model.iter().enumerate() {
                assert_eq!(text_in(&texts.buf, &texts.ends, k), Some(m.as_str()));
            }
            runs.push(given);
        }
        // The same runs again: the same answers, and nothing allocated.
        let caps = (texts.buf.capacity(), texts.index.capacity());
        for _ in 0..3 {
            for given in &runs {
                texts.clear();
                let mut model = Vec::new();
                for s in given {
                    add_and_compare(&mut texts, &mut model, s);
                }
            }
        }
        assert_eq!(
            (texts.buf.capacity(), texts.index.capacity()),
            caps,
            "the steady state allocates nothing"
        );
        // One run of 5,000 distinct texts, then runs of a few: the big table is emptied and
        // kept at the first small run's first text (the last run filled it), dropped at the
        // second's (the last run filed 3 texts), and the small runs' table is then kept.
        texts.clear();
        let mut model = Vec::new();
        for i in 0..5000 {
            add_and_compare(&mut texts, &mut model, &format!("t{i}"));
        }
        texts.clear();
        assert!(texts.index.capacity() > TEXTS_KEEP, "kept after a big run");
        let small = |texts: &mut Texts| {
            texts.clear();
            let mut model = Vec::new();
            for s in ["x", "y", "x", "t7", "y"] {
                add_and_compare(texts, &mut model, s);
            }
        };
        small(&mut texts);
        assert!(texts.index.capacity() > TEXTS_KEEP, "kept after a big run");
        small(&mut texts);
        let cap = texts.index.capacity();
        assert!(cap <= TEXTS_KEEP, "{cap} slots kept for runs of 3 texts");
        for _ in 0..10 {
            small(&mut texts);
        }
        assert_eq!(texts.index.capacity(), cap, "the small runs' table is kept");
    }

    #[test]
    fn list_literals_are_values() {
        let q = |quantifier, list: Expr, body: Option<Expr>| Expr::Quantify {
            quantifier,
            list: b(list),
            slot: 9,
            body: body.map(b),
        };
        let int = |n: i64| k(Value::Int(n));
        let ints = [Value::Absent, Value::Int(1), Value::Int(3)];
        // Optional elements, absent ones included, in quantifiers and comparisons.
        let params = vec![opt(Type::Int), opt(Type::Int)];
        let gt2 = cmp(CmpOp::Gt, slot(9), int(2));
        for cond in [
            q(
                Quantifier::Any,
                Expr::List(vec![slot(0), slot(1), int(0)]),
                Some(cmp(CmpOp::Eq, slot(9), int(3))),
            ),
            q(
                Quantifier::All,
                Expr::List(vec![slot(0), int(3)]),
                Some(Expr::IsPresent(b(slot(9)))),
            ),
            cmp(
                CmpOp::Eq,
                q(
                    Quantifier::Count,
                    Expr::List(vec![slot(0), slot(0), slot(1)]),
                    None,
                ),
                int(3),
            ),
            cmp(
                CmpOp::Eq,
                Expr::List(vec![slot(0), slot(1)]),
                Expr::List(vec![slot(1), slot(0)]),
            ),
            cmp(
                CmpOp::Ne,
                Expr::List(vec![slot(0)]),
                Expr::Set(vec![int(1)]),
            ),
            q(
                Quantifier::Any,
                Expr::Set(vec![int(3), int(1), int(3)]),
                Some(gt2.clone()),
            ),
            q(
                Quantifier::Any,
                k(list(vec![Value::Int(1), Value::Int(5)])),
                Some(gt2.clone()),
            ),
            q(Quantifier::All, Expr::List(vec![]), Some(gt2.clone())),
            Expr::In(
                b(slot(0)),
                b(Expr::If(
                    b(Expr::IsPresent(b(slot(1)))),
                    // (Both lists of Int: lists of different element types do not join.)
                    b(Expr::List(vec![
                        Expr::Default(b(slot(1)), b(int(0))),
                        int(1),
                    ])),
                    b(Expr::List(vec![int(3)])),
                )),
            ),
        ] {
            let mut p = program(params.clone(), cond);
            p.policies[0].slots = 10;
            pairs(&p, &ints, &ints, &[]);
        }
        // Decimals, money and records are copied from where they are, only when present.
        let decs = [Value::Absent, dec("1.0"), dec("2")];
        let dp = vec![opt(Type::Decimal), list_of(opt(Type::Decimal))];
        let dl = lists_from(&[dec("1"), dec("2.00"), Value::Absent], 2);
        let p = program(
            dp.clone(),
            cmp(CmpOp::Eq, slot(1), Expr::List(vec![slot(0), k(dec("2"))])),
        );
        assert!(pairs(&p, &decs, &dl, &[]) >= 2);
        let p = program(
            dp,
            cmp(
                CmpOp::Eq,
                slot(1),
                Expr::List(vec![Expr::If(
                    b(Expr::IsPresent(b(slot(0)))),
                    b(slot(0)),
                    b(k(Value::Absent)),
                )]),
            ),
        );
        pairs(&p, &decs, &dl, &[]);
        let mut rp = program(
            vec![opt(Type::Record(0)), list_of(Type::Record(0))],
            cmp(CmpOp::Eq, Expr::List(vec![slot(0), slot(0)]), slot(1)),
        );
        rp.records = vec![crate::ir::RecordType {
            name: "t.R".into(),
            fields: vec![
                crate::ir::Field {
                    name: "m".into(),
                    ty: Type::Money,
                    personal: false,
                },
                crate::ir::Field {
                    name: "tags".into(),
                    ty: set_of(Type::Text),
                    personal: false,
                },
            ],
        }];
        let r = |m: &str, tags: Vec<&str>| {
            Value::Record(
                0,
                Arc::from(vec![
                    money(m, "EUR"),
                    list(tags.into_iter().map(t).collect()),
                ]),
            )
        };
        let rs = [
            Value::Absent,
            r("1", vec!["a"]),
            r("1.0", vec!["a"]),
            r("1", vec![]),
        ];
        let rls = lists_from(&rs[1..], 2);
        assert!(pairs(&rp, &rs, &rls, &[]) >= 4);
        // An empty literal joins a list of any type, and holds no record for an intrinsic.
        let ep = vec![Type::Bool, list_of(Type::Text)];
        let window = || k(Value::Duration(1000));
        for cond in [
            cmp(
                CmpOp::Eq,
                Expr::Intrinsic(
                    Intrinsic::ContactsWithin,
                    vec![Expr::List(vec![]), window()],
                ),
                k(Value::Int(0)),
            ),
            Expr::In(
                b(k(t("a"))),
                b(Expr::If(b(slot(0)), b(Expr::List(vec![])), b(slot(1)))),
            ),
            cmp(
                CmpOp::Eq,
                Expr::If(b(slot(0)), b(slot(1)), b(k(list(vec![])))),
                Expr::List(vec![]),
            ),
        ] {
            let texts = lists_from(&[t("a"), t("b")], 2);
            pairs(
                &program(ep.clone(), cond),
                &[Value::Bool(false), Value::Bool(true)],
                &texts,
                &[],
            );
        }
        // Set literals of computed elements as values: sorted, without repeats (the first of
        // equal elements kept), optional elements first when absent.
        let q9 = |quantifier, list: Expr, body: Option<Expr>| {
            let mut e = q(quantifier, list, body);
            if let Expr::Quantify { slot, .. } = &mut e {
                *slot = 9;
            }
            e
        };
        let params = vec![opt(Type::Int), opt(Type::Int)];
        for cond in [
            cmp(
                CmpOp::Eq,
                q9(
                    Quantifier::Count,
                    Expr::Set(vec![slot(0), slot(1), slot(0), int(1)]),
                    None,
                ),
                int(2),
            ),
            cmp(
                CmpOp::Eq,
                Expr::List(vec![int(1), slot(0)]),
                Expr::Set(vec![slot(1), slot(0), int(1)]),
            ),
            cmp(
                CmpOp::Eq,
                Expr::Set(vec![slot(0), slot(1)]),
                Expr::Set(vec![slot(1), slot(0), slot(1)]),
            ),
            Expr::In(
                b(k(Value::Int(3))),
                b(Expr::Default(
                    b(k(Value::Absent)),
                    b(Expr::Set(vec![slot(1), slot(0)])),
                )),
            ),
        ] {
            let mut p = program(params.clone(), cond);
            p.policies[0].slots = 10;
            pairs(&p, &ints, &ints, &[]);
        }
        let decs = [Value::Absent, dec("1.0"), dec("1"), dec("-2.5")];
        let dls = lists_from(&[Value::Absent, dec("1"), dec("-2.50")], 3);
        let p = program(
            vec![opt(Type::Decimal), opt(Type::Decimal)],
            cmp(
                CmpOp::Eq,
                Expr::List(vec![slot(1)]),
                Expr::Set(vec![slot(0), k(dec("1.00")), slot(0)]),
            ),
        );
        assert!(pairs(&p, &decs, &decs, &[]) >= 2);
        let p = program(
            vec![
                opt(Type::Decimal),
                opt(Type::Decimal),
                list_of(opt(Type::Decimal)),
            ],
            cmp(
                CmpOp::Eq,
                slot(2),
                Expr::Set(vec![slot(0), k(dec("1.00")), slot(1)]),
            ),
        );
        for l in &dls {
            pairs(&p, &decs, &decs, std::slice::from_ref(l));
        }
        let tp = vec![Type::Text, Type::Text, list_of(Type::Text)];
        let p = program(
            tp,
            cmp(
                CmpOp::Eq,
                Expr::Set(vec![slot(1), k(t("m")), slot(0)]),
                slot(2),
            ),
        );
        let tls = lists_from(&[t("a"), t("m"), t("é")], 3);
        let words = [t("a"), t("m"), t("é")];
        for l in &tls {
            pairs(&p, &words, &words, std::slice::from_ref(l));
        }
        // A list of lists of the input.
        let lp = vec![list_of(Type::Int), list_of(list_of(Type::Int))];
        let p = program(
            lp,
            cmp(
                CmpOp::Eq,
                Expr::List(vec![slot(0), k(list(vec![Value::Int(1)]))]),
                slot(1),
            ),
        );
        let il = lists_from(&[Value::Int(1), Value::Int(2)], 1);
        let ill = lists_from(&il, 2);
        assert!(pairs(&p, &il, &ill, &[]) >= 3);
    }
}

#[cfg(test)]
mod signal_tests {
    //! Signal reads and `swapped_within` in compiled code: the JIT against the interpreter with
    //! the same source, down to the reads each makes, and the expected results spelled out.
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::*;
    use crate::interp::FixedSignals;
    use crate::ir::build::{self, b, cmp, rule, slot};
    use crate::ir::{DecisionDef, EnumType, Field as RField, Param, Proposal};
    use crate::ir::{RecordType, Rule, SignalDecl, SourceRef};

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    /// The decision time of the tests.
    const NOW: i64 = 1_780_000_000_000;

    /// Record types: 0 Customer { id: Id, msisdn: Text }, 1 SimSwap (std.camara's), 2 Info
    /// { name: Text, score: Int?, tier: Tier, note: Text?, since: Time }, 3 Tags { tags:
    /// List<Text> }, 4 Ints { ns: List<Int> }; enum 0 Tier.
    fn types() -> (Vec<RecordType>, Vec<EnumType>) {
        let f = |name: &str, ty: Type| RField {
            name: name.into(),
            ty,
            personal: false,
        };
        let opt = |t: Type| Type::Optional(Box::new(t));
        (
            vec![
                RecordType {
                    name: "t.Customer".into(),
                    fields: vec![f("id", Type::Id), f("msisdn", Type::Text)],
                },
                RecordType {
                    name: "std.camara.SimSwap".into(),
                    fields: vec![
                        f("swapped", Type::Bool),
                        f("latest_swap", opt(Type::Time)),
                        f("monitored_period", opt(Type::Duration)),
                    ],
                },
                RecordType {
                    name: "t.Info".into(),
                    fields: vec![
                        f("name", Type::Text),
                        f("score", opt(Type::Int)),
                        f("tier", Type::Enum(0)),
                        f("note", opt(Type::Text)),
                        f("since", Type::Time),
                    ],
                },
                RecordType {
                    name: "t.Tags".into(),
                    fields: vec![f("tags", Type::List(Box::new(Type::Text)))],
                },
                RecordType {
                    name: "t.Ints".into(),
                    fields: vec![f("ns", Type::List(Box::new(Type::Int)))],
                },
            ],
            vec![EnumType {
                name: "t.Tier".into(),
                variants: vec!["gold".into(), "silver".into()],
            }],
        )
    }

    /// Signals: 0 `sim_swap(c: Customer): SimSwap`, 1 `info(n: Text): Info`, 2 `level(n: Int):
    /// Int`, 3 `tags(c: Customer): Tags`, 4 `zone(c: Customer): Tz`, 5 `doubled(xs: List<Int>):
    /// Ints`, 6 `price(c: Customer): Money`, 7 `odd(n: Int): Int??` (a nested optional).
    fn signals() -> Vec<SignalDecl> {
        let decl = |name: &str, param: Type, ty: Type| SignalDecl {
            name: format!("t.{name}"),
            params: vec![Param {
                name: "x".into(),
                ty: param,
            }],
            ty,
            source: "test".into(),
            source_args: Vec::new(),
            max_age_ms: None,
        };
        vec![
            decl("sim_swap", Type::Record(0), Type::Record(1)),
            decl("info", Type::Text, Type::Record(2)),
            decl("level", Type::Int, Type::Int),
            decl("tags", Type::Record(0), Type::Record(3)),
            decl("zone", Type::Record(0), Type::Tz),
            decl("doubled", Type::List(Box::new(Type::Int)), Type::Record(4)),
            decl("price", Type::Record(0), Type::Money),
            decl(
                "odd",
                Type::Int,
                Type::Optional(Box::new(Type::Optional(Box::new(Type::Int)))),
            ),
        ]
    }

    /// One policy over `params` (and the decision time in the next slot) with `rules`.
    fn program(params: Vec<Type>, rules: Vec<Rule>) -> Program {
        let (records, enums) = types();
        let n = params.len() as u32;
        let mut p = build::program(params, rules);
        p.policies[0].slots = n + 1;
        p.policies[0].now_slot = Some(n);
        Program {
            records,
            enums,
            signals: signals(),
            ..p
        }
    }

    /// A source answering `answer(signal, args)` and keeping every read, in order.
    struct Log<F: Fn(u32, &[Value]) -> Value> {
        answer: F,
        reads: RefCell<Vec<(u32, Vec<Value>, Value)>>,
    }

    impl<F: Fn(u32, &[Value]) -> Value> Log<F> {
        fn new(answer: F) -> Self {
            Log {
                answer,
                reads: RefCell::new(Vec::new()),
            }
        }

        fn take(&self) -> Vec<(u32, Vec<Value>, Value)> {
            self.reads.take()
        }
    }

    impl<F: Fn(u32, &[Value]) -> Value> Signals for Log<F> {
        fn read(&self, signal: u32, _decl: &SignalDecl, args: &[Value]) -> Value {
            let v = (self.answer)(signal, args);
            self.reads
                .borrow_mut()
                .push((signal, args.to_vec(), v.clone()));
            v
        }
    }

    fn t(s: &str) -> Value {
        Value::text(s)
    }

    fn customer(msisdn: &str) -> Value {
        Value::Record(0, Arc::from(vec![Value::Id(Arc::from("c1")), t(msisdn)]))
    }

    fn swap(latest: Option<i64>, period: Option<i64>) -> Value {
        Value::Record(
            1,
            Arc::from(vec![
                Value::Bool(latest.is_some()),
                latest.map_or(Value::Absent, Value::Time),
                period.map_or(Value::Absent, Value::Duration),
            ]),
        )
    }

    /// Decides policy 0 with both engines on the same answers; requires the JIT to have
    /// compiled it, the same decision and the same reads. Gives the decision and the reads.
    fn both(
        p: &Program,
        args: &[Value],
        answer: impl Fn(u32, &[Value]) -> Value,
    ) -> (Decision, Vec<(u32, Vec<Value>, Value)>) {
        let jit = compile(p);
        assert_eq!(jit.unsupported(0), None);
        let log = Log::new(answer);
        let expected = interp::decide(p, 0, args, NOW, &log);
        let interp_reads = log.take();
        let actual = jit.decide_with_signals(0, args, NOW, &log);
        assert_eq!(actual.as_ref(), Some(&expected), "{args:?}");
        assert_eq!(log.take(), interp_reads, "the reads differ on {args:?}");
        (expected, interp_reads)
    }

    fn read(i: u32, arg: Expr) -> Expr {
        Expr::Signal(i, vec![arg])
    }

    /// `sim_swap(c) is absent or sim_swap(c).swapped_within(window)`, the bundled policies'
    /// condition.
    fn fraud(window: Expr) -> Program {
        let s = || read(0, slot(0));
        let cond = Expr::Or(
            b(Expr::Not(b(Expr::IsPresent(b(s()))))),
            b(Expr::Intrinsic(Intrinsic::SwappedWithin, vec![s(), window])),
        );
        program(
            vec![Type::Record(0), Type::Optional(Box::new(Type::Duration))],
            vec![
                rule(1, Verdict::Deny, "recent-or-unknown", Some(cond)),
                rule(2, Verdict::Allow, "ok", None),
            ],
        )
    }

    fn denied(d: &Decision) -> bool {
        assert_eq!(d.error, None);
        d.verdict == Verdict::Deny
    }

    #[test]
    fn present_absent_and_out_of_contract_values() {
        let p = fraud(Expr::Const(Value::Duration(DAY)));
        let args = [customer("+33612345678"), Value::Absent];
        let cases: Vec<(Value, bool)> = vec![
            (Value::Absent, true),
            (swap(Some(NOW - HOUR), None), true),
            (swap(Some(NOW - 2 * DAY), None), false),
            // Out of contract, so absent: another kind, another record, a field of another
            // type, a missing field.
            (Value::Int(3), true),
            (customer("x"), true),
            (
                Value::Record(
                    1,
                    Arc::from(vec![Value::Int(1), Value::Absent, Value::Absent]),
                ),
                true,
            ),
            (Value::Record(1, Arc::from(vec![Value::Bool(false)])), true),
        ];
        for (answer, deny) in cases {
            let (d, reads) = both(&p, &args, |_, _| answer.clone());
            assert_eq!(denied(&d), deny, "{answer:?}");
            // Read once (memoised), with the customer as its argument.
            assert_eq!(reads.len(), 1);
            assert_eq!(reads[0].1, vec![args[0].clone()]);
        }
        // Without a source, every read is absent: the JIT's `decide` is the interpreter's with
        // `NoSignals`.
        let jit = compile(&p);
        let expected = interp::decide(&p, 0, &args, NOW, &NoSignals);
        assert_eq!(jit.decide(0, &args, NOW), Some(expected.clone()));
        assert_eq!(expected.reasons, ["recent-or-unknown"]);
        let fixed = FixedSignals(vec![(0, swap(Some(NOW - 3 * DAY), Some(DAY)))]);
        let expected = interp::decide(&p, 0, &args, NOW, &fixed);
        assert_eq!(
            jit.decide_with_signals(0, &args, NOW, &fixed),
            Some(expected.clone())
        );
        assert_eq!(expected.reasons, ["ok"]);
    }

    #[test]
    fn swapped_within_edge_cases() {
        let p = fraud(Expr::Const(Value::Duration(DAY)));
        let args = [customer("+33612345678"), Value::Absent];
        let cases = [
            // At the window's start is within it; a millisecond before is not.
            (swap(Some(NOW - DAY), None), true),
            (swap(Some(NOW - DAY - 1), None), false),
            // In the future.
            (swap(Some(NOW + DAY), None), true),
            // Undisclosed date: a monitored period covering the window rules a swap out.
            (swap(None, Some(DAY)), false),
            (swap(None, Some(2 * DAY)), false),
            (swap(None, Some(DAY - 1)), true),
            (swap(None, None), true),
            // A latest swap decides, whatever the period.
            (swap(Some(NOW - 2 * DAY), Some(HOUR)), false),
            (swap(Some(i64::MIN), None), false),
            (swap(Some(i64::MAX), None), true),
        ];
        for (answer, deny) in cases {
            let (d, _) = both(&p, &args, |_, _| answer.clone());
            assert_eq!(denied(&d), deny, "{answer:?}");
        }
        // Windows that would overflow `now - window` in 64 bits are compared exactly.
        for (window, latest, deny) in [
            (i64::MAX, i64::MIN, false),
            (i64::MIN, i64::MAX, false),
            (i64::MIN + 1, NOW + 1, false),
            (-HOUR, NOW + HOUR, true),
            (-HOUR, NOW + HOUR - 1, false),
        ] {
            let p = fraud(slot(1));
            let args = [customer("+1"), Value::Duration(window)];
            let (d, _) = both(&p, &args, |_, _| swap(Some(latest), None));
            assert_eq!(denied(&d), deny, "{window} {latest}");
        }
        // A window read from an absent value, or a swap record that is absent, fail closed
        // with the interpreter's messages.
        let p = fraud(slot(1));
        let (d, _) = both(&p, &[customer("+1"), Value::Absent], |_, _| {
            swap(None, None)
        });
        assert_eq!(
            d.error.as_deref(),
            Some("rule t.p#1: swapped_within: argument 2 is absent, not a Duration")
        );
        let bare = program(
            vec![Type::Record(0)],
            vec![rule(
                1,
                Verdict::Deny,
                "recent",
                Some(Expr::Intrinsic(
                    Intrinsic::SwappedWithin,
                    vec![read(0, slot(0)), Expr::Const(Value::Duration(DAY))],
                )),
            )],
        );
        let (d, _) = both(&bare, &[customer("+1")], |_, _| Value::Absent);
        assert_eq!(
            d.error.as_deref(),
            Some("rule t.p#1: swapped_within: argument 1 is absent, not a SimSwap record")
        );
        let (d, _) = both(&bare, &[customer("+1")], |_, _| swap(None, Some(DAY)));
        assert_eq!((d.verdict, d.error), (Verdict::Deny, None));
    }

    #[test]
    fn reads_are_memoised_per_signal_and_arguments() {
        // level(a0) > 1, level(a0) > 2, level(a0 + 0) > 3, level(a1) > 4: three reads of the
        // same argument value, one of another.
        let lvl = |arg: Expr, n: i64| {
            Some(cmp(
                CmpOp::Gt,
                Expr::Default(b(read(2, arg)), b(Expr::Const(Value::Int(0)))),
                Expr::Const(Value::Int(n)),
            ))
        };
        let plus0 = Expr::Arith(ArithOp::Add, b(slot(0)), b(Expr::Const(Value::Int(0))));
        let p = program(
            vec![Type::Int, Type::Int],
            vec![
                rule(1, Verdict::Deny, "r1", lvl(slot(0), 1)),
                rule(2, Verdict::Deny, "r2", lvl(slot(0), 2)),
                rule(3, Verdict::Deny, "r3", lvl(plus0, 3)),
                rule(4, Verdict::Deny, "r4", lvl(slot(1), 4)),
                rule(5, Verdict::Allow, "ok", None),
            ],
        );
        let answer = |_: u32, a: &[Value]| match a {
            [Value::Int(n)] => Value::Int(n * 10),
            _ => Value::Absent,
        };
        let (d, reads) = both(&p, &[Value::Int(1), Value::Int(7)], answer);
        assert_eq!(d.reasons, ["r1", "r2", "r3", "r4"]);
        let args: Vec<&[Value]> = reads.iter().map(|r| r.1.as_slice()).collect();
        assert_eq!(args, [&[Value::Int(1)][..], &[Value::Int(7)][..]]);
        // Equal arguments: one read.
        let (_, reads) = both(&p, &[Value::Int(2), Value::Int(2)], answer);
        assert_eq!(reads.len(), 1);
        // Each decision reads afresh.
        let jit = compile(&p);
        let log = Log::new(answer);
        for _ in 0..3 {
            jit.decide_with_signals(0, &[Value::Int(1), Value::Int(1)], NOW, &log);
        }
        assert_eq!(log.take().len(), 3);
    }

    fn info(name: &str, score: Option<i64>, tier: u32, note: Option<&str>) -> Value {
        Value::Record(
            2,
            Arc::from(vec![
                t(name),
                score.map_or(Value::Absent, Value::Int),
                Value::Enum(0, tier),
                note.map_or(Value::Absent, t),
                Value::Time(NOW - HOUR),
            ]),
        )
    }

    #[test]
    fn texts_enums_and_optional_fields_of_a_value() {
        // info(a0): its name equal to the constant "gold", to the input's a1, and its note
        // (or "") concatenated with "!" equal to "new!"; its score ?? 0 above 5; its tier silver; its
        // note present; its time before now.
        let i = || read(1, slot(0));
        let f = |n: u32| Expr::Field(b(i()), n);
        let k = |v: Value| Expr::Const(v);
        let conds = vec![
            cmp(CmpOp::Eq, f(0), k(t("gold"))),
            cmp(CmpOp::Eq, f(0), slot(1)),
            cmp(
                CmpOp::Eq,
                Expr::Arith(
                    ArithOp::Add,
                    b(Expr::Default(b(f(3)), b(k(t(""))))),
                    b(k(t("!"))),
                ),
                k(t("new!")),
            ),
            cmp(
                CmpOp::Gt,
                Expr::Default(b(f(1)), b(k(Value::Int(0)))),
                k(Value::Int(5)),
            ),
            cmp(CmpOp::Eq, f(2), k(Value::Enum(0, 1))),
            Expr::IsPresent(b(f(3))),
            cmp(CmpOp::Lt, f(4), slot(2)),
            cmp(CmpOp::Lt, f(0), slot(1)),
        ];
        let mut rules: Vec<Rule> = conds
            .into_iter()
            .enumerate()
            .map(|(n, c)| rule(n + 1, Verdict::Deny, &format!("r{}", n + 1), Some(c)))
            .collect();
        rules.push(rule(99, Verdict::Allow, "ok", None));
        let mut p = program(vec![Type::Text, Type::Text], rules);
        p.policies[0].now_slot = Some(2);
        let jit = compile(&p);
        assert_eq!(jit.unsupported(0), None);
        let reasons = |a0: &str, a1: &str, v: Value| {
            let (d, reads) = both(&p, &[t(a0), t(a1)], |_, _| v.clone());
            assert_eq!(reads.len(), 1, "memoised");
            d.reasons
        };
        // A name equal to a constant, a note that is no text of the module or the input.
        assert_eq!(
            reasons("k", "zzz", info("gold", Some(9), 1, Some("new"))),
            ["r1", "r3", "r4", "r5", "r6", "r7", "r8"]
        );
        // A name equal to the input's second string, absent fields.
        assert_eq!(
            reasons("k", "fresh", info("fresh", None, 0, None)),
            ["r2", "r7"]
        );
        // A name equal to nothing known, and a note that is.
        assert_eq!(
            reasons("k", "a", info("brand new", Some(5), 0, Some("gold"))),
            ["r6", "r7"]
        );
        // An absent value fails where it is needed, as in the interpreter.
        let (d, _) = both(&p, &[t("k"), t("a")], |_, _| Value::Absent);
        assert!(d.error.is_some_and(|e| e.starts_with("rule t.p#1: ")));
    }

    #[test]
    fn the_arguments_are_the_interpreters_values() {
        // sim_swap(c) for the input's customer, then for its second (optional) customer,
        // absent or present (equal to the first: no second read), and info(c.msisdn + "?"),
        // a computed text.
        let cond = |e: Expr| Some(Expr::IsPresent(b(e)));
        let concat = Expr::Arith(
            ArithOp::Add,
            b(Expr::Field(b(slot(0)), 1)),
            b(Expr::Const(t("?"))),
        );
        let p = program(
            vec![Type::Record(0), Type::Optional(Box::new(Type::Record(0)))],
            vec![
                rule(1, Verdict::Deny, "a", cond(read(0, slot(0)))),
                rule(2, Verdict::Deny, "b", cond(read(0, slot(1)))),
                rule(3, Verdict::Deny, "c", cond(read(1, concat))),
                rule(4, Verdict::Allow, "ok", None),
            ],
        );
        for second in [Value::Absent, customer("+2"), customer("+1")] {
            let (_, reads) = both(&p, &[customer("+1"), second.clone()], |s, _| {
                if s == 0 {
                    swap(None, None)
                } else {
                    Value::Absent
                }
            });
            let args: Vec<Vec<Value>> = reads.into_iter().map(|r| r.1).collect();
            let mut want = vec![vec![customer("+1")]];
            if second != customer("+1") {
                want.push(vec![second.clone()]);
            }
            want.push(vec![t("+1?")]);
            assert_eq!(args, want);
        }
    }

    #[test]
    fn lists_in_values_and_arguments() {
        // "a" in tags(c).tags; count(tags(c).tags) == 2; any n > 5 in doubled(xs).ns, of the
        // input's list, and in doubled(doubled(xs).ns).ns, of a list just read.
        let tags = || Expr::Field(b(read(3, slot(0))), 0);
        let doubled = |arg: Expr| Expr::Field(b(read(5, arg)), 0);
        let k = |v: Value| Expr::Const(v);
        let count = |l: Expr| Expr::Quantify {
            quantifier: Quantifier::Count,
            list: b(l),
            slot: 2,
            body: None,
        };
        let any_big = |l: Expr| Expr::Quantify {
            quantifier: Quantifier::Any,
            list: b(l),
            slot: 2,
            body: Some(b(cmp(CmpOp::Gt, slot(2), k(Value::Int(5))))),
        };
        let mut p = program(
            vec![Type::Record(0), Type::List(Box::new(Type::Int))],
            vec![
                rule(
                    1,
                    Verdict::Deny,
                    "a",
                    Some(Expr::In(b(k(t("a"))), b(tags()))),
                ),
                rule(
                    2,
                    Verdict::Deny,
                    "two",
                    Some(cmp(CmpOp::Eq, count(tags()), k(Value::Int(2)))),
                ),
                rule(3, Verdict::Deny, "big", Some(any_big(doubled(slot(1))))),
                rule(
                    4,
                    Verdict::Deny,
                    "bigger",
                    Some(any_big(doubled(doubled(slot(1))))),
                ),
                rule(5, Verdict::Allow, "ok", None),
            ],
        );
        p.policies[0].slots = 4;
        p.policies[0].now_slot = Some(3);
        let list = |xs: &[i64]| Value::List(xs.iter().map(|&n| Value::Int(n)).collect());
        // Tags: "x" and "a" for the msisdn "+a", else the msisdn alone.
        let one = |r: u32, v: Value| Value::Record(r, Arc::from(vec![v]));
        let answer = |s: u32, a: &[Value]| match (s, a) {
            (3, [Value::Record(_, f)]) if f[1] == t("+a") => {
                one(3, Value::List(vec![t("x"), t("a")].into()))
            }
            (3, [Value::Record(_, f)]) => one(3, Value::List(vec![f[1].clone()].into())),
            (5, [Value::List(xs)]) => one(
                4,
                Value::List(
                    xs.iter()
                        .map(|x| match x {
                            Value::Int(n) => Value::Int(n * 2),
                            other => other.clone(),
                        })
                        .collect(),
                ),
            ),
            _ => Value::Absent,
        };
        let (d, reads) = both(&p, &[customer("+a"), list(&[1, 2])], answer);
        assert_eq!(d.reasons, ["a", "two", "bigger"]);
        assert_eq!(reads[1].1, vec![list(&[1, 2])]);
        assert_eq!(reads[2].1, vec![list(&[2, 4])]);
        let (d, _) = both(&p, &[customer("+b"), list(&[3])], answer);
        assert_eq!(d.reasons, ["big", "bigger"]);
        let (d, _) = both(&p, &[customer("+b"), list(&[])], answer);
        assert_eq!(d.reasons, ["ok"]);
    }

    #[test]
    fn money_read_from_a_signal() {
        use crate::ir::build::money;
        // price(c) > 10.00 EUR; (price(c) ?? 0 EUR) + 1.5 EUR == 12.5 EUR.
        let price = || read(6, slot(0));
        let k = |v: Value| Expr::Const(v);
        let p = program(
            vec![Type::Record(0)],
            vec![
                rule(
                    1,
                    Verdict::Deny,
                    "dear",
                    Some(cmp(CmpOp::Gt, price(), k(money("10.00", "EUR")))),
                ),
                rule(
                    2,
                    Verdict::Deny,
                    "eleven",
                    Some(cmp(
                        CmpOp::Eq,
                        Expr::Arith(
                            ArithOp::Add,
                            b(Expr::Default(b(price()), b(k(money("0", "EUR"))))),
                            b(k(money("1.5", "EUR"))),
                        ),
                        k(money("12.5", "EUR")),
                    )),
                ),
                rule(3, Verdict::Allow, "ok", None),
            ],
        );
        let (d, _) = both(&p, &[customer("+1")], |_, _| money("11.00", "EUR"));
        assert_eq!(d.reasons, ["dear", "eleven"]);
        let (d, _) = both(&p, &[customer("+1")], |_, _| money("9.99", "EUR"));
        assert_eq!(d.reasons, ["ok"]);
        // A currency that is no text of the module or the input is named in the message.
        let (d, _) = both(&p, &[customer("+1")], |_, _| money("11", "CHF"));
        assert_eq!(
            d.error.as_deref(),
            Some("rule t.p#1: comparing money in CHF with money in EUR")
        );
        let (d, _) = both(&p, &[customer("+1")], |_, _| Value::Absent);
        assert!(d.error.is_some_and(|e| e.starts_with("rule t.p#1: ")));
    }

    #[test]
    fn time_zones_read_from_a_signal() {
        // local_hour(now, zone(c) ?? UTC) for each hour; zone(c) == Asia/Tokyo (a Tz
        // constant); zone(c) == the input's zone; c.msisdn == "Australia/Sydney" (a Text
        // constant only).
        let k = |v: Value| Expr::Const(v);
        let tz = |s: &str| Value::Tz(Arc::from(s));
        let zone = || read(4, slot(0));
        let hour = Expr::Intrinsic(
            Intrinsic::LocalHour,
            vec![slot(2), Expr::Default(b(zone()), b(k(tz("UTC"))))],
        );
        let mut rules: Vec<Rule> = (0..24)
            .map(|h| {
                let c = cmp(CmpOp::Eq, hour.clone(), k(Value::Int(h)));
                rule(h as usize + 1, Verdict::Deny, &format!("h{h}"), Some(c))
            })
            .collect();
        rules.push(rule(
            25,
            Verdict::Deny,
            "tokyo",
            Some(cmp(CmpOp::Eq, zone(), k(tz("Asia/Tokyo")))),
        ));
        rules.push(rule(
            26,
            Verdict::Deny,
            "same",
            Some(cmp(CmpOp::Eq, zone(), slot(1))),
        ));
        rules.push(rule(
            27,
            Verdict::Deny,
            "sydney",
            Some(cmp(
                CmpOp::Eq,
                Expr::Field(b(slot(0)), 1),
                k(t("Australia/Sydney")),
            )),
        ));
        let mut p = program(vec![Type::Record(0), Type::Tz], rules);
        p.policies[0].now_slot = Some(2);
        p.policies[0].slots = 3;
        let reasons = |answer: &str| {
            let v = tz(answer);
            let (d, _) = both(&p, &[customer("+1"), tz("Europe/Paris")], |_, _| v.clone());
            d.reasons
        };
        let hour_of = |zone: &str| {
            let z = crate::intrinsics::time_zone(zone).expect("a zone");
            format!("h{}", z.field(NOW, Field::Hour).expect("in range"))
        };
        assert_eq!(
            reasons("Asia/Tokyo"),
            [hour_of("Asia/Tokyo"), "tokyo".into()]
        );
        assert_eq!(
            reasons("Europe/Paris"),
            [hour_of("Europe/Paris"), "same".into()]
        );
        // Neither a constant nor the input's: a computed id, whose zone only the host knows.
        assert_eq!(reasons("America/New_York"), [hour_of("America/New_York")]);
        // A Text constant's id, which is no Tz constant.
        assert_eq!(reasons("Australia/Sydney"), [hour_of("Australia/Sydney")]);
        // No such zone: out of contract, so absent, so UTC.
        assert_eq!(reasons("Not/AZone"), [hour_of("UTC")]);
    }

    #[test]
    fn what_the_layout_cannot_hold_is_refused_precisely() {
        let p = program(
            vec![Type::Int],
            vec![rule(
                1,
                Verdict::Deny,
                "x",
                Some(Expr::IsPresent(b(read(7, slot(0))))),
            )],
        );
        assert_eq!(
            compile(&p).unsupported(0),
            Some("reads signal t.odd, whose value is a nested optional")
        );
        let p = program(
            vec![Type::Record(0)],
            vec![rule(
                1,
                Verdict::Deny,
                "x",
                Some(Expr::IsPresent(b(Expr::Signal(0, vec![])))),
            )],
        );
        assert_eq!(
            compile(&p).unsupported(0),
            Some("reads signal t.sim_swap with 0 argument(s) where it takes 1")
        );
        let p = program(
            vec![Type::Record(0)],
            vec![rule(
                1,
                Verdict::Deny,
                "x",
                Some(Expr::IsPresent(b(read(9, slot(0))))),
            )],
        );
        assert_eq!(
            compile(&p).unsupported(0),
            Some("reads signal #9, which is not in the program")
        );
    }

    #[test]
    fn a_panicking_source_panics_the_caller_not_the_process() {
        let p = fraud(Expr::Const(Value::Duration(DAY)));
        let jit = compile(&p);
        let log = Log::new(|_, _| -> Value { panic!("the network is on fire") });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            jit.decide_with_signals(0, &[customer("+1"), Value::Absent], NOW, &log)
        }));
        let msg = r.expect_err("panics");
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"the network is on fire"));
    }

    #[test]
    fn decisions_read_with_a_fresh_memo_per_candidate() {
        // Two proposals of `t.act` whose condition reads level(a0); the policy reads it too.
        let lvl = || Expr::Default(b(read(2, slot(0))), b(Expr::Const(Value::Int(0))));
        let mut p = program(
            vec![Type::Int],
            vec![
                rule(
                    1,
                    Verdict::Deny,
                    "high",
                    Some(cmp(CmpOp::Gt, lvl(), Expr::Const(Value::Int(15)))),
                ),
                rule(2, Verdict::Allow, "ok", None),
            ],
        );
        let prop = |line: u32, rank: Option<Expr>| Proposal {
            action: "t.act".into(),
            args: vec![slot(0)],
            rank,
            condition: Some(cmp(CmpOp::Gt, lvl(), Expr::Const(Value::Int(line as i64)))),
            source: SourceRef {
                line,
                ..SourceRef::default()
            },
        };
        p.decisions = vec![DecisionDef {
            name: "d".into(),
            qualified: "t.d".into(),
            params: p.policies[0].params.clone(),
            now_slot: None,
            slots: 1,
            proposals: vec![prop(1, Some(lvl())), prop(2, None), prop(30, None)],
        }];
        let jit = compile(&p);
        assert_eq!(jit.decision_unsupported(0), None);
        for n in [0, 1, 2, 5] {
            let log = Log::new(|_, a: &[Value]| match a {
                [Value::Int(0)] => Value::Absent,
                [Value::Int(n)] => Value::Int(n * 10),
                _ => Value::Absent,
            });
            let expected = interp::rank(&p, 0, &[Value::Int(n)], NOW, &log);
            let reads = log.take();
            let actual = jit.decide_decision_with_signals(0, &[Value::Int(n)], NOW, &log);
            assert_eq!(actual.as_ref(), Some(&expected), "{n}");
            assert_eq!(log.take(), reads, "{n}");
            if n == 5 {
                // The decision's own read, then one per candidate's policies (three).
                assert_eq!(reads.len(), 4);
            }
        }
        // A proposal's argument that reads a signal is refused (explanations evaluate the
        // arguments again, without the source).
        p.decisions[0].proposals[0].args = vec![lvl()];
        assert_eq!(
            compile(&p).decision_unsupported(0),
            Some("proposes t.act with an argument that reads a signal")
        );
    }
}

#[cfg(test)]
mod str_index_tests {
    //! [`StrIndex`] against a plain search, as binders use it: a list grown one string at a
    //! time (filed as it grows) and started again from empty, many times over one index.
    use super::{LINEAR_STRINGS, StrIndex};

    #[test]
    fn finds_what_a_plain_search_finds() {
        let mut index = StrIndex::default();
        let mut list: Vec<String> = Vec::new();
        for (round, n) in [40, 3, LINEAR_STRINGS, LINEAR_STRINGS + 1, 300, 17, 0, 2_000]
            .into_iter()
            .enumerate()
        {
            list.clear();
            for i in 0..n {
                // Every third string repeats an earlier one: only new ones are added.
                let s = if i % 3 == 2 {
                    format!("s{round}.{}", i / 2)
                } else {
                    format!("s{round}.{i}")
                };
                let plain = list.iter().position(|u| *u == s);
                assert_eq!(index.find(&list, &s), plain, "round {round}, string {i}");
                if plain.is_none() {
                    list.push(s);
                    index.added(&list);
                }
                let absent = format!("absent{i}");
                assert_eq!(index.find(&list, &absent), None, "round {round}");
            }
            for (k, s) in list.iter().enumerate() {
                assert_eq!(index.find(&list, s), Some(k), "round {round}");
            }
        }
    }
}

#[cfg(test)]
mod cancel_tests {
    //! Cancelling a run: the flag the code of a loop nested in another loads.
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::interp::NoSignals;
    use crate::ir::build::{self, arith, b, cmp, slot};

    /// `any(xs, a => any(xs, b => a + b == -1))` over a list of Ints, slot 0, when `nested`;
    /// else `any(xs, a => a == -1)`.
    fn program(nested: bool) -> Program {
        let inner = if nested {
            Expr::Quantify {
                quantifier: Quantifier::Any,
                list: b(slot(0)),
                slot: 2,
                body: Some(b(cmp(
                    CmpOp::Eq,
                    arith(ArithOp::Add, slot(1), slot(2)),
                    Expr::Const(Value::Int(-1)),
                ))),
            }
        } else {
            cmp(CmpOp::Eq, slot(1), Expr::Const(Value::Int(-1)))
        };
        let cond = Expr::Quantify {
            quantifier: Quantifier::Any,
            list: b(slot(0)),
            slot: 1,
            body: Some(b(inner)),
        };
        let mut p = build::program(
            vec![Type::List(Box::new(Type::Int))],
            vec![
                build::rule(1, Verdict::Deny, "hit", Some(cond)),
                build::rule(2, Verdict::Allow, "ok", None),
            ],
        );
        p.policies[0].slots = 3;
        p
    }

    fn ints(n: i64) -> Vec<Value> {
        vec![Value::List(
            (0..n).map(Value::Int).collect::<Vec<_>>().into(),
        )]
    }

    #[test]
    fn a_run_whose_flag_is_set_is_cancelled_and_one_without_a_flag_is_not() {
        let p = program(true);
        let jit = compile(&p);
        assert_eq!(jit.unsupported(0), None);
        assert_eq!(jit.stop_checks(0), 1, "the inner loop's back-edge checks");
        let args = ints(50);
        let want = interp::decide(&p, 0, &args, 0, &NoSignals);
        assert_eq!(want.verdict, Verdict::Allow);
        let input = jit.bind(0, &args).expect("binds");
        let mut out = jit.output(0);
        let set = AtomicBool::new(true);
        assert_eq!(
            jit.run_until(&input, 0, None, &set, &mut out),
            Err(RunError::Cancelled)
        );
        assert_eq!(
            jit.run_until(&input, 0, Some(&NoSignals), &set, &mut out),
            Err(RunError::Cancelled)
        );
        assert_eq!(
            jit.decide_until(0, &args, 0, &NoSignals, &set),
            Some(Err(Cancelled))
        );
        // The same output, reused by runs without a flag or with one never set: the decision,
        // nothing of the cancelled run left behind.
        jit.run(&input, 0, &mut out).expect("runs");
        assert_eq!(jit.decision(&input, &out), want);
        jit.run_with_signals(&input, 0, &NoSignals, &mut out)
            .expect("runs");
        assert_eq!(jit.decision(&input, &out), want);
        let unset = AtomicBool::new(false);
        jit.run_until(&input, 0, None, &unset, &mut out)
            .expect("runs");
        assert_eq!(jit.decision(&input, &out), want);
        assert_eq!(jit.decide(0, &args, 0), Some(want.clone()));
        assert_eq!(
            jit.decide_until(0, &args, 0, &NoSignals, &unset),
            Some(Ok(want))
        );
        // An inner loop that never turns (an empty list) never sees the flag.
        let empty = ints(0);
        let input = jit.bind(0, &empty).expect("binds");
        assert_eq!(jit.run_until(&input, 0, None, &set, &mut out), Ok(()));
        assert_eq!(
            jit.decision(&input, &out),
            interp::decide(&p, 0, &empty, 0, &NoSignals)
        );
    }

    #[test]
    fn a_loop_alone_loads_no_flag() {
        let p = program(false);
        let jit = compile(&p);
        assert_eq!(jit.unsupported(0), None);
        assert_eq!(jit.stop_checks(0), 0);
        let args = ints(50);
        let input = jit.bind(0, &args).expect("binds");
        let mut out = jit.output(0);
        let set = AtomicBool::new(true);
        // Linear in the input: it runs to its end whatever the flag says.
        assert_eq!(jit.run_until(&input, 0, None, &set, &mut out), Ok(()));
        assert_eq!(
            jit.decision(&input, &out),
            interp::decide(&p, 0, &args, 0, &NoSignals)
        );
    }

    #[test]
    fn a_flag_set_by_another_thread_stops_a_long_run() {
        let p = program(true);
        let jit = compile(&p);
        // 4·10^8 inner iterations (and no match): far longer than the wait below.
        let args = ints(20_000);
        let input = jit.bind(0, &args).expect("binds");
        let mut out = jit.output(0);
        let flag = AtomicBool::new(false);
        let ran = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                flag.store(true, Ordering::SeqCst);
            });
            jit.run_until(&input, 0, None, &flag, &mut out)
        });
        assert_eq!(ran, Err(RunError::Cancelled));
    }
}
