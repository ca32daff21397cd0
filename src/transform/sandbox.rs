//! Runaway containment for jq evaluation: a step, time, stack and memory budget that jaq
//! itself checks while it evaluates.
//!
//! # How a runaway program is stopped
//!
//! jaq evaluates lazily, but a single `next()` of `def f: f; f` or `[range(1e12)]` may never
//! return, so checking a deadline between outputs is not enough. Two hooks run *inside*
//! jaq's evaluation instead:
//!
//! 1. **Every evaluation step clones the context.** jaq clones its execution context
//!    ([`jaq_core::Ctx`]) on every pipe, comma, definition call and tail-call iteration, and
//!    that clones the context's global data. Our data type, [`Data`], implements `Clone` by
//!    calling [`Budget::tick`], so `def f: f; f` and `repeat(.)` tick on every iteration.
//! 2. **Native generators tick per item.** The one native generator that loops without
//!    touching the context, `range/3`, is replaced by [`range`], which ticks before each
//!    item; `[range(1e12)]` and `last(range(1e12))` therefore tick too.
//!
//! A tick counts one step; every [`CHECK_EVERY`] steps it also compares the clock with the
//! deadline, and on every step it measures how deep the thread's stack has grown since the
//! evaluation started. When a limit is crossed, the tick leaves jaq at once by unwinding
//! with [`std::panic::resume_unwind`] (which does not run the panic hook, so nothing is
//! printed) carrying an [`Exceeded`] payload; [`guarded`] catches it with
//! [`std::panic::catch_unwind`] and turns it into an error. Unwinding cannot be caught by a
//! jq `try`, so a program cannot swallow its own budget error, and no thread is ever
//! abandoned: the evaluating thread itself returns, within one check interval of the limit.
//! jaq is `forbid(unsafe_code)`, so unwinding through it is memory-safe; everything it
//! built is dropped on the way out.
//!
//! # How memory is bounded
//!
//! The global allocator ([`super::alloc::Counting`]) counts each thread's net allocated
//! bytes. A budget notes the count when the evaluation starts, and every tick compares what
//! the evaluation holds now with `max_memory_bytes`, so anything built step by step (doubling
//! a string or an array 40 times with `+`, `[range(n)]`, `fromjson`, regex matches, big
//! integers) stops within one step of crossing it. The operations that can allocate far more
//! in one step than their operands hold are checked *before* they allocate, against what is
//! left of the budget: string repetition (`"x" * 1e9`, by [`mul`]) and serialization of a
//! value of shared parts (`tostring`, `tojson`, string interpolation and the `@` formats that
//! build on them, by [`text`] and [`tojson`]); [`super::jq`] routes `*`, `*=` and string
//! interpolation to them. What one step can still allocate past the budget is bounded by its
//! operands: at most a few times the budget (`a + b` with both just under it) or a constant
//! factor of a string's length (`explode`, `split`, `match`), before the next tick stops it.

#[cfg(panic = "abort")]
compile_error!("the jq sandbox stops runaway programs by unwinding: build with panic = \"unwind\"");

use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use jaq_core::data::{DataT, HasLut};
use jaq_core::native::{Fun, v};
use jaq_core::{Exn, Lut, ValT as _};
use jaq_json::Val;
use jaq_std::ValT as _;

use super::alloc::net_allocated;

/// How often (in steps) a tick reads the clock.
pub const CHECK_EVERY: u64 = 1024;

/// Limits of one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one evaluation may take. Default: 1 s.
    pub timeout: Duration,
    /// Evaluation steps (context clones and generated range items). Default: 10 million.
    pub max_steps: u64,
    /// Stack the evaluation may use beyond where it started. Default: 512 KiB.
    pub max_stack_bytes: usize,
    /// Size of the serialized output. Default: 1 MiB.
    pub max_output_bytes: usize,
    /// Memory the evaluation may hold beyond what existed when it started. Default: 64 MiB.
    pub max_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            max_steps: 10_000_000,
            max_stack_bytes: 512 * 1024,
            max_output_bytes: 1024 * 1024,
            max_memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Which limit an evaluation crossed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    /// It ran longer than the timeout.
    #[error("evaluation took longer than {0:?} (time budget exceeded)")]
    Time(Duration),
    /// It took more steps than allowed.
    #[error("evaluation took more than {0} steps (step budget exceeded)")]
    Steps(u64),
    /// It recursed deeper than the stack budget allows.
    #[error("evaluation recursed too deeply (more than {0} bytes of stack)")]
    Stack(usize),
    /// Its output is larger than allowed.
    #[error("output is larger than {0} bytes (output budget exceeded)")]
    Output(usize),
    /// It held more memory than allowed.
    #[error("evaluation needed more than {0} bytes of memory (memory budget exceeded)")]
    Memory(usize),
}

