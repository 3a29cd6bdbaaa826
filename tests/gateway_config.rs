//! `labelgate check --config`: the shipped demo configuration passes; each kind of problem is
//! reported with file and line and a non-zero exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/support.rs"]
mod support;

use std::path::Path;

use support::edit;

fn demo_copy(name: &str) -> std::path::PathBuf {
    support::demo_copy(&format!("test-config/{name}"))
}

fn check(config: &Path) -> (i32, String, String) {
    support::labelgate(["check".as_ref(), "--config".as_ref(), config.as_os_str()])
}

#[test]
fn demo_configuration_passes() {
    let dir = demo_copy("ok");
    let (code, out, err) = check(&dir.join("gateway.toml"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "ok — policy DEMO-UK (UK 1.2.826.0.1.6726289.0.4), 3 users, 3 channel mappings, 2 listeners"
        ),
        "{out}"
    );
}

#[test]
fn problems_are_reported_with_file_and_line() {
    // Unknown key.
    let dir = demo_copy("unknown-key");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "network = \"labelgate-demo\"",
        "network = \"labelgate-demo\"\nnetwrok = \"typo\"",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("gateway.toml:7: unknown field `netwrok`"),
        "{err}"
    );

    // Plaintext off loopback, and a missing certificate: both reported.
    let dir = demo_copy("listeners");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "address = \"127.0.0.1:6667\"",
        "address = \"0.0.0.0:6667\"",
    );
    std::fs::remove_file(dir.join("pki/irc.key")).unwrap();
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("gateway.toml:15: refusing a plaintext IRC listener on 0.0.0.0:6667"),
        "{err}"
    );
    assert!(err.contains("gateway.toml:20: IRC key"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");

    // proxy_from: a network with host bits set and a name that is not an address.
    let dir = demo_copy("proxy-from");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "address = \"127.0.0.1:6667\"",
        "address = \"127.0.0.1:6667\"\nproxy_from = [\"127.0.0.1\", \"10.1.0.1/16\", \"balancer\"]",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "gateway.toml:16: proxy_from: `10.1.0.1/16`: address bits are set beyond the /16 prefix"
        ),
        "{err}"
    );
    assert!(
        err.contains("proxy_from: `balancer` is not an address or network"),
        "{err}"
    );

    // failover: the primary listed again, and a name that is not an address.
    let dir = demo_copy("failover");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "address = \"127.0.0.1:5222\"",
        "address = \"127.0.0.1:5222\"\nfailover = [\"127.0.0.1:5222\", \"127.0.0.1:5223\", \"node2\"]",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("failover `127.0.0.1:5222` is listed twice"),
        "{err}"
    );
    assert!(err.contains("failover `node2` is not an address"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");

    // A self-ping interval past a day.
    let dir = demo_copy("room-ping");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "address = \"127.0.0.1:5222\"",
        "address = \"127.0.0.1:5222\"\nroom_ping_secs = 100000",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("xmpp.room_ping_secs must be from 0 (off) to 86400, not 100000"),
        "{err}"
    );

    // An instance name that cannot stand in a record or a metric label.
    let dir = demo_copy("instance");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "bodies = false ",
        "instance = \"gw a\\n\"\nbodies = false ",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("[audit] instance `gw a\n`: 1 to 64 letters"),
        "{err}"
    );

    // A mapping above its room's clearance: reported in the mapping file.
    let dir = demo_copy("mapping");
    let m = dir.join("mappings/demo.toml");
    edit(
        &m,
        "default_label = \"OFFICIAL\"\nclearance = \"OFFICIAL\"",
        "default_label = \"SECRET\"\nclearance = \"OFFICIAL\"",
    );
    let (code, _, err) = check(&dir.join("gateway.toml"));
    assert_eq!(code, 1);
    assert!(
        err.contains("demo.toml:9: the room's clearance does not dominate its default label"),
        "{err}"
    );

    // A bad clearance in the users file: reported in the users file.
    let dir = demo_copy("users");
    edit(
        &dir.join("users.toml"),
        "clearance = \"OFFICIAL\"",
        "clearance = \"OFFICAL\"",
    );
    let (code, _, err) = check(&dir.join("gateway.toml"));
    assert_eq!(code, 1);
    assert!(
        err.contains("users.toml:11: clearance of `bob`: `OFFICAL` is not a classification"),
        "{err}"
    );

    // A broken policy: its own problems, with its file.
    let dir = demo_copy("policy");
    edit(
        &dir.join("policy.xml"),
        "<securityClassifications>",
        "<securityClassifications><bogus/>",
    );
    let (code, _, err) = check(&dir.join("gateway.toml"));
    assert_eq!(code, 1);
    assert!(
        err.contains("policy.xml:23: unknown element `bogus` in `securityClassifications`"),
        "{err}"
    );

    // Identity mode without its files.
    let dir = demo_copy("identity");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "identity = \"trusted-gateway\"",
        "identity = \"per-user\"",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("per-user needs xmpp.user_certificates"),
        "{err}"
    );

    // The metrics endpoint off loopback.
    let dir = demo_copy("metrics");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "listen = \"127.0.0.1:9464\"",
        "listen = \"0.0.0.0:9464\"",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("gateway.toml:")
            && err.contains("the metrics endpoint must be on a loopback address"),
        "{err}"
    );
}

