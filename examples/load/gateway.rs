//! The process under test in each mode: a fresh labelgate (its configuration written here:
//! users alternately OFFICIAL and SECRET, UK, rooms mapped per run, audit on), two of them
//! with the same files, each on its own node of a two-node cluster (`pair`, with `--cluster`),
//! a fresh bitlbee (its users' XMPP accounts registered once), or nothing (direct XMPP
//! clients).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use labelgate::xmpp::tls;

use super::users::Front;
use super::{Args, bitlbee, cleared};

/// Each user's certificate fingerprint, and each user's TLS configuration with its certificate.
type UserCertificates = (Vec<String>, Arc<Vec<Arc<rustls::ClientConfig>>>);

/// A mode of the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Labelgate,
    /// Another labelgate binary (`--baseline`), e.g. a build of an earlier commit, run the
    /// same way: before and after in one invocation, interleaved.
    Baseline,
    Bitlbee,
    Direct,
    /// Two labelgate processes, the same files, each on its own cluster node with the other
    /// as its failover; users alternate between them.
    Pair,
}

impl Mode {
    /// One letter for room names.
    pub fn letter(self) -> char {
        match self {
            Mode::Labelgate => 'l',
            Mode::Baseline => 'o',
            Mode::Bitlbee => 'b',
            Mode::Direct => 'd',
            Mode::Pair => 'p',
        }
    }

    /// A labelgate binary (which labels and decides).
    pub fn labelgate(self) -> bool {
        matches!(self, Mode::Labelgate | Mode::Baseline | Mode::Pair)
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "labelgate" => Ok(Mode::Labelgate),
            "baseline" => Ok(Mode::Baseline),
            "bitlbee" => Ok(Mode::Bitlbee),
            "direct" => Ok(Mode::Direct),
            "pair" => Ok(Mode::Pair),
            _ => Err(format!(
                "unknown mode {s:?} (labelgate, baseline, bitlbee, direct, pair)"
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Labelgate => "labelgate",
            Mode::Baseline => "baseline labelgate",
            Mode::Bitlbee => "bitlbee",
            Mode::Direct => "direct XMPP",
            Mode::Pair => "labelgate x2",
        })
    }
}

/// What the modes share across runs.
pub struct Gateway {
    dir: PathBuf,
    root: PathBuf,
    xmpp_dir: PathBuf,
    /// The XMPP nodes (folder, c2s port): one server, or a two-node cluster.
    nodes: Vec<(PathBuf, u16)>,
    labelgate: PathBuf,
    baseline: Option<PathBuf>,
    workers: Option<usize>,
    users: usize,
    rooms: usize,
    /// The users' XMPP accounts for bitlbee exist.
    registered: bool,
    /// labelgate's users' certificate fingerprints and TLS configurations, when they log in
    /// with certificates.
    certificates: Option<UserCertificates>,
    tls: Arc<rustls::ClientConfig>,
}

/// A started gateway (or two).
pub struct Started {
    /// Where users log in: user `i` at `fronts[i % fronts.len()]`.
    pub fronts: Vec<Front>,
    /// The gateway processes (none in the direct mode).
    pub pids: Vec<u32>,
    children: Vec<Child>,
}

impl Gateway {
    pub fn new(a: &Args, nodes: &[(PathBuf, u16)]) -> Result<Gateway> {
        let xmpp_dir = nodes
            .first()
            .map(|(d, _)| d.as_path())
            .context("no XMPP node")?;
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("target/bench-load");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let certificates = if a.certificates {
            Some(user_certificates(&root, xmpp_dir, a.users)?)
        } else {
            None
        };
        Ok(Gateway {
            certificates,
            dir,
            root,
            xmpp_dir: xmpp_dir.to_owned(),
            nodes: nodes.to_vec(),
            labelgate: a.labelgate.clone(),
            baseline: a.baseline.clone(),
            workers: a.labelgate_workers,
            users: a.users,
            rooms: a.rooms,
            registered: false,
            tls: tls::client_config_from_files(&xmpp_dir.join("pki/ca.crt"), None)?,
        })
    }

