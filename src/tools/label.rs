//! `labelgate policy …` and `labelgate label …`: what an admin runs to see how the gateway
//! reads a policy, renders and encodes a label (in every language and form the gateway writes),
//! translates it to an equivalent policy, renders a clearance, and decides.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use labelgate::label::xep0258::{LabelPayload, SecurityLabel};
use labelgate::label::{Clearance, Label, Policy, PolicySet, load_policy, missi, nato};

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Load and validate a SPIF file; print its classifications and categories.
    Check {
        /// The SPIF file.
        file: PathBuf,
    },
}

#[derive(Args)]
pub struct LabelInput {
    /// A label file: ESS DER/BER, an ADatP-4774 XML label, or an XEP-0258 <securitylabel>.
    file: Option<PathBuf>,
    /// An ESS label in base64.
    #[arg(long, conflicts_with_all = ["file", "marking"])]
    ess: Option<String>,
    /// A display marking, e.g. "SECRET - UK / EU EYES ONLY" (in the language of --lang).
    #[arg(long, conflicts_with_all = ["file", "ess"])]
    marking: Option<String>,
    /// The language of markings read and shown (an xml:lang tag, e.g. `fr`); the policy's
    /// default language when absent.
    #[arg(long)]
    lang: Option<String>,
}

#[derive(Subcommand)]
pub enum LabelCmd {
    /// Decode a label and print its marking (in every language the policy has), validity, its
    /// ESS and ADatP-4774 encodings, and its translation to each other policy given.
    Show {
        /// The SPIF policy (repeat to load equivalent policies; the first is the gateway's).
        #[arg(long, required = true)]
        policy: Vec<PathBuf>,
        #[command(flatten)]
        input: LabelInput,
    },
    /// Decide whether a clearance dominates a label: prints `grant` or `deny: reason`.
    Decide {
        /// The SPIF policy (repeat to load equivalent policies; the first is the gateway's).
        #[arg(long, required = true)]
        policy: Vec<PathBuf>,
        /// The clearance, in the users-file syntax (e.g. "SECRET, UK, EU").
        #[arg(long)]
        clearance: String,
        #[command(flatten)]
        input: LabelInput,
    },
    /// Render a clearance (users-file syntax, or RFC 5755 DER with --der) as its marking, in
    /// every language the policy has, as users-file text, and as RFC 5755 DER in base64 in the
    /// policy's own category form (SSLPrivileges when its SPIF's privilegeId names it).
    Clearance {
        /// The SPIF policy the clearance is written in.
        #[arg(long, required = true)]
        policy: PathBuf,
        /// Read the clearance as base64 RFC 5755 DER (what a certificate's clearance attribute
        /// carries), in either category form.
        #[arg(long)]
        der: bool,
        /// The clearance, e.g. "SECRET, UK, EU" (or base64 DER with --der).
        clearance: String,
    },
}

pub fn read_policy(path: &Path) -> Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy {}", path.display()))?;
    load_policy(&text).with_context(|| format!("{}: invalid policy", path.display()))
}

fn policy_set(paths: &[PathBuf]) -> Result<PolicySet> {
    let (first, rest) = paths.split_first().context("no policy given")?;
    let mut set = PolicySet::new(read_policy(first)?);
    for p in rest {
        set.add(read_policy(p)?);
    }
    Ok(set)
}

/// Reads a label from the command line's input, in whichever form it was given.
fn read_label(set: &PolicySet, input: &LabelInput) -> Result<Label> {
    let primary = set.primary();
    if let Some(b64) = &input.ess {
        let der = labelgate::label::ess::decode_base64(b64).context("bad ESS label")?;
        return ess_label(set, &der);
    }
    if let Some(m) = &input.marking {
        return primary
            .parse_marking_in(m, input.lang.as_deref())
            .context("bad marking");
    }
    let Some(path) = &input.file else {
        bail!("give a label file, --ess BASE64 or --marking TEXT");
    };
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"<") {
        let text = std::str::from_utf8(&bytes).context("label XML is not UTF-8")?;
        let el: minidom::Element = text.parse().context("bad label XML")?;
        if el.name() == "securitylabel" {
            let sl = SecurityLabel::try_from(&el)?;
            return match sl.label {
                LabelPayload::Ess(l) => Ok(l),
                LabelPayload::EssMissi { label, .. } => Ok(missi::resolve(set, &label)?),
                LabelPayload::Other(inner) => Ok(nato::from_element_in(set, &inner)?),
                LabelPayload::Default => {
                    bail!("the <securitylabel> holds an empty <label/> (the room's default label)")
                }
            };
        }
        return Ok(nato::from_element_in(set, &el)?);
    }
    ess_label(set, &bytes)
}

/// An ESS label from DER or BER, in either category form (MISSI labels resolved under their
/// policy).
fn ess_label(set: &PolicySet, der: &[u8]) -> Result<Label> {
    match Label::from_der_form(der).context("bad ESS label")? {
        (label, true) => Ok(missi::resolve(set, &label)?),
        (label, false) => Ok(label),
    }
}

