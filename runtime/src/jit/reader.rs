//! A learned input shape compiled to native code: the JSON reader's first path once a shape
//! has been replayed often enough (see [`super::json`]).
//!
//! The replay of a shape ([`super::json`]'s `shape` module) walks its steps one by one: per
//! step a dispatch, a bounds check, a word compare or two. Here the same steps become one
//! Cranelift function: every literal is a few loads xor-ed with constants and tested once;
//! every value of an enum or symbol is a switch on its first letter, then a compare with each
//! accepted name written `"name"`; a boolean is a compare with `true` or `false`; a time in the
//! two usual forms is parsed in place, as the host's `fast_time` parses it; a string's
//! end is found eight bytes at a time and its text handed to the host (a zone name to its
//! zone cache directly); a plain integer is read
//! in place; a list is a loop over its element's steps. What is left (strings' meaning, other
//! numbers, optionals, other forms) is read by the host: the replay's own code
//! ([`HostRead`]) at the position the code reached.
//!
//! Semantics: the code accepts a subset of what the replay accepts and writes what it writes.
//! The literals are the shape's bytes, compared exactly; a name is accepted inline only if the
//! text is exactly its quoted form, which the replay reads as that name (the names compiled
//! have no byte that ends or escapes a JSON string), and any other text goes to the host, which
//! reads it as the replay does; a string read inline is the text the replay's `string` would
//! read, given to the same function, and a time parsed inline is parsed as the host's
//! `fast_time` parses it (the same checks, with the months' first days and lengths from a
//! table); lists are opened, separated and closed as the replay's `list_direct` does
//! (whitespace, `,`, `]`, lists in the order of their headers), and each element's words are
//! zeroed before it is read and counted after the words used so far, as there. Where the
//! replay would fall back to the scanner for one element, the host's scanner reads that
//! element from its start (`xop_read_element`); the code gives up on the whole text (`0`) only
//! if that fails, and the reader starts over with the replay from a clean slate. So it adds
//! speed and never a decision of its own;
//! `runtime/tests/json_reader.rs` and the `json_reader` fuzz target compare it with the
//! reference on texts of learned shapes.
//!
//! Memory safety: every load from the text is preceded by a check that it stays within the
//! text's length, and every store into the words by a check (for the fixed part, one on
//! entry that the words' length covers it, and a bound checked at compile time,
//! [`placed_within`]; for a list's element, that its words lie within the words' capacity,
//! else the host makes room) that it stays within the words the host has made. The code keeps
//! the words' length (`used`) in the state: it moves it only past an element's words once it
//! has zeroed them, so that the words below it are always initialized, and the host sets the
//! vector's length to it before each callback and after the code returns ([`set_used`]); the
//! words never shrink below what the code may still write, and the code reads their address
//! from the state before each store, as a host call may move them. The code is freed when the
//! last [`ShapeCode`] handle goes.

use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{AbiParam, Block, FuncRef, InstBuilder, MemFlagsData, Value as CVal};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Switch, Variable};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};

use super::json::{DTH, HIGH, HMS, HostRead, YMD, adds};

/// One step of a shape to compile, in text order.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// These bytes, exactly.
    Lit(Box<[u8]>),
    /// A value of plan node `node`, its first word at `at` (from the fixed part's start, or
    /// in a list's element from the element's first word).
    Value { node: u32, at: usize, read: Read },
    /// The value of the reserved `now` key.
    Now,
    /// A list whose header is word `header` of the fixed part, of elements of plan node
    /// `elem` and `words` words, each read by `body` (or, if it does not have the body's
    /// shape, by the host's scanner).
    List {
        header: usize,
        elem: u32,
        words: usize,
        body: Vec<Op>,
    },
}

/// How a value is read.
#[derive(Debug, Clone)]
pub(super) enum Read {
    /// `true` or `false` inline (else the host).
    Bool,
    /// One of these quoted names (`"name"`, no byte in the name that ends or escapes a
    /// string) and its word, inline; any other text by the host.
    Names(Vec<Name>),
    /// A time: the forms `"YYYY-MM-DDTHH:MM:SSZ"` and `"YYYY-MM-DDTHH:MM:SS.mmmZ"` of the
    /// years 1970 to 2099 parsed inline as the host's `fast_time` parses them (the replay's
    /// `time` tries them in that order); any other text by the host.
    Time,
    /// An integer (Int): 1 to 18 digits, no sign, no leading zero but `0` itself, not
    /// followed by `.`, `e` or `E`, inline (the forms the replay's `int` reads, less the
    /// negative ones); any other text by the host.
    Int,
    /// A string (Text, Id; a `Tz` is [`Read::Zone`]): its end found inline, eight bytes at a
    /// time, then handed to the host as the replay hands it to `Cx::str`; with an escape, by
    /// the host.
    Str,
    /// A zone name (Tz): its end found as [`Read::Str`] finds it, then handed to the host's
    /// zone cache directly; with an escape, by the host.
    Zone,
    /// A string no rule reads: checked as [`Read::Str`] finds its end, nothing stored (the
    /// word stays 0); with an escape, by the host.
    Skip,
    /// By the host.
    Host,
}

/// A name as compiled: its exact bytes in the text (with the quotes) and its word.
pub(super) type Name = (Box<[u8]>, i64);

/// Names compiled inline at most (more are looked up by the host's table).
pub(super) const MAX_INLINE_NAMES: usize = 64;

/// Years from 1970 whose months are in [`MONTHS`]: to 2099, where every fourth year is a
/// leap year (the host reads the others).
const TABLE_YEARS: u32 = 130;

/// Per month from January 1970 to December 2099: its first day (days since the epoch) times
/// 32, plus its number of days. A time's date is one look-up here.
static MONTHS: [u32; 12 * TABLE_YEARS as usize] = {
    let mut t = [0u32; 12 * TABLE_YEARS as usize];
    let lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut first = 0u32;
    let mut i = 0;
    while i < t.len() {
        let (y, m) = (1970 + i / 12, i % 12);
        let len = lengths[m] + (m == 1 && y % 4 == 0) as u32;
        t[i] = first * 32 + len;
        first += len;
        i += 1;
    }
    t
};

/// Added to digit pairs `HH?MM?SS` (bytes 0, 3, 6): 128 less 24, 60 and 60, so that a byte's
/// high bit ([`HMS_HIGH`]) is set exactly when the field is not below its bound.
const HMS_ADD: u64 = (128 - 24) | ((128 - 60) << 24) | ((128 - 60) << 48);
const HMS_HIGH: u64 = 0x80 | (0x80 << 24) | (0x80 << 48);