/// The budget of one running evaluation; lives on the evaluating thread.
pub struct Budget {
    limits: Limits,
    steps: Cell<u64>,
    started: Instant,
    stack_base: usize,
    /// This thread's net allocated bytes when the evaluation started.
    memory_base: isize,
    /// Whether an inline cap ([`super::inline`]) tightened the limits.
    capped: bool,
}

impl Budget {
    /// Starts a budget; the stack is measured from the caller's frame.
    fn new(limits: Limits) -> Self {
        let (limits, capped) = effective(limits);
        Self {
            limits,
            steps: Cell::new(0),
            started: Instant::now(),
            stack_base: stack_address(),
            memory_base: net_allocated(),
            capped,
        }
    }

    /// Counts one step; leaves the evaluation by unwinding when a limit is crossed.
    pub fn tick(&self) {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > self.limits.max_steps {
            self.stop(Exceeded::Steps(self.limits.max_steps));
        }
        if self.stack_base.abs_diff(stack_address()) > self.limits.max_stack_bytes {
            self.stop(Exceeded::Stack(self.limits.max_stack_bytes));
        }
        if self.held() > self.limits.max_memory_bytes as isize {
            self.stop(Exceeded::Memory(self.limits.max_memory_bytes));
        }
        if steps.is_multiple_of(CHECK_EVERY) && self.started.elapsed() > self.limits.timeout {
            self.stop(Exceeded::Time(self.limits.timeout));
        }
    }

    /// Bytes the evaluation holds beyond what existed when it started (negative when it freed
    /// more than it allocated).
    #[inline]
    fn held(&self) -> isize {
        net_allocated().wrapping_sub(self.memory_base)
    }

    /// Bytes the evaluation may still allocate.
    pub fn memory_left(&self) -> usize {
        let max = self.limits.max_memory_bytes as isize;
        max.saturating_sub(self.held()).max(0) as usize
    }

    /// Leaves the evaluation unless `bytes` more fit in its memory budget.
    pub fn reserve(&self, bytes: usize) {
        if bytes > self.memory_left() {
            self.stop(Exceeded::Memory(self.limits.max_memory_bytes));
        }
    }

    /// Leaves the evaluation with `exceeded`, telling a capped caller its cap was hit.
    fn stop(&self, exceeded: Exceeded) -> ! {
        if self.capped {
            super::inline::tripped();
        }
        resume_unwind(Box::new(exceeded))
    }
}

/// The limits of an evaluation starting now on this thread (tightened by the thread's inline
/// cap, if any), and whether the cap tightened them.
fn effective(limits: Limits) -> (Limits, bool) {
    let Some(cap) = super::inline::current() else {
        return (limits, false);
    };
    let capped = Limits {
        max_steps: limits.max_steps.min(cap.max_steps),
        timeout: limits.timeout.min(cap.timeout),
        max_memory_bytes: limits.max_memory_bytes.min(cap.max_memory_bytes),
        ..limits
    };
    (capped, capped != limits)
}

/// An address in the current stack frame (stacks grow down on every platform we run on).
#[inline(never)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// The data type of our filters: jaq-json values, with a budget in the context.
pub struct Sandbox;

impl DataT for Sandbox {
    type V<'a> = Val;
    type Data<'a> = Data<'a>;
}

/// Global data of an evaluation: the program's lookup table and the budget.
pub struct Data<'a> {
    lut: &'a Lut<Sandbox>,
    budget: &'a Budget,
}

impl Clone for Data<'_> {
    /// jaq clones the context at every step; that is where the budget is charged.
    fn clone(&self) -> Self {
        self.budget.tick();
        Self {
            lut: self.lut,
            budget: self.budget,
        }
    }
}

impl<'a> HasLut<'a, Sandbox> for Data<'a> {
    fn lut(&self) -> &'a Lut<Sandbox> {
        self.lut
    }
}

/// A panic that was not a budget stop: a bug in jaq or in our natives.
#[derive(Debug)]
pub struct Crashed(pub String);

impl fmt::Display for Crashed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "jq evaluation crashed: {}", self.0)
    }
}

/// Why a guarded evaluation did not return normally.
#[derive(Debug)]
pub enum Stopped {
    /// A limit was crossed.
    Exceeded(Exceeded),
    /// Something panicked.
    Crashed(Crashed),
}

/// Runs `f` with fresh global data over `lut`; budget stops and panics come back as errors.
pub fn guarded<T>(
    lut: &Lut<Sandbox>,
    limits: Limits,
    f: impl for<'a> FnOnce(Data<'a>) -> T,
) -> Result<T, Stopped> {
    let budget = Budget::new(limits);
    let data = Data {
        lut,
        budget: &budget,
    };
    catch_unwind(AssertUnwindSafe(|| f(data))).map_err(|payload| {
        match payload.downcast::<Exceeded>() {
            Ok(exceeded) => Stopped::Exceeded(*exceeded),
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Stopped::Crashed(Crashed(text))
            }
        }
    })
}