    /// Starts the mode's gateway for the run `tag` and waits until it listens.
    pub async fn start(&mut self, mode: Mode, tag: &str) -> Result<Started> {
        match mode {
            Mode::Direct => {
                let (dir, port) = &self.nodes[0];
                let ep = super::bench::gateway_endpoint_on(
                    dir,
                    *port,
                    Duration::from_secs(60),
                    Duration::from_secs(120),
                )?;
                Ok(Started {
                    fronts: vec![Front::Direct { ep }],
                    pids: Vec::new(),
                    children: Vec::new(),
                })
            }
            Mode::Labelgate | Mode::Baseline => {
                let bin = match (mode, &self.baseline) {
                    (Mode::Baseline, Some(b)) => b.clone(),
                    (Mode::Baseline, None) => bail!("the baseline mode needs --baseline PATH"),
                    _ => self.labelgate.clone(),
                };
                let (front, child) = self.labelgate(&bin, tag, 0).await?;
                Ok(Started {
                    fronts: vec![front],
                    pids: vec![child.id()],
                    children: vec![child],
                })
            }
            Mode::Pair => {
                if self.nodes.len() < 2 {
                    bail!("the pair mode needs a cluster (--cluster)");
                }
                let bin = self.labelgate.clone();
                let mut started = Started {
                    fronts: Vec::new(),
                    pids: Vec::new(),
                    children: Vec::new(),
                };
                for node in 0..2 {
                    let (front, child) = self.labelgate(&bin, tag, node).await?;
                    started.fronts.push(front);
                    started.pids.push(child.id());
                    started.children.push(child);
                }
                Ok(started)
            }
            Mode::Bitlbee => {
                if self.nodes.len() > 1 {
                    bail!("bitlbee runs against the single benchmark server, not with --cluster");
                }
                self.register().await?;
                let port = free_port()?;
                let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
                let dir = self.dir.join(format!("bitlbee-{tag}"));
                let child = bitlbee::start(&dir, port)?;
                listening(mode, addr).await?;
                Ok(Started {
                    fronts: vec![Front::Bitlbee { addr }],
                    pids: vec![child.id()],
                    children: vec![child],
                })
            }
        }
    }

    /// One labelgate process (configuration `tag`) on XMPP node `node` (the next node, if
    /// any, as its failover), listening.
    async fn labelgate(&self, bin: &Path, tag: &str, node: usize) -> Result<(Front, Child)> {
        let port = free_port()?;
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let xmpp = self.nodes[node].1;
        let failover = (self.nodes.len() > 1).then(|| self.nodes[(node + 1) % self.nodes.len()].1);
        let config = self.labelgate_config(tag, node, port, xmpp, failover)?;
        let log = std::fs::File::create(self.dir.join(format!("labelgate-{tag}-{node}.log")))?;
        let mut cmd = Command::new(bin);
        if let Some(n) = self.workers {
            cmd.env("TOKIO_WORKER_THREADS", n.to_string());
        }
        let child = cmd
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        listening(Mode::Labelgate, addr).await?;
        let front = Front::Labelgate {
            addr,
            tls: self.tls.clone(),
            certificates: self.certificates.as_ref().map(|(_, c)| c.clone()),
        };
        Ok((front, child))
    }

