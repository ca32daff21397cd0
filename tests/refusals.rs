//! What cannot be honoured is refused, over real HTTP with the real binary: a webhook whose
//! forward destination is refused by the SSRF guard is answered 503 and nothing is stored;
//! malformed CloudEvents are 400; the store's files are the owner's only, and a second
//! process on the same data directory refuses to start.

mod hooks_support;
mod hostile_support;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hostile_support::{TOKEN, post, start};
use support::free_port;

#[test]
fn a_webhook_whose_forward_is_refused_is_answered_503_and_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    // Without --allow-private-destinations, the loopback forward is refused.
    let inst = start(tmp.path(), &[]);
    let (ready, message) = inst
        .ready("webhookendpoints", "tenants", "to-loopback")
        .expect("the endpoint's Ready condition");
    assert_eq!(ready, "False", "{message}");
    let answer = post(
        &inst,
        "/hooks/tenants/to-loopback",
        &[("content-type", "application/json")],
        br#"{"order":1}"#,
    );
    assert_eq!(answer.status, 503);
    assert_eq!(answer.code(), "forward_unavailable");
    // The reason, not the message: strangers do not learn internal addresses.
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    assert!(text.contains("DestinationRefused"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert_eq!(hooks_support::event_count(&inst.data_dir, "tenants"), 0);
    // A working endpoint of the same namespace stores as before.
    let open = post(
        &inst,
        "/hooks/tenants/open",
        &[("content-type", "application/json")],
        b"{}",
    );
    assert_eq!(open.status, 202);
    assert_eq!(hooks_support::event_count(&inst.data_dir, "tenants"), 1);
}

#[test]
fn cloudevents_with_bad_data_base64_or_both_data_forms_are_400() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &[]);
    let bearer = format!("Bearer {TOKEN}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/cloudevents+json"),
    ];
    let event = |extra: &str| {
        format!(r#"{{"specversion":"1.0","id":"ce-1","type":"t","source":"/s",{extra}}}"#)
    };
    let path = "/v1/namespaces/tenants/events";
    for (extra, what) in [
        (r#""data_base64":"not base64!""#, "data_base64"),
        (r#""data":{"a":1},"data_base64":"aGk=""#, "exclusive"),
    ] {
        let answer = post(&inst, path, &headers, event(extra).as_bytes());
        assert_eq!(answer.status, 400, "{extra}");
        assert_eq!(answer.code(), "invalid_event");
        assert!(
            String::from_utf8_lossy(&answer.body).contains(what),
            "{extra}"
        );
    }
    assert_eq!(hooks_support::event_count(&inst.data_dir, "tenants"), 0);
    let valid = post(
        &inst,
        path,
        &headers,
        event(r#""data_base64":"aGk=""#).as_bytes(),
    );
    assert_eq!(valid.status, 202);
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_store_files_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &[]);
    // A write, so the WAL holds something.
    let open = post(
        &inst,
        "/hooks/tenants/open",
        &[("content-type", "application/json")],
        b"{}",
    );
    assert_eq!(open.status, 202);
    let mode = |name: &str| {
        let path = inst.data_dir.join(name);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        meta.permissions().mode() & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    for file in [
        "switchboard.db",
        "switchboard.db-wal",
        "switchboard.db-shm",
        "switchboard.db.lock",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

#[test]
fn a_second_process_on_the_same_data_directory_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let first = start(tmp.path(), &[]);
    let log = tmp.path().join("second.log");
    let mut second = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--manifests"])
        .arg(&first.manifests)
        .arg("--data-dir")
        .arg(&first.data_dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--admin-listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!(
                "the second process kept running; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("in use by another Switchboard process"),
        "{text}"
    );
    // The first one runs on undisturbed.
    let open = post(
        &first,
        "/hooks/tenants/open",
        &[("content-type", "application/json")],
        b"{}",
    );
    assert_eq!(open.status, 202);
}
