//! Runs the Argo CD health checks (`charts/switchboard/argocd/health/<Kind>.lua`) as Argo CD
//! does, with a real Lua interpreter (Debian's `lua5.4`, found or installed by
//! `scripts/helm-argocd-lua.sh`, and `lua5.1` too when installed): shared by
//! `tests/argocd_health.rs` (samples) and the end-to-end tests (objects the controller wrote).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The health check of a kind.
pub fn script_path(kind: &str) -> PathBuf {
    repo().join(format!("charts/switchboard/argocd/health/{kind}.lua"))
}

/// A file's text (panics with its path).
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The Lua 5.4 interpreter (installed on first use when missing and running as root).
fn lua() -> &'static Path {
    static LUA: OnceLock<PathBuf> = OnceLock::new();
    LUA.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("scripts/helm-argocd-lua.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/helm-argocd-lua.sh");
        assert!(
            out.status.success(),
            "no Lua 5.4 interpreter (scripts/helm-argocd-lua.sh failed)"
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// A JSON value as a Lua expression (objects become tables with string keys, arrays sequences).
fn to_lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(to_lua).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), to_lua(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lua 5.1 too when installed: Argo CD embeds gopher-lua, a Lua 5.1 (both must agree).
fn lua51() -> Option<&'static Path> {
    static LUA51: OnceLock<Option<PathBuf>> = OnceLock::new();
    LUA51
        .get_or_init(|| {
            let out = Command::new("sh")
                .args(["-c", "command -v lua5.1"])
                .output()
                .ok()?;
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
        .as_deref()
}

/// Runs `chunk` with the interpreter at `lua`; its standard output.
fn run_lua(lua: &Path, chunk: &str, what: &str) -> String {
    let mut child = Command::new(lua)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting lua");
    child
        .stdin
        .take()
        .expect("lua stdin")
        .write_all(chunk.as_bytes())
        .expect("writing the chunk to lua");
    let out = child.wait_with_output().expect("waiting for lua");
    assert!(
        out.status.success(),
        "{what} failed with {}:\n{}",
        lua.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the health check of `kind` on `obj` as Argo CD does (global `obj`, the chunk returns
/// `hs`); returns (status, message).
pub fn health(kind: &str, obj: &Value) -> (String, String) {
    let script = read(&script_path(kind));
    let chunk = format!(
        "obj = {}\nlocal hs = (function()\n{script}\nend)()\nio.write(hs.status, \"\\n\", hs.message or \"\")\n",
        to_lua(obj)
    );
    let what = format!("{kind}.lua on {obj}");
    let text = run_lua(lua(), &chunk, &what);
    if let Some(lua51) = lua51() {
        assert_eq!(
            run_lua(lua51, &chunk, &what),
            text,
            "Lua 5.1 and 5.4 disagree: {what}"
        );
    }
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_owned(), message.to_owned())
}
