//! glibc malloc tuning for the controller. Its bursts (a snapshot rebuild and engine apply on
//! one thread, status writes on another) leave freed memory that glibc keeps: in per-thread
//! arenas, and in holes below the top of the heap. One arena and a trim after each burst keep
//! RSS near the live heap. No-ops on other C libraries.

/// Limits glibc to one malloc arena unless `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` is set.
/// Call before the runtime starts its threads.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_ARENA_MAX: i32 = -8;
        let tuned = ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if !tuned {
            // SAFETY: mallopt only sets a malloc parameter; M_ARENA_MAX takes any positive
            // value.
            unsafe {
                glibc::mallopt(M_ARENA_MAX, 1);
            }
        }
    }
}

/// Hands the free pages of the heap back to the kernel (after a burst of allocations).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it takes the arena locks itself.
    unsafe {
        glibc::malloc_trim(0);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    unsafe extern "C" {
        pub fn mallopt(param: i32, value: i32) -> i32;
        pub fn malloc_trim(pad: usize) -> i32;
    }
}
