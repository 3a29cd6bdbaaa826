//! Test helpers that need no server: an in-memory writer and a copy of the demo setup.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A writer into shared memory (for audit records), which a test can break (a full disk).
#[derive(Clone, Default)]
pub struct Buf(
    pub Arc<Mutex<Vec<u8>>>,
    pub Arc<std::sync::atomic::AtomicBool>,
);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("no space left on the test device"));
        }
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    /// From now on every write fails.
    pub fn break_now(&self) {
        self.1.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Everything written, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A copy of contrib/demo (its mappings folder included) in `target/NAME/cfg/demo`, with a
/// fresh PKI from contrib/pki — everything under `target/NAME`, so parallel tests do not share
/// files.
pub fn demo_copy(name: &str) -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let top = PathBuf::from(format!("{root}/target/{name}"));
    let _ = std::fs::remove_dir_all(&top);
    let dir = top.join("cfg").join("demo");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["gateway.toml", "policy.xml", "users.toml"] {
        std::fs::copy(format!("{root}/contrib/demo/{f}"), dir.join(f)).unwrap();
    }
    let mappings = dir.join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::copy(
        format!("{root}/contrib/demo/mappings/demo.toml"),
        mappings.join("demo.toml"),
    )
    .unwrap();
    assert!(
        Command::new(format!("{root}/contrib/pki"))
            .arg(dir.join("pki"))
            .status()
            .unwrap()
            .success()
    );
    dir
}

/// Runs the `labelgate` binary; returns exit code, standard output and standard error.
pub fn labelgate<I, S>(args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_labelgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The demo policy (uk-demo) as a policy set.
pub fn demo_policies() -> Arc<labelgate::label::PolicySet> {
    let p = format!(
        "{}/tests/fixtures/spif/uk-demo.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let policy = labelgate::label::load_policy(&std::fs::read_to_string(p).unwrap()).unwrap();
    Arc::new(labelgate::label::PolicySet::new(policy))
}

/// Replaces the first `from` in a file.
pub fn edit(path: &std::path::Path, from: &str, to: &str) {
    let t = std::fs::read_to_string(path).unwrap();
    assert!(t.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, t.replacen(from, to, 1)).unwrap();
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (10 s at most) until `addr` takes TCP connections; panics naming `what` otherwise.
pub async fn wait_listening(addr: std::net::SocketAddr, what: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what} did not start listening on {addr}");
}

/// The page a gateway's metrics endpoint at `addr` serves (status line and headers included).
pub async fn metrics_page(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