#[test]
fn configurations_that_cannot_work_are_not_ok() {
    // An audit file that cannot be created.
    let dir = demo_copy("audit-unwritable");
    let g = dir.join("gateway.toml");
    edit(
        &g,
        "file = \"audit.log\"",
        "file = \"/proc/labelgate-no-such-dir/audit.log\"",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot be created in /proc/labelgate-no-such-dir"),
        "{err}"
    );

    // restrict_to_catalog with a default label outside the catalog: every unmarked line refused.
    let dir = demo_copy("catalog-default");
    let m = dir.join("mappings/demo.toml");
    edit(
        &m,
        "catalog = [\"TOP SECRET - UK EYES ONLY\", ",
        "catalog = [",
    );
    let (code, _, err) = check(&dir.join("gateway.toml"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the default label is not in the catalog"),
        "{err}"
    );

    // A mappings folder whose only file is misnamed: nothing would be mapped.
    let dir = demo_copy("misnamed");
    let maps = dir.join("mappings");
    std::fs::rename(maps.join("demo.toml"), maps.join("demo.tml")).unwrap();
    let (code, _, err) = check(&dir.join("gateway.toml"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("demo.tml: holds [[channel]] mappings but is not named *.toml"),
        "{err}"
    );
    assert!(err.contains("no mapping files (*.toml)"), "{err}");
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let policy = format!("{}/contrib/demo/policy.xml", env!("CARGO_MANIFEST_DIR"));
    // Standard output is a pipe whose reader is already gone (as after `| head` exits): the
    // very first write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_labelgate"))
        .args(["policy", "check", &policy])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(status.success(), "{status} {err}");
}

/// Link mode's `[[irc_network]]`: a good network and mapping pass; each problem is reported with
/// file and line, a ceiling above the network's accreditation among them.
#[test]
fn irc_networks_and_the_channels_on_them_are_checked() {
    let network = |accreditation: &str, extra: &str| {
        format!(
            "\n[[irc_network]]\nname = \"opsnet\"\nservers = [\"127.0.0.1:26667\"]\ntls = true\n\
             tls_name = \"localhost\"\nca_file = \"pki/ca.crt\"\naccreditation = \"{accreditation}\"\n\
             puppet_domain = \"opsnet.labelgate.test\"\npuppet_certificate = \"pki/puppets.crt\"\n\
             puppet_key = \"pki/puppets.key\"\n{extra}"
        )
    };
    let append = |path: &Path, text: &str| {
        let t = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, format!("{t}{text}")).unwrap();
    };
    // Good: #ops (ceiling SECRET with the national caveats) on a network accredited to it.
    let dir = demo_copy("network-ok");
    let g = dir.join("gateway.toml");
    append(&g, &network("SECRET, National Caveats:*", ""));
    let m = dir.join("mappings/demo.toml");
    edit(&m, "irc = \"#ops\"", "irc = \"#ops\"\nnetwork = \"opsnet\"");
    let (code, out, err) = check(&g);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("2 listeners, 1 IRC network(s) for link mode"),
        "{out}"
    );

    // SASL PLAIN with an account and a password file passes; a setting of another kind of
    // auth is a mistake, reported at its line.
    let dir = demo_copy("network-sasl");
    let g = dir.join("gateway.toml");
    std::fs::write(dir.join("net.pw"), "s3cret\n").unwrap();
    append(
        &g,
        &network(
            "SECRET",
            "auth = \"sasl-plain\"\naccount = \"gateway\"\npassword_file = \"net.pw\"\n",
        ),
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 0, "{err}");
    let dir = demo_copy("network-sasl-mixed");
    let g = dir.join("gateway.toml");
    let lines = std::fs::read_to_string(&g).unwrap().lines().count();
    append(
        &g,
        &network(
            "SECRET",
            "account = \"gateway\"\nclient_key = \"pki/puppets.key\"\n",
        ),
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    for (n, words) in [
        (12, "account is set but auth = \"none\""),
        (13, "client_key is set but auth = \"none\""),
    ] {
        let want = format!("gateway.toml:{}: irc_network `opsnet`: {words}", lines + n);
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
    }

    // A ceiling above the accreditation: refused at the mapping's line.
    let dir = demo_copy("network-ceiling");
    let g = dir.join("gateway.toml");
    append(&g, &network("OFFICIAL", ""));
    let m = dir.join("mappings/demo.toml");
    edit(&m, "irc = \"#ops\"", "irc = \"#ops\"\nnetwork = \"opsnet\"");
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("demo.toml:14: #ops: the room's clearance `SECRET, National Caveats:*` is not within network `opsnet`'s accreditation `OFFICIAL`"),
        "{err}"
    );

    // A network nobody defined.
    let dir = demo_copy("network-unknown");
    let g = dir.join("gateway.toml");
    let m = dir.join("mappings/demo.toml");
    edit(
        &m,
        "irc = \"#lobby\"",
        "irc = \"#lobby\"\nnetwork = \"nowhere\"",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("demo.toml:7: #lobby: network `nowhere` is not an [[irc_network]]"),
        "{err}"
    );

    // The network's own problems, each at its line.
    let dir = demo_copy("network-bad");
    let g = dir.join("gateway.toml");
    let lines = std::fs::read_to_string(&g).unwrap().lines().count();
    append(
        &g,
        "\n[[irc_network]]\nname = \"bad net\"\nservers = [\"192.0.2.1:6667\", \"nowhere\"]\ntls = false\n\
         auth = \"sasl-external\"\naccreditation = \"SECRET, MARTIAN\"\npuppet_domain = \"a@b\"\n\
         nick_length = 4\npuppet_certificate = \"pki/nobody.crt\"\npuppet_key = \"pki/puppets.key\"\n",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    let at = |n: usize| format!("gateway.toml:{}: irc_network `bad net`", lines + n + 1);
    for (line, words) in [
        (2, "a network name is letters, digits, - and _"),
        (
            3,
            "192.0.2.1:6667 is not on loopback, so plaintext is refused",
        ),
        (3, "`nowhere` is not an address"),
        (
            5,
            "auth = \"sasl-external\" needs tls = true (the certificate is TLS's)",
        ),
        (5, "auth = \"sasl-external\" needs client_certificate"),
        (5, "auth = \"sasl-external\" needs client_key"),
        (
            6,
            "accreditation: `MARTIAN` is not a classification or category",
        ),
        (7, "`a@b` is not an XMPP domain"),
        (8, "nick_length must be from 9 to 64"),
        (9, "puppet_certificate "),
    ] {
        let want = format!("{}: {words}", at(line));
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
    }
    assert!(err.contains("pki/nobody.crt does not exist"), "{err}");
}

#[test]
fn default_labels_come_from_the_mapping_the_rooms_domain_or_the_gateway() {
    let dir = demo_copy("default-labels");
    let g = dir.join("gateway.toml");
    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        format!(
            "{text}\n[labels]\ndefault = \"OFFICIAL\"\n[labels.domains]\n\"secret.labelgate.test\" = \"SECRET\"\n"
        ),
    )
    .unwrap();
    let m = dir.join("mappings/demo.toml");
    std::fs::write(
        &m,
        "[[channel]]\nirc = \"#own\"\nroom = \"own@conference.labelgate.test\"\n\
         default_label = \"SECRET - UK EYES ONLY\"\nclearance = \"SECRET, UK\"\n\n\
         [[channel]]\nirc = \"#domain\"\nroom = \"d@secret.labelgate.test\"\nclearance = \"SECRET, UK\"\n\n\
         [[channel]]\nirc = \"#gateway\"\nroom = \"g@conference.labelgate.test\"\nclearance = \"SECRET, UK\"\n",
    )
    .unwrap();
    let (code, out, err) = check(&g);
    assert_eq!(code, 0, "{err}");
    for (channel, label) in [
        ("#own ", "default label DEMO-UK SECRET - UK EYES ONLY;"),
        ("#domain ", "default label DEMO-UK SECRET;"),
        ("#gateway ", "default label DEMO-UK OFFICIAL;"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(channel))
            .unwrap_or_else(|| panic!("{channel} not in {out}"));
        assert!(line.contains(label), "{line}");
    }

    // A domain default above a room's ceiling is refused, naming where it came from; a bad
    // gateway default is refused at its own line; no default anywhere is refused.
    edit(
        &m,
        "irc = \"#domain\"\nroom = \"d@secret.labelgate.test\"\nclearance = \"SECRET, UK\"",
        "irc = \"#domain\"\nroom = \"d@secret.labelgate.test\"\nclearance = \"OFFICIAL\"",
    );
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not dominate its default label (from the gateway's [labels.domains]"),
        "{err}"
    );
    edit(&g, "default = \"OFFICIAL\"", "default = \"BANANA\"");
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(err.contains("[labels] default `BANANA`"), "{err}");
    let text = std::fs::read_to_string(&g).unwrap();
    let cut = text.find("\n[labels]").unwrap();
    std::fs::write(&g, &text[..cut]).unwrap();
    let (code, _, err) = check(&g);
    assert_eq!(code, 1);
    assert!(err.contains("#gateway: no default label"), "{err}");
}
