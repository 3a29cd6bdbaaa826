//! The peer baseline: bitlbee (Debian's package) as a single-process daemon on loopback in
//! front of the same ejabberd, and the password accounts its users log in with (registered
//! in-band, XEP-0077, since bitlbee knows only SASL PLAIN).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::bench::{PEER_PORT, XMPP_PORT};

/// Where Debian installs it.
pub const BINARY: &str = "/usr/sbin/bitlbee";

/// The password every bitlbee user's XMPP account has.
pub const PASSWORD: &str = "load";

/// Starts `bitlbee -D -n` (one process serves every client, in the foreground) on
/// `127.0.0.1:port` with its configuration in `dir`.
pub fn start(dir: &Path, port: u16) -> Result<Child> {
    if !Path::new(BINARY).exists() {
        bail!(
            "{BINARY} is missing: apt-get install bitlbee (contrib/load --modes labelgate,direct runs without it)"
        );
    }
    let users = dir.join("users");
    std::fs::create_dir_all(&users)?;
    let conf = dir.join("bitlbee.conf");
    std::fs::write(
        &conf,
        format!(
            "[settings]\nRunMode = Daemon\nDaemonInterface = 127.0.0.1\nDaemonPort = {port}\n\
             AuthMode = Open\nConfigDir = {}\nPidFile = {}\nPingInterval = 0\n[defaults]\n",
            users.display(),
            dir.join("bitlbee.pid").display()
        ),
    )?;
    let log = std::fs::File::create(dir.join("bitlbee.log"))?;
    Command::new(BINARY)
        .args(["-D", "-n", "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {BINARY}"))
}

/// The lines an IRC client types to bitlbee's control channel to log `account` in to XMPP
/// and put room `room` on channel `channel`.
pub fn login_lines(nick: &str, account: &str, room: &str, channel: &str) -> String {
    let c = |cmd: &str| format!("PRIVMSG &bitlbee :{cmd}\r\n");
    [
        format!("NICK {nick}\r\nUSER {nick} 0 * :load\r\n"),
        c(&format!("account add jabber {account} {PASSWORD}")),
        c("account jabber set server 127.0.0.1"),
        c(&format!("account jabber set port {PEER_PORT}")),
        c("account jabber set tls_verify false"),
        c("account jabber on"),
        c(&format!("chat add jabber {room} {channel}")),
        c(&format!("chat {channel} set nick {nick}")),
    ]
    .concat()
}

/// Registers `user@labelgate.test` with password [`PASSWORD`] on the benchmark ejabberd
/// (in-band registration is open to loopback there); an account that exists already is fine.
pub async fn register(tls: Arc<rustls::ClientConfig>, user: &str) -> Result<()> {
    let mut tcp = TcpStream::connect(("127.0.0.1", XMPP_PORT)).await?;
    let header = "<?xml version='1.0'?><stream:stream to='labelgate.test' xmlns='jabber:client' \
                  xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    tcp.write_all(header.as_bytes()).await?;
    read_until(&mut tcp, "</stream:features>").await?;
    tcp.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await?;
    read_until(&mut tcp, "<proceed").await?;
    let name = rustls::pki_types::ServerName::try_from("labelgate.test")?;
    let mut s = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    s.write_all(header.as_bytes()).await?;
    s.flush().await?;
    read_until(&mut s, "</stream:features>").await?;
    s.write_all(
        format!(
            "<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>{user}</username>\
             <password>{PASSWORD}</password></query></iq>"
        )
        .as_bytes(),
    )
    .await?;
    s.flush().await?;
    let answer = read_until(&mut s, "</iq>").await?;
    let ok = answer.contains("type='result'")
        || answer.contains("type=\"result\"")
        || answer.contains("<conflict");
    let _ = s.write_all(b"</stream:stream>").await;
    if !ok {
        bail!("registering {user}: {answer}");
    }
    Ok(())
}

/// Reads until `needle` has arrived; returns what was read. Bounded at 64 KiB.
async fn read_until<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, needle: &str) -> Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            bail!("the server closed the stream waiting for {needle}");
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        // An answer to an IQ may also be one empty element, `<iq type='result' .../>`.
        let empty_iq = needle == "</iq>" && text.contains("<iq") && text.contains("/>");
        if text.contains(needle) || empty_iq {
            return Ok(text.into_owned());
        }
        if got.len() > 65536 {
            bail!("no {needle} in 64 KiB");
        }
    }
}