    /// Stops the gateways (SIGTERM, then waits at most 15 s for each).
    pub async fn stop(&self, s: Started) {
        for mut child in s.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = tokio::time::timeout(
                Duration::from_secs(15),
                tokio::task::spawn_blocking(move || child.wait()),
            )
            .await;
        }
    }

    /// Registers bitlbee's users' XMPP accounts, once.
    async fn register(&mut self) -> Result<()> {
        if self.registered {
            return Ok(());
        }
        let tls = self.tls.clone();
        let failed: Vec<anyhow::Error> = futures::stream::iter(0..self.users)
            .map(|i| {
                let tls = tls.clone();
                async move { bitlbee::register(tls, &format!("bl{i}")).await }
            })
            .buffer_unordered(16)
            .filter_map(|r| async move { r.err() })
            .collect()
            .await;
        if let Some(e) = failed.into_iter().next() {
            return Err(e);
        }
        self.registered = true;
        Ok(())
    }

    /// Writes labelgate's configuration for run `tag`; returns the gateway file.
    fn labelgate_config(
        &self,
        tag: &str,
        node: usize,
        irc_port: u16,
        xmpp_port: u16,
        failover: Option<u16>,
    ) -> Result<PathBuf> {
        let dir = self.dir.join(format!("labelgate-{tag}-{node}"));
        std::fs::create_dir_all(dir.join("mappings"))?;
        std::fs::copy(
            self.root.join("tests/fixtures/spif/uk-demo.xml"),
            dir.join("policy.xml"),
        )?;
        let hash = labelgate::config::users::hash_password("load").map_err(anyhow::Error::msg)?;
        let mut users = String::from("jid_template = \"{account}@labelgate.test\"\n");
        for i in 0..self.users {
            let clearance = if cleared(i, self.rooms) {
                "SECRET, UK"
            } else {
                "OFFICIAL"
            };
            users.push_str(&format!(
                "[[user]]\naccount = \"u{i}\"\nclearance = \"{clearance}\"\npassword = \"{hash}\"\n"
            ));
            if let Some(fp) = self.certificates.as_ref().and_then(|(f, _)| f.get(i)) {
                users.push_str(&format!("certificates = [\"{fp}\"]\n"));
            }
        }
        std::fs::write(dir.join("users.toml"), users)?;
        let mut maps = String::new();
        for r in 0..self.rooms {
            maps.push_str(&format!(
                "[[channel]]\nirc = \"#r{r}\"\nroom = \"load{tag}r{r}@conference.labelgate.test\"\n\
                 default_label = \"OFFICIAL\"\nclearance = \"SECRET, UK\"\nhistory = 0\n\n"
            ));
        }
        std::fs::write(dir.join("mappings/load.toml"), maps)?;
        let metrics_port = free_port()?;
        let failover = failover
            .map(|p| format!("failover = [\"127.0.0.1:{p}\"]\n"))
            .unwrap_or_default();
        let pki = self.xmpp_dir.join("pki");
        let p = |f: &str| pki.join(f).display().to_string();
        let gateway = dir.join("gateway.toml");
        std::fs::write(
            &gateway,
            format!(
                r#"[irc]
[[irc.listen]]
address = "127.0.0.1:{irc_port}"
tls = true
[irc.tls]
certificate = "{irc_crt}"
key = "{irc_key}"
request_client_certificate = {request}
[irc.limits]
flood_burst = 1000
flood_rate = 1000.0
flood_max_debt = 4000
max_clients = 20000
ping_interval_secs = 600
[xmpp]
address = "127.0.0.1:{xmpp_port}"
{failover}domain = "labelgate.test"
ca_file = "{ca}"
identity = "trusted-gateway"
certificate = "{gw_crt}"
key = "{gw_key}"
[policy]
file = "policy.xml"
[files]
users = "users.toml"
mappings = "mappings"
[audit]
file = "audit.log"
instance = "load-{node}"
[metrics]
listen = "127.0.0.1:{metrics_port}"
"#,
                request = self.certificates.is_some(),
                irc_crt = p("irc.crt"),
                irc_key = p("irc.key"),
                ca = p("ca.crt"),
                gw_crt = p("gateway.crt"),
                gw_key = p("gateway.key"),
            ),
        )?;
        Ok(gateway)
    }
}

/// Makes (once: `contrib/pki` keeps what exists) a client certificate for each user `u{i}`;
/// returns their fingerprints and each user's TLS configuration.
fn user_certificates(root: &Path, xmpp_dir: &Path, n: usize) -> Result<UserCertificates> {
    let pki = xmpp_dir.join("pki");
    let names: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    let ok = Command::new(root.join("contrib/pki"))
        .arg(&pki)
        .arg("labelgate.test")
        .args(&names)
        .stdout(Stdio::null())
        .status()?
        .success();
    if !ok {
        bail!("contrib/pki could not make the users' certificates");
    }
    let mut fps = Vec::new();
    let mut configs = Vec::new();
    for name in &names {
        let crt = pki.join(format!("users/{name}.crt"));
        let key = pki.join(format!("users/{name}.key"));
        let der = tls::load_certs(&crt)?;
        let first = der.first().context("an empty certificate file")?;
        fps.push(labelgate::config::users::fingerprint_of(first.as_ref()).1);
        configs.push(tls::client_config_from_files(
            &pki.join("ca.crt"),
            Some((&crt, &key)),
        )?);
    }
    Ok((fps, Arc::new(configs)))
}

/// Waits (10 s at most) until `addr` takes connections.
async fn listening(mode: Mode, addr: std::net::SocketAddr) -> Result<()> {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{mode} does not listen on {addr} after 10 s")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