/// Natives that replace jaq's own: a ticking `range/3`, an `env` that reveals nothing (a
/// transformation must not read the engine's environment, which may hold credentials), a
/// `tojson` within the memory budget, and the budgeted `*` and `tostring` that
/// [`super::jq`] routes the operators to ([`MUL`], [`TEXT`]).
pub fn natives() -> impl Iterator<Item = Fun<Sandbox>> {
    let funs: [jaq_core::native::Filter<jaq_core::RunPtr<Sandbox>>; 5] = [
        ("range", v(3), range),
        ("env", v(0), empty_env),
        ("tojson", v(0), tojson),
        (MUL, v(2), mul),
        (TEXT, v(0), text),
    ];
    funs.into_iter().map(jaq_core::native::run::<Sandbox>)
}

/// Names of jaq natives that [`natives`] replaces.
pub const REPLACED: [&str; 3] = ["range", "env", "tojson"];

/// The native that `l * r` is compiled to: `_sb_mul(l; r)`.
pub const MUL: &str = "_sb_mul";

/// The native that string interpolation (and so `tostring` and `@text`) formats with.
pub const TEXT: &str = "_sb_text";

/// `$l * $r`, refusing a string repetition larger than the memory left.
fn mul<'a>(mut cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    let r = cv.0.pop_var();
    let l = cv.0.pop_var();
    if let (Val::TStr(s) | Val::BStr(s), n @ Val::Num(_))
    | (n @ Val::Num(_), Val::TStr(s) | Val::BStr(s)) = (&l, &r)
        && *n > Val::from(0usize)
    {
        // A big integer repeats as often as jaq saturates it to: more than memory holds.
        let times = n.as_isize().unwrap_or(isize::MAX) as usize;
        cv.0.data().budget.reserve(s.len().saturating_mul(times));
    }
    jaq_core::native::bome(l * r)
}

/// `tostring`: a string as it is, anything else as its JSON text, within the memory left.
fn text<'a>(cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    let budget = cv.0.data().budget;
    jaq_core::native::bome(Ok(match cv.1 {
        s @ (Val::TStr(_) | Val::BStr(_)) => s.into_string(),
        v => Val::utf8_str(json_text(budget, &v)),
    }))
}

/// `tojson` within the memory left.
fn tojson<'a>(cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    let budget = cv.0.data().budget;
    jaq_core::native::bome(Ok(Val::utf8_str(json_text(budget, &cv.1))))
}

/// `v`'s JSON text as jaq writes it, leaving the evaluation once it outgrows the memory left
/// (a value of shared parts can stand for far more text than it takes memory).
fn json_text(budget: &Budget, v: &Val) -> Vec<u8> {
    let left = budget.memory_left();
    // Refused before writing when surely too long: writing is far slower than counting.
    if super::size::text_floor(v, left / 2) > left / 2 {
        budget.stop(Exceeded::Memory(budget.limits.max_memory_bytes));
    }
    let mut out = Capped {
        out: Vec::new(),
        left,
    };
    if jaq_json::write::write(&mut out, &Default::default(), 0, v).is_err() {
        budget.stop(Exceeded::Memory(budget.limits.max_memory_bytes));
    }
    out.out
}

/// A buffer that refuses to grow past `left` bytes.
struct Capped {
    out: Vec<u8>,
    left: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        // Twice what is written: the buffer's growth can double its room.
        if self.out.len().saturating_add(bytes.len()).saturating_mul(2) > self.left {
            return Err(std::io::ErrorKind::OutOfMemory.into());
        }
        self.out.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `env`: an empty object.
fn empty_env(_: jaq_core::Cv<'_, Sandbox>) -> jaq_core::ValXs<'_, Val> {
    jaq_core::native::bome(Ok(Val::obj(jaq_json::Map::default())))
}

/// `range($from; $to; $by)`, charging one step per item.
fn range<'a>(mut cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let by = cv.0.pop_var();
    let to = cv.0.pop_var();
    let from = cv.0.pop_var();
    let budget = cv.0.data().budget;
    let direction = by.partial_cmp(&Val::from(0usize)).unwrap_or(Equal);
    let mut next: Option<Val> = Some(from);
    Box::new(std::iter::from_fn(move || {
        let x = next.take()?;
        let more = match direction {
            Greater => x < to,
            Less => x > to,
            Equal => x != to,
        };
        if !more {
            return None;
        }
        budget.tick();
        match x.clone() + by.clone() {
            Ok(following) => next = Some(following),
            Err(e) => return Some(Err(Exn::from(e))),
        }
        Some(Ok(x))
    }))
}
