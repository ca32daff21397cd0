//! The quick evaluator against jaq: on every program and input where the quick evaluator
//! gives a result, it is jaq's result (outputs, their JSON text, and whether there are more).

use jaq_json::Val;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use super::{Bail, Need, Quick};
use crate::transform::jq;
use crate::transform::program::GLOBALS;
use crate::transform::sandbox::Limits;
use crate::transform::{eval, read, value, write};

/// What one side made of a run.
#[derive(Debug, PartialEq)]
enum Outcome {
    Outputs(Vec<String>, bool),
    Error,
}

fn text_of(v: &Val) -> String {
    match write::write_json(v, 64, usize::MAX) {
        Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => format!("{v:?}"),
    }
}

fn meta() -> Val {
    value::to_jaq(&json!({"eventType": "order.created", "headers": {"x-id": "7"}}))
}

fn jaq_outcome(program: &str, input: &Val) -> Outcome {
    let filter = jq::compile(program, &GLOBALS).expect("jaq compiles every quick program");
    match eval::run_val(
        &filter,
        input.clone(),
        &[meta()],
        Limits::default(),
        3,
        true,
        Ok,
    ) {
        Ok((values, more)) => Outcome::Outputs(values.iter().map(text_of).collect(), more),
        Err(_) => Outcome::Error,
    }
}

/// Runs `program` on `input` both ways; `true` when the quick evaluator gave a result (which
/// must then be jaq's), `false` when it gave up. The quick evaluator runs twice: on the whole
/// input, and on the input read as far as the program needs it, and both must agree.
fn agrees(program: &str, input: &Value) -> bool {
    let quick = Quick::compile(program).unwrap_or_else(|| panic!("{program} is not quick"));
    let text = serde_json::to_vec(input).unwrap();
    let read = read::parse_json_for(&text, quick.need()).expect("a projected read");
    // jq's input as the engine reads it: numbers as written.
    let input = read::parse_json(&text).expect("a full read");
    let whole = quick.outputs(&input, &meta(), 100_000, 3);
    let projected = quick.outputs(&read, &meta(), 100_000, 3);
    let outcome = |result: Result<(Vec<Val>, bool), Bail>| {
        result.map(|(values, more)| Outcome::Outputs(values.iter().map(text_of).collect(), more))
    };
    let (whole, projected) = (outcome(whole), outcome(projected));
    assert_eq!(
        whole,
        projected,
        "{program} on {input:?}, need {:?}",
        quick.need()
    );
    let Ok(quick) = whole else {
        return false;
    };
    assert_eq!(
        quick,
        jaq_outcome(program, &input),
        "{program} on {input:?}"
    );
    true
}

#[test]
fn the_benchmark_programs_run_quickly_and_as_jaq_runs_them() {
    let cases = [
        (
            include_str!("../../../benches/data/map.jq"),
            include_str!("../../../benches/data/map.json"),
        ),
        (
            include_str!("../../../benches/data/select.jq"),
            include_str!("../../../benches/data/select.json"),
        ),
        (
            include_str!("../../../benches/data/reshape.jq"),
            include_str!("../../../benches/data/reshape.json"),
        ),
    ];
    for (program, input) in cases {
        let input: Value = serde_json::from_str(input).unwrap();
        assert!(agrees(program, &input), "{program} gave up");
    }
}

