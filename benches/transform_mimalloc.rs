//! The transformation benchmark (`transform/cases.rs`) with mimalloc as the global
//! allocator, to weigh switching the binary's allocator (jaq allocates on most steps).

use criterion::{Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "transform/cases.rs"]
mod cases;

fn transformations(c: &mut Criterion) {
    cases::transformations(c, "transform_mimalloc");
}

criterion_group!(benches, transformations);
criterion_main!(benches);
