//! The operator files under `contrib/`: the systemd unit passes `systemd-analyze verify` with
//! the real binary in place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn systemd_unit_verifies() {
    let root = env!("CARGO_MANIFEST_DIR");
    let unit = std::fs::read_to_string(format!("{root}/contrib/labelgate.service")).unwrap();
    for needle in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "ReadOnlyPaths=/etc/labelgate",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(needle), "the unit lacks {needle}");
    }
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed; only the unit's text was checked");
        return;
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("labelgate-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("labelgate.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/labelgate", env!("CARGO_BIN_EXE_labelgate")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}