/// What the code and the host share during one read. The host's [`HostRead`] is behind
/// `host`; `out`, `out_len` and `used` are its words' address, capacity and length, and
/// `last_list` the header of the last list begun (-1: none), the host's when it calls back
/// and the code's in between (see [`with_host`]).
#[repr(C)]
struct State {
    text: *const u8,
    len: i64,
    out: *mut i64,
    out_len: i64,
    used: i64,
    last_list: i64,
    host: *mut c_void,
    /// The time of `now` when the code read it inline (`has_now` 1).
    now: i64,
    has_now: i64,
}

/// Byte offsets of [`State`]'s fields.
const S_TEXT: i32 = std::mem::offset_of!(State, text) as i32;
const S_LEN: i32 = std::mem::offset_of!(State, len) as i32;
const S_OUT: i32 = std::mem::offset_of!(State, out) as i32;
const S_OUT_LEN: i32 = std::mem::offset_of!(State, out_len) as i32;
const S_USED: i32 = std::mem::offset_of!(State, used) as i32;
const S_LAST_LIST: i32 = std::mem::offset_of!(State, last_list) as i32;
const S_NOW: i32 = std::mem::offset_of!(State, now) as i32;
const S_HAS_NOW: i32 = std::mem::offset_of!(State, has_now) as i32;

type ReadFn = unsafe extern "C" fn(*mut State) -> i64;

/// A compiled shape: its code, freed with the last handle.
pub(super) struct ShapeCode {
    f: ReadFn,
    module: Mutex<Option<JITModule>>,
}

// Clones of a reader (one per thread) share its compiled shape: the code only reads the state
// it is given, and the module is freed under its lock once.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ShapeCode>();
};

impl std::fmt::Debug for ShapeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShapeCode")
    }
}

impl Drop for ShapeCode {
    fn drop(&mut self) {
        let module = self.module.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = module.take() {
            // SAFETY: the only pointer into this module's code is `self.f`, called only
            // through `&self` (`read`); `drop` has `&mut self`, so no call is running and none
            // can start.
            unsafe { m.free_memory() };
        }
    }
}

impl ShapeCode {
    /// Compiles `ops` for a plan whose fixed part has `input_words` words; `None` if the
    /// shape is not one this compiles (a value placed outside its words) or the host has no
    /// JIT.
    pub(super) fn compile(ops: &[Op], input_words: usize) -> Option<Arc<ShapeCode>> {
        if !placed_within(ops, input_words) {
            return None;
        }
        let builder = super::jit_builder(&[
            (VALUE, xop_read_value as *const u8),
            (NOW, xop_read_now as *const u8),
            (ROOM, xop_read_room as *const u8),
            (STR, xop_read_str as *const u8),
            (ZONE, xop_read_zone as *const u8),
            (ELEMENT, xop_read_element as *const u8),
        ])
        .ok()?;
        let mut module = JITModule::new(builder);
        if module.target_config().pointer_type() != I64 {
            return None;
        }
        let id = define(&mut module, ops, input_words);
        let ready = id.and_then(|id| {
            module.finalize_definitions().ok()?;
            Some(module.get_finalized_function(id))
        });
        let Some(ptr) = ready else {
            // SAFETY: nothing of this module was finalized into a pointer that escapes.
            unsafe { module.free_memory() };
            return None;
        };
        // SAFETY: `ptr` is the entry of the function finalized just above, generated with the
        // signature `(i64) -> i64` in the platform's default calling convention, which is the
        // C ABI of `ReadFn` with the pointer as a 64-bit word (checked above). It stays valid
        // until `free_memory` in `Drop`.
        let f = unsafe { std::mem::transmute::<*const u8, ReadFn>(ptr) };
        Some(Arc::new(ShapeCode {
            f,
            module: Mutex::new(Some(module)),
        }))
    }

    /// Reads the text of `host` (whose words are zeroed, the fixed part's at least); whether
    /// the code read all of it. If not, what it wrote is garbage.
    pub(super) fn read(&self, host: &mut HostRead<'_, '_>) -> bool {
        let text = host.text();
        let (out, cap, used) = host.out();
        let mut state = State {
            text: text.as_ptr(),
            len: text.len() as i64,
            out,
            out_len: cap as i64,
            used: used as i64,
            last_list: host.last_list(),
            host: (host as *mut HostRead<'_, '_>).cast::<c_void>(),
            now: 0,
            has_now: 0,
        };
        // SAFETY: `self.f` is valid while `self` lives (see `compile`). The state points at
        // the text and at `host`, both borrowed for the whole call; the code reads the text
        // only below `len` and writes the words only below `out_len` (their capacity), which
        // the host callbacks keep current (module documentation), and the callbacks catch
        // panics.
        let read = unsafe { (self.f)(&mut state) == 1 };
        // SAFETY: the code moves `used` only past words it has zeroed or written, and never
        // beyond the capacity it was given (module documentation); a host call leaves it at
        // the words' length.
        unsafe { set_used(host, state.used, state.last_list) };
        if read && state.has_now != 0 {
            host.set_now(state.now);
        }
        read
    }
}

/// Whether every value of `ops` and every list header lies within the words it is placed in:
/// the fixed part's `input_words`, or an element's words; and whether no list's element holds
/// a list.
fn placed_within(ops: &[Op], words: usize) -> bool {
    ops.iter().all(|op| match op {
        Op::Lit(_) | Op::Now => true,
        Op::Value { at, .. } => *at < words,
        Op::List {
            header,
            words: w,
            body,
            ..
        } => {
            header + 1 < words
                && *w > 0
                && placed_within(body, *w)
                // A list's element holds no list (the plans compiled are flat).
                && !body.iter().any(|op| matches!(op, Op::List { .. }))
        }
    })
}

const VALUE: &str = "xop_read_value";
const NOW: &str = "xop_read_now";
const ROOM: &str = "xop_read_room";
const STR: &str = "xop_read_str";
const ZONE: &str = "xop_read_zone";
const ELEMENT: &str = "xop_read_element";

/// A list's element of plan node `elem` read whole by the scanner from byte `pos`, its words
/// from `base`: the position after it.
extern "C" fn xop_read_element(state: *mut State, elem: i64, base: i64, pos: i64) -> i64 {
    with_host(state, |h| {
        let elem = u32::try_from(elem).ok()?;
        i64::try_from(h.element(elem, as_usize(base)?, as_usize(pos)?)?).ok()
    })
}

