//! `switchboard transform`, run as a user runs it, against the embedded tests of the
//! example Transformation.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn transform(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("transform")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("switchboard runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn reproduces_every_embedded_test_of_the_example() {
    let file = "config-examples/40-transformation.yaml";
    let text = std::fs::read_to_string(file).unwrap();
    let docs = switchboard::yaml::parse_documents(&text).unwrap();
    let tests = docs[0].value["spec"]["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    for (i, test) in tests.iter().enumerate() {
        let input = dir.path().join(format!("input-{i}.json"));
        std::fs::write(&input, test["input"].to_string()).unwrap();
        let (code, out, err) = transform(&["-f", file, "--input", input.to_str().unwrap()], b"");
        assert_eq!(code, 0, "{}: {err}", test["name"]);
        let output: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(output, test["expect"], "{}", test["name"]);
    }
}

#[test]
fn reads_stdin_with_meta_and_writes_forms() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tf.yaml");
    std::fs::write(
        &file,
        r#"apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: other, namespace: shop}
spec:
  jq: .
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: to-form, namespace: shop}
spec:
  jq: '{who: .name, tag: .tags, event: $meta.eventType}'
  outputFormat: Form
"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let (code, out, err) = transform(
        &[
            "-f",
            file,
            "--name",
            "to-form",
            "--input",
            "-",
            "--input-format",
            "form",
            "--meta",
            r#"{"eventType": "signup"}"#,
        ],
        b"name=Ada+L&tags=a&tags=b",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "who=Ada+L&tag=a&tag=b&event=signup\n");

    let (code, _, err) = transform(&["-f", file], b"{}");
    assert_eq!(code, 1);
    assert!(
        err.contains("several Transformations (other, to-form)"),
        "{err}"
    );
}

#[test]
fn failures_exit_1_with_the_error() {
    let (code, out, err) = transform(
        &["-f", "config-examples/40-transformation.yaml"],
        br#"{"ref": "refs/heads/main"}"#,
    );
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(
        err.contains("input does not match spec.inputSchema: at / (required): \"repository\" is a required property"),
        "{err}"
    );
}