#[test]
fn every_construct_of_the_core_agrees_with_jaq() {
    let input = json!({
        "a": 1, "b": 2.5, "s": "Hello World", "t": ["x", "y", "x", "test"], "n": null,
        "o": {"k": "v", "z": [1, 2, 3]}, "f": false, "big": 18446744073709551615u64,
        "arr": [{"sku": "A", "q": 2, "p": 1.5}, {"sku": "B", "q": 1, "p": 3}]
    });
    let programs = [
        ".",
        ".a",
        ".o.k",
        ".o.z[1]",
        ".o.z[-1]",
        ".o.z[7]",
        ".missing.deeper",
        ".arr[].sku",
        "[.arr[] | {sku, total: (.p * .q)}]",
        "{a, b: .b, (.s): 1, \"lit\": true, \"x\\(.a)\": null}",
        "{a: 1, a: 2}",
        "\"\\(.s) and \\(.a) and \\(.o) and \\(.n)\"",
        ".a + .b, .a - .b, .a * .b, .a / 4, .a % 2",
        ".s + \"!\"",
        ".t + [\"z\"]",
        ".o + {\"k\": 2}",
        "-.a",
        ".a == 1, .a != 1, .a < .b, .b <= .a, .s > .a, .n >= .f",
        ".a and .f, .f or .a, .n or .n",
        ".n // \"default\", .a // 3, (.f, .n) // 9",
        "if .a then \"yes\" else \"no\" end",
        "if .f then 1 elif .a then 2 else 3 end",
        "if .f then 1 end",
        ".arr[] | select(.q > 1)",
        "select(.a == 1) | .s",
        "[.t[] | select(. != \"x\")]",
        ".t | map(ascii_upcase)",
        ".o | map(.)",
        "(.t | index(\"test\")), (.t | index(\"nope\"))",
        ".o | has(\"k\"), has(\"nope\")",
        "(.s | length), (.t | length), (.o | length), (.n | length)",
        ".s | ascii_downcase, ascii_upcase",
        ".t | unique",
        "[.arr[].q] | add",
        ".t | add",
        ".o | keys",
        ".o | tostring, (.a | tostring), (.s | tostring)",
        ".[] | type",
        "[.[]]",
        "empty",
        "[empty]",
        "{a: empty}",
        ".o.z[]?",
        ".a[]?",
        ".a.b?",
        ".big",
        ".big + 1",
        "$meta.eventType",
        "$meta.headers[\"x-id\"]",
        "[.o.z[] | . * 2] | add",
        "true, false, null, 1, \"s\", [], {}",
        ".t[.a]",
        ".o[\"k\"]",
    ];
    let gave_up: Vec<_> = programs.iter().filter(|p| !agrees(p, &input)).collect();
    assert!(gave_up.is_empty(), "gave up: {gave_up:?}");
}

