//! Allocator tuning for the controller (the binary allocates with mimalloc). Its bursts (a
//! snapshot rebuild and engine apply on one thread, status writes on another) leave freed
//! memory that mimalloc would keep for a while; returning it at once and collecting after each
//! burst keep RSS near the live heap.

use libmimalloc_sys as mi;

/// `mi_option_arena_eager_commit` in mimalloc v3's option enum.
const ARENA_EAGER_COMMIT: mi::mi_option_t = 4;
/// `mi_option_purge_delay` in mimalloc v3's option enum.
const PURGE_DELAY: mi::mi_option_t = 15;

/// Commits arena memory on demand and purges freed memory immediately, unless the
/// `MIMALLOC_*` environment already says otherwise. Call before the runtime starts.
pub fn return_memory_promptly() {
    let set = |option, env: &str, value| {
        if std::env::var_os(env).is_none() {
            // SAFETY: mi_option_set only stores an option value; both options take any value.
            unsafe { mi::mi_option_set(option, value) }
        }
    };
    set(ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0);
    set(PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 0);
}

/// Hands the free memory of this thread's heap back to the kernel (after a burst).
pub fn trim() {
    // SAFETY: mi_collect only frees memory that no live allocation uses.
    unsafe { mi::mi_collect(true) }
}
