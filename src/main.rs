//! The `labelgate` command line: admin tools for policies, labels and users, the configuration
//! check, and `run` (the runtime itself — start, reload, shutdown — is in `runtime.rs`).

mod runtime;

/// mimalloc rather than the system's allocator: every delivery allocates and frees its stanza,
/// its decision and its line on two worker threads, and glibc's malloc was a quarter of the
/// gateway's CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// `println!` that returns the write error (a closed pipe, as under `| head`) instead of
/// panicking; `main` treats a broken pipe as the reader having had enough.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}
use clap::{Parser, Subcommand};

mod tools;
use tools::label::{LabelCmd, PolicyCmd};

/// The version line, with whether this is a FIPS build.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        labelgate::fips::describe()
    )
});

#[derive(Parser)]
#[command(
    name = "labelgate",
    version = VERSION.as_str(),
    about = "IRC front-end for security-labelled XMPP chat"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Security policy (SPIF) tools.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Label tools.
    #[command(subcommand)]
    Label(LabelCmd),
    /// User directory tools.
    #[command(subcommand)]
    User(UserCmd),
    /// Check a gateway configuration and every file it names (policy, users, mappings).
    Check {
        /// The gateway file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the gateway.
    Run {
        /// The gateway file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Print the argon2id hash of a password for the `password` key of users.toml: asked for
    /// twice without echo on a terminal, else read as one line from standard input.
    Passwd,
    /// Print the SHA-256 fingerprint of a PEM certificate for the `certificates` key.
    Fingerprint {
        /// The certificate (PEM).
        cert: PathBuf,
    },
    /// Check a users file against a policy.
    Check {
        /// The users file.
        file: PathBuf,
        /// The SPIF policy the clearances are written in.
        #[arg(long)]
        policy: PathBuf,
    },
}

fn user_cmd(cmd: &UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Passwd => {
            use std::io::IsTerminal;
            // On a terminal: asked for twice, never echoed. Otherwise: one line from stdin.
            let password = if std::io::stdin().is_terminal() {
                let first = rpassword::prompt_password("New password: ")
                    .context("cannot read the password from the terminal")?;
                let again = rpassword::prompt_password("The same again: ")
                    .context("cannot read the password from the terminal")?;
                if first != again {
                    bail!("the two passwords differ; nothing was hashed");
                }
                first
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read standard input")?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            };
            let password = password.as_str();
            if password.is_empty() {
                bail!("empty password");
            }
            let hash =
                labelgate::config::users::hash_password(password).map_err(anyhow::Error::msg)?;
            out!("{hash}");
        }
        UserCmd::Fingerprint { cert } => {
            let certs = labelgate::xmpp::tls::load_certs(cert)?;
            let first = certs.first().context("no certificate")?;
            out!(
                "{}",
                labelgate::config::users::fingerprint_of(first.as_ref()).1
            );
        }
        UserCmd::Check { file, policy } => {
            let policy = tools::label::read_policy(policy)?;
            let users = labelgate::config::users::Users::load(file, &policy)?;
            out!("{}: {} accounts", file.display(), users.len());
        }
    }
    Ok(())
}

/// Whether the audit file can be appended to (or created), without writing to it.
fn audit_writable(file: &Path) -> std::result::Result<(), String> {
    if file.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .map(drop)
            .map_err(|e| {
                format!(
                    "the audit file {} cannot be appended to: {e}",
                    file.display()
                )
            });
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let probe = dir.join(format!(".labelgate-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!(
            "the audit file {} cannot be created in {}: {e}",
            file.display(),
            dir.display()
        )),
    }
}

fn check(config: &Path) -> Result<bool> {
    match labelgate::config::gateway::load(config) {
        Ok(g) => {
            if let Some(f) = &g.audit.file
                && let Err(why) = audit_writable(f)
            {
                eprintln!("{}: {why}", config.display());
                eprintln!("{}: 1 problem(s)", config.display());
                return Ok(false);
            }
            let primary = g.policies.primary();
            let example = primary
                .classifications
                .first()
                .map(|c| labelgate::label::Label {
                    policy: Some(primary.id.clone()),
                    classification: Some(c.lacv),
                    privacy_mark: None,
                    categories: Default::default(),
                })
                .and_then(|l| primary.render_marking(&l).ok())
                .unwrap_or_default();
            let shown = primary.marking_name();
            out!("policy {shown}: markings read like `{example}`");
            let mut mappings: Vec<_> = g.mappings.iter().collect();
            mappings.sort_by(|a, b| a.channel.cmp(&b.channel));
            for m in mappings {
                let default = primary
                    .render_marking(&m.default_label)
                    .unwrap_or_else(|_| "?".into());
                out!(
                    "{} -> {}: default label {default}; controls {}",
                    m.channel,
                    m.room,
                    m.controls.describe().join("; ")
                );
            }
            let networks = match g.networks.len() {
                0 => String::new(),
                n => format!(", {n} IRC network(s) for link mode"),
            };
            out!(
                "{}: ok — policy {shown} ({} {}), {} users, {} channel mappings, {} listeners{networks}",
                config.display(),
                primary.name,
                primary.id,
                g.users.len(),
                g.mappings.len(),
                g.listen.len()
            );
            Ok(true)
        }
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            eprintln!("{}: {} problem(s)", config.display(), e.problems.len());
            Ok(false)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Policy(PolicyCmd::Check { file }) => {
            tools::label::policy_check(file).map(|()| true)
        }
        Command::Label(LabelCmd::Show { policy, input }) => {
            tools::label::label_show(policy, input).map(|()| true)
        }
        Command::Label(LabelCmd::Decide {
            policy,
            clearance,
            input,
        }) => tools::label::label_decide(policy, clearance, input),
        Command::Label(LabelCmd::Clearance {
            policy,
            der,
            clearance,
        }) => tools::label::clearance_show(policy, clearance, *der).map(|()| true),
        Command::User(cmd) => user_cmd(cmd).map(|()| true),
        Command::Check { config } => check(config),
        Command::Run { config } => runtime::run(config),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("labelgate: {e:#}");
            ExitCode::from(2)
        }
    }
}
