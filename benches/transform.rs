//! Records per second of three typical transformations (see `transform/cases.rs`), with the
//! binary's allocator (mimalloc), as the `switchboard` binary runs them.

use criterion::{Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: switchboard::transform::alloc::Counting<mimalloc::MiMalloc> =
    switchboard::transform::alloc::Counting(mimalloc::MiMalloc);

#[path = "transform/cases.rs"]
mod cases;

fn transformations(c: &mut Criterion) {
    cases::transformations(c, "transform");
}

criterion_group!(benches, transformations);
criterion_main!(benches);
