//! Runaway containment for jq evaluation: a step, time and stack budget that jaq itself
//! checks while it evaluates.
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
//! Memory is bounded through the step budget: a collection such as `[range(n)]` gains at
//! most one element per step. A single native operation can still allocate in one step
//! (`"x" * 1e9`, or doubling a string 40 times); that is outside what a step budget sees.

#[cfg(panic = "abort")]
compile_error!("the jq sandbox stops runaway programs by unwinding: build with panic = \"unwind\"");

use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use jaq_core::data::{DataT, HasLut};
use jaq_core::native::{Fun, v};
use jaq_core::{Exn, Lut};
use jaq_json::Val;

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            max_steps: 10_000_000,
            max_stack_bytes: 512 * 1024,
            max_output_bytes: 1024 * 1024,
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
}

/// The budget of one running evaluation; lives on the evaluating thread.
pub struct Budget {
    limits: Limits,
    steps: Cell<u64>,
    started: Instant,
    stack_base: usize,
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
        if steps.is_multiple_of(CHECK_EVERY) && self.started.elapsed() > self.limits.timeout {
            self.stop(Exceeded::Time(self.limits.timeout));
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

/// Natives that replace jaq's own: a ticking `range/3`, and an `env` that reveals nothing
/// (a transformation must not read the engine's environment, which may hold credentials).
pub fn natives() -> impl Iterator<Item = Fun<Sandbox>> {
    let funs: [jaq_core::native::Filter<jaq_core::RunPtr<Sandbox>>; 2] =
        [("range", v(3), range), ("env", v(0), empty_env)];
    funs.into_iter().map(jaq_core::native::run::<Sandbox>)
}

/// Names of jaq natives that [`natives`] replaces.
pub const REPLACED: [&str; 2] = ["range", "env"];

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
