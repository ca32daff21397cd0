//! The API server itself (OpenAPI schema and CEL rules of the CRDs) refuses bad resources, with
//! a message naming the offending field.

use std::path::PathBuf;

use crate::support::{Kubectl, TestEnv};

const DIR: &str = "tests/fixtures/invalid-apiserver";

/// Checks one fixture; `Err` describes how the server's answer differed from its expect line.
fn check_fixture(kubectl: &Kubectl, namespace: &str, file: &PathBuf) -> Result<(), String> {
    let name = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: {e}"))?;
    let expect = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .ok_or_else(|| format!("{name}: first line must be `# expect: <error text>`"))?;
    if !expect.contains("spec") {
        return Err(format!(
            "{name}: the expected error must name a spec field: {expect}"
        ));
    }
    let path = file
        .to_str()
        .ok_or_else(|| format!("{name}: path is not UTF-8"))?;
    let out = kubectl
        .run(&["apply", "--dry-run=server", "-n", namespace, "-f", path])
        .map_err(|e| format!("{name}: {e}"))?;
    if out.success() {
        return Err(format!(
            "{name}: accepted by the API server:\n{}",
            out.stdout
        ));
    }
    if !out.stderr.contains(expect) {
        return Err(format!("{name}: expected `{expect}` in:\n{}", out.stderr));
    }
    Ok(())
}

#[tokio::test]
async fn apiserver_refuses_every_invalid_fixture() {
    let env = TestEnv::new("invalid").await.unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(env.cluster.repo.join(DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "at least eight kinds of mistake, found {}",
        files.len()
    );

    let kubectl = env.kubectl();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(files.len().div_ceil(4))
            .map(|chunk| {
                let (kubectl, namespace) = (&kubectl, env.namespace.as_str());
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|f| check_fixture(kubectl, namespace, f).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
