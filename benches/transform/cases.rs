//! The three transformations both transformation benchmarks measure, in one process (no
//! start-up): field mapping, a select filter and reshaping an order of 100 items. Each
//! iteration reads the raw JSON record, runs the program in its budget and writes the JSON
//! output, as `jq -c` does per record (see `benches/jq_reference.sh` for the jq side).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use switchboard::api::TransformationSpec;
use switchboard::transform::{Meta, Program};

const CASES: [(&str, &str, &str); 3] = [
    (
        "field_mapping",
        include_str!("../data/map.jq"),
        include_str!("../data/map.json"),
    ),
    (
        "select_filter",
        include_str!("../data/select.jq"),
        include_str!("../data/select.json"),
    ),
    (
        "reshape_100_items",
        include_str!("../data/reshape.jq"),
        include_str!("../data/reshape.json"),
    ),
];

/// Records per second of each program, in the criterion group `group`.
pub fn transformations(c: &mut Criterion, group: &str) {
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(1));
    let meta = Meta::default();
    for (name, jq, input) in CASES {
        let spec: TransformationSpec =
            serde_json::from_value(serde_json::json!({ "jq": jq })).expect("spec");
        let program = Program::compile(&spec).expect("program compiles");
        let raw = input.trim().as_bytes();
        program.run(raw, &meta).expect("program runs");
        group.bench_function(name, |b| {
            b.iter(|| program.run(black_box(raw), &meta).map(|out| out.body.len()))
        });
    }
    group.finish();
}