/// The `ess:` lines: the label in its policy's category form, and for a MISSI policy the ACP
/// 145 form too.
fn print_ess(policy: Option<&Policy>, label: &Label) -> Result<()> {
    if policy.is_some_and(missi::uses_missi) {
        match policy
            .map(|p| missi::encode(p, label))
            .unwrap_or_else(|| label.to_der_missi())
        {
            Ok(der) => out!("ess: {}", labelgate::label::ess::encode_base64(&der)),
            Err(e) => out!("ess: (none: {e})"),
        }
        out!("ess (ACP 145 form): {}", label.to_base64());
    } else {
        out!("ess: {}", label.to_base64());
    }
    Ok(())
}

pub fn policy_check(path: &Path) -> Result<()> {
    let p = read_policy(path)?;
    out!("policy: {}", p.name);
    out!("id: {}", p.id);
    let order = if p.is_hierarchical() {
        "hierarchical"
    } else {
        "unordered"
    };
    out!("classifications ({order}):");
    for c in &p.classifications {
        let colour = c.color.as_deref().unwrap_or("-");
        out!("  {} (lacv {}, colour {colour})", c.name, c.lacv);
    }
    out!("categories:");
    for set in &p.tag_sets {
        for tag in &set.tags {
            let names: Vec<&str> = tag.categories.iter().map(|c| c.name.as_str()).collect();
            out!(
                "  {} [{}] {}: {}",
                set.name,
                set.id,
                tag.tag_type.spif_name(),
                names.join(", ")
            );
        }
    }
    let langs: Vec<&str> = p.marking_languages().collect();
    if !langs.is_empty() {
        out!("marking languages: {}", langs.join(", "));
    }
    for e in &p.equivalent_policies {
        out!("equivalent: {} ({})", e.name, e.id);
    }
    Ok(())
}

/// The languages to show markings in: the one asked for, or the default and every other.
fn languages<'a>(policy: &'a Policy, lang: Option<&'a str>) -> Vec<Option<&'a str>> {
    match lang {
        Some(l) => vec![Some(l)],
        None => std::iter::once(None)
            .chain(policy.marking_languages().map(Some))
            .collect(),
    }
}

pub fn label_show(paths: &[PathBuf], input: &LabelInput) -> Result<()> {
    let set = policy_set(paths)?;
    let label = read_label(&set, input)?;
    let Some(policy) = label.policy.as_ref().and_then(|id| set.get(id)) else {
        out!("marking: (none: the label's policy is not loaded)");
        match &label.policy {
            Some(id) => out!("valid: no (policy {id} is not loaded)"),
            None => out!("valid: no (the label names no policy)"),
        }
        print_ess(None, &label)?;
        return Ok(());
    };
    for lang in languages(policy, input.lang.as_deref()) {
        let key = lang.map_or("marking".to_owned(), |l| format!("marking [{l}]"));
        match policy.render_marking_in(&label, lang) {
            Ok(m) => out!("{key}: {m}"),
            Err(e) => out!("{key}: (none: {e})"),
        }
    }
    let valid = policy.validate(&label);
    match &valid {
        Ok(()) => out!("valid: yes"),
        Err(e) => out!("valid: no ({e})"),
    }
    print_ess(Some(policy), &label)?;
    if valid.is_ok() {
        match nato::to_element(policy, &label) {
            Some(el) => out!("adatp-4774: {}", String::from(&el)),
            None => out!("adatp-4774: (none: the label cannot be written in that form)"),
        }
        for other in set.iter() {
            if other.id == policy.id {
                continue;
            }
            match set.translate(&label, &other.id) {
                Ok(t) => match other.render_marking(&t) {
                    Ok(m) => out!("as {}: {m}", other.name),
                    Err(e) => out!("as {}: (none: {e})", other.name),
                },
                Err(e) => out!("as {}: (none: {e})", other.name),
            }
        }
    }
    Ok(())
}

pub fn label_decide(paths: &[PathBuf], clearance: &str, input: &LabelInput) -> Result<bool> {
    let set = policy_set(paths)?;
    let clearance = Clearance::parse(set.primary(), clearance).context("bad clearance")?;
    let label = read_label(&set, input)?;
    Ok(match set.check(&clearance, &label) {
        Ok(()) => {
            out!("grant");
            true
        }
        Err(denied) => {
            out!("deny: {denied}");
            false
        }
    })
}

pub fn clearance_show(path: &Path, text: &str, der: bool) -> Result<()> {
    use labelgate::label::ess::{decode_base64, encode_base64};
    let policy = read_policy(path)?;
    let clearance = if der {
        let bytes = decode_base64(text).context("bad clearance base64")?;
        Clearance::from_der_in(&bytes, &policy).context("bad clearance DER")?
    } else {
        Clearance::parse(&policy, text).context("bad clearance")?
    };
    for lang in languages(&policy, None) {
        let key = lang.map_or("marking".to_owned(), |l| format!("marking [{l}]"));
        out!("{key}: {}", policy.render_clearance(&clearance, lang)?);
    }
    out!("text: {}", clearance.to_text(&policy));
    let own = clearance
        .to_der_in(&policy)
        .context("the clearance has no DER in its policy's form")?;
    out!("der: {}", encode_base64(&own));
    if labelgate::label::privileges::uses_ssl_privileges(&policy) {
        out!("der (ACP 145 form): {}", encode_base64(&clearance.to_der()));
    }
    Ok(())
}