#[test]
fn a_program_needs_only_the_fields_it_reads() {
    let need = |program: &str| Quick::compile(program).unwrap().need().clone();
    let fields = |fields: &[(&str, Need)]| {
        Need::Fields(
            fields
                .iter()
                .map(|(k, n)| (k.to_string(), n.clone()))
                .collect(),
        )
    };
    let reshape = need(include_str!("../../../benches/data/reshape.jq"));
    let item = fields(&[
        ("sku", Need::All),
        ("quantity", Need::All),
        ("price", Need::All),
    ]);
    let Need::Fields(mut got) = reshape else {
        panic!("{reshape:?}")
    };
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let Need::Fields(mut want) = fields(&[
        ("id", Need::All),
        ("customer", fields(&[("id", Need::All)])),
        ("items", Need::Each(Box::new(item))),
    ]) else {
        unreachable!()
    };
    want.sort_by(|a, b| a.0.cmp(&b.0));
    for (got, want) in got.iter_mut().zip(&mut want) {
        if let (Need::Each(g), Need::Each(w)) = (&mut got.1, &mut want.1)
            && let (Need::Fields(g), Need::Fields(w)) = (g.as_mut(), w.as_mut())
        {
            g.sort_by(|a, b| a.0.cmp(&b.0));
            w.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
    assert_eq!(got, want);
    assert_eq!(need("."), Need::All);
    assert_eq!(need("{a: 1}"), Need::Nothing);
    assert_eq!(
        need(".a[] | 1"),
        fields(&[("a", Need::Each(Box::new(Need::Nothing)))])
    );
    assert_eq!(need("select(.t == 1)"), Need::All);
    assert_eq!(need(".a, .[]"), Need::All);
    assert_eq!(need(".o | length"), fields(&[("o", Need::All)]));
    assert_eq!(
        need("map(.x)"),
        Need::Each(Box::new(fields(&[("x", Need::All)])))
    );
}

#[test]
fn errors_and_products_are_left_to_jaq() {
    let input = json!({"a": 1, "s": "x", "t": [1, 2], "f": false});
    for program in [
        ".a.b",
        ".s[]",
        ".s + 1",
        ".a | ascii_downcase",
        "{a: (1, 2)}",
        "(1, 2) + 3",
        "\"\\(.t[])\"",
        ".f | length",
        ".t | keys",
    ] {
        assert!(!agrees(program, &input), "{program} did not give up");
    }
}

#[test]
fn programs_outside_the_core_are_not_compiled() {
    for program in [
        "def f: .; f",
        "reduce .[] as $x (0; . + $x)",
        ". as $x | $x",
        "$other",
        "try .a",
        "(.a)?",
        "@base64",
        "@base64 \"\\(.a)\"",
        "..",
        ".[1:]",
        ".a = 1",
        ".a |= 1",
        "range(3)",
        "error(\"x\")",
        "limit(1; .[])",
        "1.5",
        "label $out | 1",
    ] {
        assert!(Quick::compile(program).is_none(), "{program} compiled");
    }
}

#[test]
fn the_step_cap_gives_up() {
    // 2^30 leaves, built in 30 steps and then walked one by one.
    let doubling = std::iter::repeat_n("[., .]", 30)
        .collect::<Vec<_>>()
        .join(" | ");
    let walk = ".[]".repeat(30);
    let quick = Quick::compile(&format!("{doubling} | [{walk}] | length")).unwrap();
    let outcome = quick.outputs(&Val::Null, &Val::Null, 10_000, 1);
    assert!(
        matches!(outcome, Err(super::Bail)),
        "the walk did not give up"
    );
    // 2^40 outputs of a stream.
    let fanning = std::iter::repeat_n("(., .)", 40)
        .collect::<Vec<_>>()
        .join(" | ");
    let quick = Quick::compile(&format!("[{fanning}] | length")).unwrap();
    let outcome = quick.outputs(&Val::Null, &Val::Null, 10_000, 1);
    assert!(
        matches!(outcome, Err(super::Bail)),
        "the stream did not give up"
    );
    // The same programs within their means.
    let quick = Quick::compile("[., .] | [., .] | [.[][]] | length").unwrap();
    let outcome = quick.outputs(&Val::Null, &Val::Null, 10_000, 1);
    assert_eq!(outcome.map(|(v, _)| v), Ok(vec![Val::from(4usize)]));
}

/// A small JSON value over a few keys, so that programs find what they look for.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..20).prop_map(Value::from),
        prop_oneof![Just(0.5), Just(-2.25), Just(1e20), Just(3.0)].prop_map(Value::from),
        prop_oneof![Just("a"), Just("B"), Just("test"), Just("x y"), Just("é")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(String::from),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A program of the quick core, built from its constructs.
fn program() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(".".to_owned()),
        Just(".a".to_owned()),
        Just(".b".to_owned()),
        Just(".c?".to_owned()),
        Just(".[0]".to_owned()),
        Just(".[]".to_owned()),
        Just(".[]?".to_owned()),
        Just("1".to_owned()),
        Just("-3".to_owned()),
        Just("\"test\"".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("$meta.eventType".to_owned()),
        Just("empty".to_owned()),
        Just("length".to_owned()),
        Just("not".to_owned()),
        Just("add".to_owned()),
        Just("unique".to_owned()),
        Just("keys".to_owned()),
        Just("tostring".to_owned()),
        Just("type".to_owned()),
        Just("ascii_downcase".to_owned()),
    ];
    leaf.prop_recursive(4, 32, 3, |inner| {
        let two = (inner.clone(), inner.clone());
        prop_oneof![
            (
                two.clone(),
                prop::sample::select(vec![
                    "|", ",", "//", "and", "or", "+", "-", "*", "/", "%", "==", "!=", "<", ">=",
                ])
            )
                .prop_map(|((l, r), op)| format!("({l} {op} {r})")),
            inner.clone().prop_map(|f| format!("[{f}]")),
            two.clone()
                .prop_map(|(k, v)| format!("{{a: {k}, (\"k\\({v})\"): {v}}}")),
            two.clone().prop_map(|(k, v)| format!("{{({k}): {v}, b}}")),
            (inner.clone(), two.clone())
                .prop_map(|(c, (t, e))| format!("if {c} then {t} else {e} end")),
            inner.clone().prop_map(|f| format!("select({f})")),
            inner.clone().prop_map(|f| format!("map({f})")),
            inner.clone().prop_map(|f| format!("index({f})")),
            inner.clone().prop_map(|f| format!("has({f})")),
            inner.clone().prop_map(|f| format!("-({f})")),
            inner.prop_map(|f| format!("({f}).a[0]?")),
        ]
    })
}

/// Random programs of the core on random inputs: wherever the quick evaluator answers, it
/// answers as jaq does; and it answers on a good share of them (so the test compares).
#[test]
fn random_programs_agree_with_jaq() {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(3000));
    let answered = std::cell::Cell::new(0u32);
    runner
        .run(&(program(), json_value()), |(program, input)| {
            answered.set(answered.get() + u32::from(agrees(&program, &input)));
            Ok(())
        })
        .unwrap();
    assert!(
        answered.get() > 600,
        "only {} of 3000 answered",
        answered.get()
    );
}
