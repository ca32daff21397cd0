//! Per-thread allocation accounting, so the sandbox can bound the memory an evaluation uses
//! while it runs (see [`super::sandbox`]).
//!
//! [`Counting`] wraps the process's global allocator and keeps, per thread, the net number
//! of bytes that thread has allocated (allocations minus frees, whatever their size). An
//! evaluation reads the counter when it starts and at every step; the difference is what the
//! evaluation holds beyond what existed before it. The cost is one thread-local add per
//! allocation and free, with no branch and no lock. Without [`Counting`] installed as the
//! global allocator the counter stays at zero and only the sandbox's explicit checks (string
//! repetition, serialization) bound an evaluation's memory.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

thread_local! {
    /// Bytes this thread allocated minus bytes it freed (wraps; only differences matter).
    static NET: Cell<isize> = const { Cell::new(0) };
}

/// A global allocator that counts each thread's net allocated bytes, around `A`.
pub struct Counting<A>(pub A);

/// Adds `delta` to this thread's counter (a no-op while the thread is being torn down).
#[inline]
fn count(delta: isize) {
    let _ = NET.try_with(|net| net.set(net.get().wrapping_add(delta)));
}

/// This thread's net allocated bytes so far (compare two readings, never the value itself).
#[inline]
pub fn net_allocated() -> isize {
    NET.try_with(Cell::get).unwrap_or(0)
}

// SAFETY: every call is forwarded to `A` unchanged; counting touches only a thread-local
// `Cell` without a destructor, which neither allocates nor unwinds.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { self.0.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count((new_size as isize).wrapping_sub(layout.size() as isize));
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_this_thread_holds() {
        let before = net_allocated();
        let held = vec![0u8; 1 << 20];
        let during = net_allocated() - before;
        assert!(during >= 1 << 20, "{during}");
        drop(held);
        assert!(net_allocated() - before < 1 << 10);
    }
}