/// A zone name whose text is the `len` bytes from byte `start`, its word at `word` (`node`
/// is the Tz node's, unused): `0`.
extern "C" fn xop_read_zone(state: *mut State, _node: i64, word: i64, start: i64, len: i64) -> i64 {
    with_host(state, |h| {
        h.zone(as_usize(word)?, as_usize(start)?, as_usize(len)?)
            .map(|()| 0)
    })
}

/// A string of node `node` (Text, Id or Tz) whose text is the `len` bytes from byte `start`,
/// its word at `word`: `0`.
extern "C" fn xop_read_str(state: *mut State, node: i64, word: i64, start: i64, len: i64) -> i64 {
    with_host(state, |h| {
        let node = u32::try_from(node).ok()?;
        h.string(node, as_usize(word)?, as_usize(start)?, as_usize(len)?)
            .map(|()| 0)
    })
}

/// Gives `host` the words' length and the last list begun as the code left them (`used`, and
/// `last`, -1 for none); a `used` beyond the capacity is refused (the length stays).
///
/// # Safety
/// The first `used` words must be initialized: the code moves `used` only past words it has
/// zeroed or written.
unsafe fn set_used(host: &mut HostRead<'_, '_>, used: i64, last: i64) {
    let out = host.words();
    if let Ok(used) = usize::try_from(used)
        && used <= out.capacity()
    {
        // SAFETY: within the capacity (checked) and initialized (the caller's contract).
        unsafe { out.set_len(used) };
    }
    host.set_last_list(last);
}

/// The host of a call: the state and its [`HostRead`].
///
/// # Safety
/// `state` must be the pointer [`ShapeCode::read`] passed to the code, during that call, and
/// the references must not outlive the host function that asked for them.
unsafe fn host_of<'s>(state: *mut State) -> (&'s mut State, &'s mut HostRead<'s, 's>) {
    // SAFETY: per the function's contract, `state` is a live, exclusive `State` whose `host`
    // is the `HostRead` borrowed mutably by `ShapeCode::read` for the whole call; the code
    // holds no other reference to either while a host function runs. The lifetimes given
    // here are the host function's: `HostRead`'s methods store nothing borrowed into it (the
    // strings they keep are copied), so no reference of the wrong lifetime can be left behind.
    unsafe {
        let st = &mut *state;
        let host = &mut *st.host.cast::<HostRead<'s, 's>>();
        (st, host)
    }
}

/// Runs `f` on the call's host, with the words' length and the last list as the code left
/// them; then refreshes the words' address, capacity and length and the last list in the
/// state, and maps `None` or a panic to `-1`.
fn with_host(state: *mut State, f: impl FnOnce(&mut HostRead<'_, '_>) -> Option<i64>) -> i64 {
    // SAFETY: only called from the host functions below, which generated code calls with the
    // state `ShapeCode::read` gave it.
    let (st, host) = unsafe { host_of(state) };
    // SAFETY: the code moves `used` only past words it has zeroed or written, within the
    // capacity (module documentation).
    unsafe { set_used(host, st.used, st.last_list) };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *host)));
    let (out, cap, used) = host.out();
    st.out = out;
    st.out_len = cap as i64;
    st.used = used as i64;
    st.last_list = host.last_list();
    match r {
        Ok(Some(v)) => v,
        _ => -1,
    }
}

/// A value of plan node `node` at byte `pos`, its words at `base + at`: the position after it.
extern "C" fn xop_read_value(state: *mut State, node: i64, base: i64, at: i64, pos: i64) -> i64 {
    with_host(state, |h| {
        let node = u32::try_from(node).ok()?;
        let end = h.value(node, as_usize(base)?, as_usize(at)?, as_usize(pos)?)?;
        i64::try_from(end).ok()
    })
}

/// The value of `now` at byte `pos`: the position after it.
extern "C" fn xop_read_now(state: *mut State, pos: i64) -> i64 {
    with_host(state, |h| i64::try_from(h.now(as_usize(pos)?)?).ok())
}

/// Makes room for the words up to `need` (their capacity; the code zeroes them): `0`.
extern "C" fn xop_read_room(state: *mut State, need: i64) -> i64 {
    with_host(state, |h| h.room(as_usize(need)?).map(|()| 0))
}

fn as_usize(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Declares and defines the reading function of `ops` in `module`.
fn define(
    module: &mut JITModule,
    ops: &[Op],
    input_words: usize,
) -> Option<cranelift_module::FuncId> {
    let sig_of = |module: &JITModule, params: usize| {
        let mut sig = module.make_signature();
        for _ in 0..params {
            sig.params.push(AbiParam::new(I64));
        }
        sig.returns.push(AbiParam::new(I64));
        sig
    };
    let mut ids = Vec::new();
    for (name, params) in [
        (VALUE, 5),
        (NOW, 2),
        (ROOM, 2),
        (STR, 5),
        (ELEMENT, 4),
        (ZONE, 5),
    ] {
        let sig = sig_of(module, params);
        ids.push(module.declare_function(name, Linkage::Import, &sig).ok()?);
    }
    let sig = sig_of(module, 1);
    let mut ctx = module.make_context();
    ctx.func.signature = sig.clone();
    let refs: Vec<FuncRef> = ids
        .iter()
        .map(|&id| module.declare_func_in_func(id, &mut ctx.func))
        .collect();
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let state = b.block_params(entry)[0];
        let f = MemFlagsData::trusted();
        let text = b.ins().load(I64, f, state, S_TEXT);
        let len = b.ins().load(I64, f, state, S_LEN);
        let pos = b.declare_var(I64);
        let zero = b.ins().iconst(I64, 0);
        b.def_var(pos, zero);
        let fail = b.create_block();
        let mut g = Gen {
            b,
            state,
            text,
            len,
            pos,
            fail,
            f_value: refs[0],
            f_now: refs[1],
            f_room: refs[2],
            f_str: refs[3],
            f_zone: refs[5],
            f_element: refs[4],
        };
        // The fixed part's words exist (the host zeroed them): checked once.
        let used = g.b.ins().load(I64, f, state, S_USED);
        let short =
            g.b.ins()
                .icmp_imm_s(IntCC::SignedLessThan, used, input_words as i64);
        g.branch_fail(short);
        let base = g.b.ins().iconst(I64, 0);
        g.ops(ops, base);
        // All of the text read.
        let p = g.pos();
        let rest = g.b.ins().icmp(IntCC::NotEqual, p, len);
        g.branch_fail(rest);
        let one = g.b.ins().iconst(I64, 1);
        g.b.ins().return_(&[one]);
        g.b.switch_to_block(fail);
        let zero = g.b.ins().iconst(I64, 0);
        g.b.ins().return_(&[zero]);
        g.b.seal_all_blocks();
        let cfg = module.target_config();
        g.b.finalize(cfg);
    }
    let id = module
        .declare_function("xop_read_shape", Linkage::Local, &sig)
        .ok()?;
    module.define_function(id, &mut ctx).ok()?;
    Some(id)
}

/// The function being generated.
struct Gen<'a> {
    b: FunctionBuilder<'a>,
    state: CVal,
    text: CVal,
    len: CVal,
    /// The byte position reached in the text.
    pos: Variable,
    /// Returns 0: the text is left to the replay.
    fail: Block,
    f_value: FuncRef,
    f_now: FuncRef,
    f_room: FuncRef,
    f_str: FuncRef,
    f_zone: FuncRef,
    f_element: FuncRef,
}

/// Loads from the text: any alignment, never trapping (every load is bounds-checked first).
fn text_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Gen<'_> {
    fn pos(&mut self) -> CVal {
        self.b.use_var(self.pos)
    }

    fn advance(&mut self, n: i64) {
        let p = self.pos();
        let next = self.b.ins().iadd_imm_s(p, n);
        self.b.def_var(self.pos, next);
    }

    /// Goes to `fail` if `cond` (non-zero), else on in a new block.
    fn branch_fail(&mut self, cond: CVal) {
        let next = self.b.create_block();
        self.b.ins().brif(cond, self.fail, &[], next, &[]);
        self.b.switch_to_block(next);
    }

    /// Whether fewer than `n` bytes are left (a boolean).
    fn short_of(&mut self, n: i64) -> CVal {
        let p = self.pos();
        let end = self.b.ins().iadd_imm_s(p, n);
        self.b.ins().icmp(IntCC::SignedGreaterThan, end, self.len)
    }

    /// The address of the text at the position.
    fn here(&mut self) -> CVal {
        let p = self.pos();
        self.b.ins().iadd(self.text, p)
    }

    /// Zero if the `bytes.len()` bytes at the position are `bytes` (which must be in bounds):
    /// loads of 8 bytes (the last one overlapping), or for shorter ones two overlapping loads
    /// of 4, 2 or 1, each xor-ed with the expected value, or-ed together.
    fn differs(&mut self, bytes: &[u8]) -> CVal {
        let at = self.here();
        let n = bytes.len();
        let word = |off: usize, size: usize| -> i64 {
            let mut w = [0u8; 8];
            w[..size].copy_from_slice(&bytes[off..off + size]);
            i64::from_le_bytes(w)
        };
        let mut loads: Vec<(usize, usize)> = Vec::new();
        if n >= 8 {
            let mut off = 0;
            while off + 8 < n {
                loads.push((off, 8));
                off += 8;
            }
            loads.push((n - 8, 8));
        } else {
            let size = if n >= 4 {
                4
            } else if n >= 2 {
                2
            } else {
                1
            };
            loads.push((0, size));
            if n > size {
                loads.push((n - size, size));
            }
        }
        let mut acc: Option<CVal> = None;
        for (off, size) in loads {
            let f = text_flags();
            let v = match size {
                8 => self.b.ins().load(I64, f, at, off as i32),
                4 => self.b.ins().uload32(f, at, off as i32),
                2 => self.b.ins().uload16(I64, f, at, off as i32),
                _ => self.b.ins().uload8(I64, f, at, off as i32),
            };
            let expect = self.b.ins().iconst(I64, word(off, size));
            let d = self.b.ins().bxor(v, expect);
            acc = Some(match acc {
                Some(a) => self.b.ins().bor(a, d),
                None => d,
            });
        }
        acc.unwrap_or_else(|| self.b.ins().iconst(I64, 0))
    }

    /// `bytes`, exactly, at the position (else fail); the position moves past them.
    fn lit(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let n = bytes.len() as i64;
        let short = self.short_of(n);
        self.branch_fail(short);
        let d = self.differs(bytes);
        self.branch_fail(d);
        self.advance(n);
    }

    /// The byte at the position (fail at the end of the text).
    fn byte(&mut self) -> CVal {
        let short = self.short_of(1);
        self.branch_fail(short);
        let at = self.here();
        self.b.ins().uload8(I64, text_flags(), at, 0)
    }

    /// Skips JSON whitespace.
    fn ws(&mut self) {
        let head = self.b.create_block();
        let test = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let short = self.short_of(1);
        self.b.ins().brif(short, done, &[], test, &[]);
        self.b.switch_to_block(test);
        let at = self.here();
        let c = self.b.ins().uload8(I64, text_flags(), at, 0);
        // A blank is below 0x21 and one of its four bits in a mask of them. Most bytes met
        // here are not below 0x21 (the next key, value or bracket): one test settles those.
        let low = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, c, 0x21);
        let maybe = self.b.create_block();
        self.b.ins().brif(low, maybe, &[], done, &[]);
        self.b.switch_to_block(maybe);
        let bit = self.b.ins().iconst(I64, 1);
        let bit = self.b.ins().ishl(bit, c);
        let mask = (1i64 << b' ') | (1 << b'\n') | (1 << b'\t') | (1 << b'\r');
        let blank = self.b.ins().band_imm_s(bit, mask);
        let skip = self.b.create_block();
        self.b.ins().brif(blank, skip, &[], done, &[]);
        self.b.switch_to_block(skip);
        self.advance(1);
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(done);
    }

    /// Calls host function `f` with the state first; fails on a negative result, which is
    /// returned otherwise.
    fn host(&mut self, f: FuncRef, args: &[CVal]) -> CVal {
        let mut all = vec![self.state];
        all.extend_from_slice(args);
        let call = self.b.ins().call(f, &all);
        let r = self.b.inst_results(call)[0];
        let bad = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, r, 0);
        self.branch_fail(bad);
        r
    }

    /// Writes `v` to word `base + at` of the words (within them: see [`placed_within`] and
    /// the room made for each element).
    fn store(&mut self, base: CVal, at: usize, v: CVal) {
        let out = self
            .b
            .ins()
            .load(I64, MemFlagsData::trusted(), self.state, S_OUT);
        let w = self.b.ins().iadd_imm_s(base, at as i64);
        let off = self.b.ins().ishl_imm_s(w, 3);
        let addr = self.b.ins().iadd(out, off);
        self.b.ins().store(MemFlagsData::trusted(), v, addr, 0);
    }

    fn ops(&mut self, ops: &[Op], base: CVal) {
        for op in ops {
            match op {
                Op::Lit(bytes) => self.lit(bytes),
                Op::Value { node, at, read } => self.value(*node, base, *at, read),
                Op::Now => self.now(),
                Op::List {
                    header,
                    elem,
                    words,
                    body,
                } => self.list(*header, *elem, *words, body),
            }
        }
    }

    /// A value by the host at the position.
    fn host_value(&mut self, node: u32, base: CVal, at: usize) {
        let node = self.b.ins().iconst(I64, i64::from(node));
        let at = self.b.ins().iconst(I64, at as i64);
        let p = self.pos();
        let end = self.host(self.f_value, &[node, base, at, p]);
        self.b.def_var(self.pos, end);
    }

    fn value(&mut self, node: u32, base: CVal, at: usize, read: &Read) {
        match read {
            Read::Host => self.host_value(node, base, at),
            Read::Str => self.string(node, base, at, Some(self.f_str)),
            Read::Zone => self.string(node, base, at, Some(self.f_zone)),
            Read::Skip => self.string(node, base, at, None),
            Read::Int => self.int(node, base, at),
            Read::Bool => {
                let cands = [(Box::from(&b"true"[..]), 1), (Box::from(&b"false"[..]), 0)];
                self.names(node, base, at, &cands, 0);
            }
            Read::Names(names) => self.names(node, base, at, names, 1),
            Read::Time => self.time_or(
                |g| g.host_value(node, base, at),
                |g, t| g.store(base, at, t),
            ),
        }
    }

    /// An integer in the form [`Read::Int`] says, else by the host.
    fn int(&mut self, node: u32, base: CVal, at: usize) {
        let host = self.b.create_block();
        let after = self.b.create_block();
        let start = self.pos();
        // Digits from the position: (index, value so far), at most 19 looked at.
        let head = self.b.create_block();
        let i = self.b.append_block_param(head, I64);
        let v = self.b.append_block_param(head, I64);
        let zero = self.b.ins().iconst(I64, 0);
        self.b.ins().jump(head, &[start.into(), zero.into()]);
        self.b.switch_to_block(head);
        let digits = self.b.ins().isub(i, start);
        let ended = self.b.create_block();
        let end_i = self.b.append_block_param(ended, I64);
        let end_v = self.b.append_block_param(ended, I64);
        let has = self.b.create_block();
        let at_end = self
            .b
            .ins()
            .icmp(IntCC::SignedGreaterThanOrEqual, i, self.len);
        let too_long = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedGreaterThan, digits, 18);
        self.b.ins().brif(too_long, host, &[], has, &[]);
        self.b.switch_to_block(has);
        let load = self.b.create_block();
        self.b
            .ins()
            .brif(at_end, ended, &[i.into(), v.into()], load, &[]);
        self.b.switch_to_block(load);
        let addr = self.b.ins().iadd(self.text, i);
        let c = self.b.ins().uload8(I64, text_flags(), addr, 0);
        let d = self.b.ins().iadd_imm_s(c, -i64::from(b'0'));
        let is_digit = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThanOrEqual, d, 9);
        let more = self.b.create_block();
        self.b
            .ins()
            .brif(is_digit, more, &[], ended, &[i.into(), v.into()]);
        self.b.switch_to_block(more);
        let ten = self.b.ins().imul_imm_s(v, 10);
        let next_v = self.b.ins().iadd(ten, d);
        let next_i = self.b.ins().iadd_imm_s(i, 1);
        self.b.ins().jump(head, &[next_i.into(), next_v.into()]);
        // After the digits: at least one, no leading zero unless alone, and not a fraction
        // or an exponent next.
        self.b.switch_to_block(ended);
        let n = self.b.ins().isub(end_i, start);
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, n, 0);
        let checks = self.b.create_block();
        self.b.ins().brif(none, host, &[], checks, &[]);
        self.b.switch_to_block(checks);
        let first_addr = self.b.ins().iadd(self.text, start);
        let first = self.b.ins().uload8(I64, text_flags(), first_addr, 0);
        let zero_first = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, first, i64::from(b'0'));
        let long = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, n, 1);
        let leading = self.b.ins().band(zero_first, long);
        let tail = self.b.create_block();
        self.b.ins().brif(leading, host, &[], tail, &[]);
        self.b.switch_to_block(tail);
        let last = self
            .b
            .ins()
            .icmp(IntCC::SignedGreaterThanOrEqual, end_i, self.len);
        let peek = self.b.create_block();
        let good = self.b.create_block();
        self.b.ins().brif(last, good, &[], peek, &[]);
        self.b.switch_to_block(peek);
        let next_addr = self.b.ins().iadd(self.text, end_i);
        let c = self.b.ins().uload8(I64, text_flags(), next_addr, 0);
        let dot = self.b.ins().icmp_imm_s(IntCC::Equal, c, i64::from(b'.'));
        let e = self.b.ins().icmp_imm_s(IntCC::Equal, c, i64::from(b'e'));
        let big_e = self.b.ins().icmp_imm_s(IntCC::Equal, c, i64::from(b'E'));
        let bad = self.b.ins().bor(dot, e);
        let bad = self.b.ins().bor(bad, big_e);
        self.b.ins().brif(bad, host, &[], good, &[]);
        self.b.switch_to_block(good);
        self.store(base, at, end_v);
        self.b.def_var(self.pos, end_i);
        self.b.ins().jump(after, &[]);
        self.by_host(host, after, node, base, at);
    }

    /// The value of `now`: a time read inline into the state, else (`null`, other forms)
    /// by the host.
    fn now(&mut self) {
        self.time_or(
            |g| {
                let p = g.pos();
                let end = g.host(g.f_now, &[p]);
                g.b.def_var(g.pos, end);
            },
            |g, t| {
                let f = MemFlagsData::trusted();
                g.b.ins().store(f, t, g.state, S_NOW);
                let one = g.b.ins().iconst(I64, 1);
                g.b.ins().store(f, one, g.state, S_HAS_NOW);
            },
        );
    }

    /// A time read inline ([`Gen::time`]) and given to `found`, else read by `other`.
    fn time_or(&mut self, other: impl FnOnce(&mut Self), found: impl FnOnce(&mut Self, CVal)) {
        let done = self.b.create_block();
        let t = self.b.append_block_param(done, I64);
        let miss = self.b.create_block();
        let after = self.b.create_block();
        self.time(done, miss);
        self.b.switch_to_block(miss);
        other(self);
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(done);
        found(self, t);
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(after);
    }

    /// A string: `"`, then eight bytes at a time until one of them is a quote, a backslash
    /// or a control byte (the replay's `special`, whose lowest flagged byte is exact); if that
    /// byte is the closing quote, the bytes before it go to the host function `hand` as the
    /// string's text (none: nothing is stored of a string no rule reads).
    /// Anything else (an escape, a control byte, fewer than eight bytes left) goes to the
    /// host whole.
    fn string(&mut self, node: u32, base: CVal, at: usize, hand: Option<FuncRef>) {
        let after = self.b.create_block();
        let host = self.b.create_block();
        let open = self.b.create_block();
        let c = self.byte();
        let quote = self.b.ins().icmp_imm_s(IntCC::Equal, c, i64::from(b'"'));
        self.b.ins().brif(quote, open, &[], host, &[]);
        self.b.switch_to_block(open);
        let p = self.pos();
        let start = self.b.ins().iadd_imm_s(p, 1);
        let head = self.b.create_block();
        let k = self.b.append_block_param(head, I64);
        self.b.ins().jump(head, &[start.into()]);
        self.b.switch_to_block(head);
        let end8 = self.b.ins().iadd_imm_s(k, 8);
        let short = self.b.ins().icmp(IntCC::SignedGreaterThan, end8, self.len);
        let load = self.b.create_block();
        self.b.ins().brif(short, host, &[], load, &[]);
        self.b.switch_to_block(load);
        let addr = self.b.ins().iadd(self.text, k);
        let x = self.b.ins().load(I64, text_flags(), addr, 0);
        const LO: i64 = 0x0101_0101_0101_0101;
        const HI: i64 = 0x8080_8080_8080_8080_u64 as i64;
        let not_x = self.b.ins().bnot(x);
        let has_zero = |g: &mut Self, y: CVal| {
            let m = g.b.ins().iadd_imm_s(y, LO.wrapping_neg());
            let ny = g.b.ins().bnot(y);
            let m = g.b.ins().band(m, ny);
            g.b.ins().band_imm_s(m, HI)
        };
        let xq = self.b.ins().bxor_imm_s(x, LO * i64::from(b'"'));
        let a = has_zero(self, xq);
        let xb = self.b.ins().bxor_imm_s(x, LO * i64::from(b'\\'));
        let bb = has_zero(self, xb);
        let ctl = self.b.ins().iadd_imm_s(x, (LO * 0x20).wrapping_neg());
        let ctl = self.b.ins().band(ctl, not_x);
        let ctl = self.b.ins().band_imm_s(ctl, HI);
        let sp = self.b.ins().bor(a, bb);
        let sp = self.b.ins().bor(sp, ctl);
        let found = self.b.create_block();
        let next = self.b.ins().iadd_imm_s(k, 8);
        self.b.ins().brif(sp, found, &[], head, &[next.into()]);
        self.b.switch_to_block(found);
        let tz = self.b.ins().ctz(sp);
        let byte = self.b.ins().ushr_imm_s(tz, 3);
        let stop = self.b.ins().iadd(k, byte);
        let at_stop = self.b.ins().iadd(self.text, stop);
        let c = self.b.ins().uload8(I64, text_flags(), at_stop, 0);
        let closes = self.b.ins().icmp_imm_s(IntCC::Equal, c, i64::from(b'"'));
        let give = self.b.create_block();
        self.b.ins().brif(closes, give, &[], host, &[]);
        self.b.switch_to_block(give);
        if let Some(f) = hand {
            let node_c = self.b.ins().iconst(I64, i64::from(node));
            let word = self.b.ins().iadd_imm_s(base, at as i64);
            let n = self.b.ins().isub(stop, start);
            self.host(f, &[node_c, word, start, n]);
        }
        let past = self.b.ins().iadd_imm_s(stop, 1);
        self.b.def_var(self.pos, past);
        self.b.ins().jump(after, &[]);
        self.by_host(host, after, node, base, at);
    }

    /// A time in one of the two forms read in place (see [`Read::Time`]): jumps to `done`
    /// with its value (the position past it), or to `other` (the position unchanged).
    /// `"`, a time `YYYY-MM-DDTHH:MM:SS` then `Z"` (22 bytes) or `.mmmZ"` (26), parsed in
    /// place as the host's `fast_time` parses it, for the years 1970 to 2099; anything else
    /// (another form, another year, a field out of range) goes to `other`, which leaves it to
    /// the host. The three words `YYYY-MM-`, `DDTHH:MM` and `HH:MM:SS` are xor-ed with their
    /// templates and checked by one add and mask each, as there; the date and clock are read
    /// once, then the end decides the form: `Z"`, or `.mmmZ"` checked as a fourth word (the
    /// replay tries the short form first; a text is of one form at most).
    fn time(&mut self, done: Block, other: Block) {
        let miss = other;
        let fits = self.b.create_block();
        let short = self.short_of(22);
        self.b.ins().brif(short, miss, &[], fits, &[]);
        self.b.switch_to_block(fits);
        let at = self.here();
        let f = text_flags();
        let mut bad: Option<CVal> = None;
        let mut word = |g: &mut Self, off: i64, template: u64| -> CVal {
            let w = g.b.ins().load(I64, f, at, off as i32);
            let t = g.b.ins().bxor_imm_s(w, template as i64);
            let up = g.b.ins().iadd_imm_s(t, adds(template) as i64);
            let b = g.b.ins().bor(t, up);
            bad = Some(match bad {
                Some(a) => g.b.ins().bor(a, b),
                None => b,
            });
            t
        };
        let t0 = word(self, 1, YMD);
        let t1 = word(self, 9, DTH);
        let t2 = word(self, 12, HMS);
        let bad = bad.unwrap_or(t0);
        let bad = self.b.ins().band_imm_s(bad, HIGH as i64);
        let open = self.b.ins().uload8(I64, f, at, 0);
        let open = self.b.ins().bxor_imm_s(open, i64::from(b'"'));
        let bad = self.b.ins().bor(bad, open);
        // Digit pairs as bytes (the host's `pairs`: each byte at most 99), then the fields.
        let pairs = |g: &mut Self, t: CVal| {
            let ten = g.b.ins().imul_imm_s(t, 10);
            let next = g.b.ins().ushr_imm_s(t, 8);
            g.b.ins().iadd(ten, next)
        };
        let (p0, p1, p2) = (pairs(self, t0), pairs(self, t1), pairs(self, t2));
        let byte = |g: &mut Self, p: CVal, k: i64| {
            let s = if k == 0 {
                p
            } else {
                g.b.ins().ushr_imm_s(p, 8 * k)
            };
            g.b.ins().band_imm_s(s, 0xff)
        };
        // The hour, minute and second (bytes 0, 3 and 6 of `p2`) below 24, 60 and 60 at once:
        // added to 128 less the bound, a byte's high bit is set exactly when it is not below
        // (no byte carries: 99 + 104 < 256).
        let hms = self.b.ins().iadd_imm_s(p2, HMS_ADD as i64);
        let hms = self.b.ins().band_imm_s(hms, HMS_HIGH as i64);
        let bad = self.b.ins().bor(bad, hms);
        let century = byte(self, p0, 0);
        let century = self.b.ins().imul_imm_s(century, 100);
        let yy = byte(self, p0, 2);
        let y = self.b.ins().iadd(century, yy);
        let mo = byte(self, p0, 5);
        // Years 1970 to 2099 (the host reads the others), months 1 to 12.
        let years = self.b.ins().iadd_imm_s(y, -1970);
        let y_ok = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, years, i64::from(TABLE_YEARS));
        let month = self.b.ins().iadd_imm_s(mo, -1);
        let mo_ok = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, month, 12);
        let ok = self.b.ins().band(y_ok, mo_ok);
        let not_ok = self.b.ins().bxor_imm_u(ok, 1);
        let not_ok = self.b.ins().uextend(I64, not_ok);
        let refuse = self.b.ins().bor(bad, not_ok);
        let good = self.b.create_block();
        self.b.ins().brif(refuse, miss, &[], good, &[]);
        self.b.switch_to_block(good);
        // The month's first day and length from the table; the day from 1 to its last.
        let years12 = self.b.ins().imul_imm_s(years, 12);
        let index = self.b.ins().iadd(years12, month);
        let offset = self.b.ins().ishl_imm_u(index, 2);
        let table = self.b.ins().iconst(I64, MONTHS.as_ptr() as i64);
        let entry_at = self.b.ins().iadd(table, offset);
        let entry = self
            .b
            .ins()
            .uload32(MemFlagsData::trusted().with_readonly(), entry_at, 0);
        let last = self.b.ins().band_imm_s(entry, 31);
        let d = byte(self, p1, 0);
        let day = self.b.ins().iadd_imm_s(d, -1);
        let day_ok = self.b.ins().icmp(IntCC::UnsignedLessThan, day, last);
        let in_month = self.b.create_block();
        self.b.ins().brif(day_ok, in_month, &[], miss, &[]);
        self.b.switch_to_block(in_month);
        let first = self.b.ins().ushr_imm_s(entry, 5);
        let days = self.b.ins().iadd(first, day);
        let hh = byte(self, p2, 0);
        let mi = byte(self, p2, 3);
        let ss = byte(self, p2, 6);
        let t = self.b.ins().imul_imm_s(days, 86_400_000);
        let h = self.b.ins().imul_imm_s(hh, 3_600_000);
        let m = self.b.ins().imul_imm_s(mi, 60_000);
        let sec = self.b.ins().imul_imm_s(ss, 1000);
        let t = self.b.ins().iadd(t, h);
        let t = self.b.ins().iadd(t, m);
        let t = self.b.ins().iadd(t, sec);
        // The end: `Z"`, or `.mmmZ"` (its word from the seconds: `SS.mmmZ"`).
        let end = self.b.ins().uload16(I64, f, at, 20);
        let zulu =
            self.b
                .ins()
                .icmp_imm_s(IntCC::Equal, end, i64::from(u16::from_le_bytes(*b"Z\"")));
        let whole = self.b.create_block();
        let ms = self.b.create_block();
        self.b.ins().brif(zulu, whole, &[], ms, &[]);
        self.b.switch_to_block(whole);
        self.advance(22);
        self.b.ins().jump(done, &[t.into()]);
        self.b.switch_to_block(ms);
        let fits = self.b.create_block();
        let short = self.short_of(26);
        self.b.ins().brif(short, miss, &[], fits, &[]);
        self.b.switch_to_block(fits);
        let template = u64::from_le_bytes(*b"00.000Z\"");
        let w = self.b.ins().load(I64, f, at, 18);
        let t3 = self.b.ins().bxor_imm_s(w, template as i64);
        let up = self.b.ins().iadd_imm_s(t3, adds(template) as i64);
        let bad = self.b.ins().bor(t3, up);
        let bad = self.b.ins().band_imm_s(bad, HIGH as i64);
        let good = self.b.create_block();
        self.b.ins().brif(bad, miss, &[], good, &[]);
        self.b.switch_to_block(good);
        // The milliseconds: bytes 3 to 5 of the word.
        let a = byte(self, t3, 3);
        let a = self.b.ins().imul_imm_s(a, 100);
        let b = byte(self, t3, 4);
        let b = self.b.ins().imul_imm_s(b, 10);
        let c = byte(self, t3, 5);
        let ms = self.b.ins().iadd(a, b);
        let ms = self.b.ins().iadd(ms, c);
        let t = self.b.ins().iadd(t, ms);
        self.advance(26);
        self.b.ins().jump(done, &[t.into()]);
    }

    /// One of `cands` (exact bytes and their word), chosen by the byte at `key` (after the
    /// opening quote of a name) through a switch, then compared whole; anything else (and
    /// text too short to compare) by the host.
    fn names(&mut self, node: u32, base: CVal, at: usize, cands: &[Name], key: usize) {
        let done = self.b.create_block();
        let host = self.b.create_block();
        let mut buckets: Vec<(u8, Vec<&Name>)> = Vec::new();
        for c in cands {
            let Some(&k) = c.0.get(key) else { continue };
            match buckets.iter_mut().find(|(b, _)| *b == k) {
                Some((_, v)) => v.push(c),
                None => buckets.push((k, vec![c])),
            }
        }
        let fits = self.b.create_block();
        let short = self.short_of(key as i64 + 1);
        self.b.ins().brif(short, host, &[], fits, &[]);
        self.b.switch_to_block(fits);
        let here = self.here();
        let k = self.b.ins().uload8(I64, text_flags(), here, key as i32);
        let mut sw = Switch::new();
        let blocks: Vec<Block> = buckets.iter().map(|_| self.b.create_block()).collect();
        for ((byte, _), blk) in buckets.iter().zip(&blocks) {
            sw.set_entry(u128::from(*byte), *blk);
        }
        sw.emit(&mut self.b, k, host);
        for ((_, mut bucket), blk) in buckets.into_iter().zip(blocks) {
            self.b.switch_to_block(blk);
            // Shorter names first: the short forms are the usual ones.
            bucket.sort_by_key(|c| c.0.len());
            for (bytes, word) in bucket {
                let n = bytes.len() as i64;
                let fits = self.b.create_block();
                let next = self.b.create_block();
                let short = self.short_of(n);
                self.b.ins().brif(short, next, &[], fits, &[]);
                self.b.switch_to_block(fits);
                let d = self.differs(bytes);
                let hit = self.b.create_block();
                self.b.ins().brif(d, next, &[], hit, &[]);
                self.b.switch_to_block(hit);
                let v = self.b.ins().iconst(I64, *word);
                self.store(base, at, v);
                self.advance(n);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(next);
            }
            self.b.ins().jump(host, &[]);
        }
        self.by_host(host, done, node, base, at);
    }

    /// Block `host` reads the value by the host, then goes on at `after`, where the code goes
    /// on from here.
    fn by_host(&mut self, host: Block, after: Block, node: u32, base: CVal, at: usize) {
        self.b.switch_to_block(host);
        self.host_value(node, base, at);
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(after);
    }

    /// A list: `[`, blanks, then `]` or elements separated by `,` (blanks around it), each
    /// read by `body` into words zeroed for it after the words used so far (room made by the
    /// host when the capacity runs out), then `]` and the header written; as the replay's
    /// `list_direct`, whose lists must come in the order of their headers.
    fn list(&mut self, header: usize, elem_node: u32, words: usize, body: &[Op]) {
        let f = MemFlagsData::trusted();
        let last = self.b.ins().load(I64, f, self.state, S_LAST_LIST);
        let behind = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, last, header as i64);
        self.branch_fail(behind);
        let h = self.b.ins().iconst(I64, header as i64);
        self.b.ins().store(f, h, self.state, S_LAST_LIST);
        let start = self.b.ins().load(I64, f, self.state, S_USED);
        let c = self.byte();
        let not_open = self.b.ins().icmp_imm_s(IntCC::NotEqual, c, i64::from(b'['));
        self.branch_fail(not_open);
        self.advance(1);
        self.ws();
        let end = self.b.create_block();
        let n_end = self.b.append_block_param(end, I64);
        let elem = self.b.create_block();
        let n_elem = self.b.append_block_param(elem, I64);
        let c = self.byte();
        let close = self.b.ins().icmp_imm_s(IntCC::Equal, c, i64::from(b']'));
        let zero = self.b.ins().iconst(I64, 0);
        let empty = self.b.create_block();
        self.b.ins().brif(close, empty, &[], elem, &[zero.into()]);
        self.b.switch_to_block(empty);
        self.advance(1);
        self.b.ins().jump(end, &[zero.into()]);

        // One element: room for it, its steps, then `,` (another) or `]` (the end).
        self.b.switch_to_block(elem);
        let words_c = words as i64;
        let first = self.b.ins().imul_imm_s(n_elem, words_c);
        let base = self.b.ins().iadd(start, first);
        let need = self.b.ins().iadd_imm_s(base, words_c);
        let out_len = self.b.ins().load(I64, f, self.state, S_OUT_LEN);
        let more = self.b.ins().icmp(IntCC::SignedGreaterThan, need, out_len);
        let grow = self.b.create_block();
        let body_block = self.b.create_block();
        self.b.ins().brif(more, grow, &[], body_block, &[]);
        self.b.switch_to_block(grow);
        self.host(self.f_room, &[need]);
        self.b.ins().jump(body_block, &[]);
        self.b.switch_to_block(body_block);
        // The element's words zeroed, then counted as used (a host call in its steps sees
        // them as the words' length).
        let zero = self.b.ins().iconst(I64, 0);
        let out = self.b.ins().load(I64, f, self.state, S_OUT);
        let off = self.b.ins().ishl_imm_s(base, 3);
        let at = self.b.ins().iadd(out, off);
        for k in 0..words {
            self.b.ins().store(f, zero, at, (8 * k) as i32);
        }
        self.b.ins().store(f, need, self.state, S_USED);
        // An element that does not have the element's shape (or whose value the host does
        // not read) is read whole by the host's scanner from its start, as the replay does.
        let from = self.pos();
        let other = self.b.create_block();
        let after = self.b.create_block();
        let fail = std::mem::replace(&mut self.fail, other);
        self.ops(body, base);
        self.fail = fail;
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(other);
        let elem_c = self.b.ins().iconst(I64, i64::from(elem_node));
        let past = self.host(self.f_element, &[elem_c, base, from]);
        self.b.def_var(self.pos, past);
        self.b.ins().jump(after, &[]);
        self.b.switch_to_block(after);
        let next_n = self.b.ins().iadd_imm_s(n_elem, 1);
        self.ws();
        let c = self.byte();
        self.advance(1);
        let comma = self.b.ins().icmp_imm_s(IntCC::Equal, c, i64::from(b','));
        let another = self.b.create_block();
        let not_comma = self.b.create_block();
        self.b.ins().brif(comma, another, &[], not_comma, &[]);
        self.b.switch_to_block(another);
        self.ws();
        self.b.ins().jump(elem, &[next_n.into()]);
        self.b.switch_to_block(not_comma);
        let not_close = self.b.ins().icmp_imm_s(IntCC::NotEqual, c, i64::from(b']'));
        self.branch_fail(not_close);
        self.b.ins().jump(end, &[next_n.into()]);

        // The header: where the elements start, and how many (the words used end with them).
        self.b.switch_to_block(end);
        let zero = self.b.ins().iconst(I64, 0);
        self.store(zero, header, start);
        self.store(zero, header + 1, n_end);
    }
}
