//! The admin command line, run as a user would run it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/support.rs"]
mod support;

fn fixture(p: &str) -> String {
    format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    support::labelgate(args)
}

#[test]
fn policy_check() {
    let (code, out, _) = run(&["policy", "check", &fixture("spif/uk-demo.xml")]);
    assert_eq!(code, 0);
    assert!(out.contains("policy: UK\n"), "{out}");
    assert!(out.contains("id: 1.2.826.0.1.6726289.0.4\n"), "{out}");
    assert!(out.contains("  SECRET (lacv 4, colour #FFAA00)"), "{out}");
    assert!(
        out.contains("National Caveats [1.2.826.0.1.6726289.0.4.3] permissive: UK, US, NATO, EU"),
        "{out}"
    );

    let (code, out, err) = run(&["policy", "check", &fixture("spif/food-policy-borked.xml")]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("food-policy-borked.xml: invalid policy"),
        "{err}"
    );
    assert!(
        err.contains("excludedClass `Ambrosia` is listed twice"),
        "{err}"
    );

    let (code, _, err) = run(&["policy", "check", "/nonexistent.xml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read policy /nonexistent.xml"), "{err}");
}

#[test]
fn label_show_forms() {
    let uk = fixture("spif/uk-demo.xml");
    let (code, out, _) = run(&[
        "label",
        "show",
        "--policy",
        &uk,
        "--marking",
        "secret uk eu",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "marking: DEMO-UK SECRET - UK / EU EYES ONLY\nvalid: yes\ness: MTYCAQQGCyqGOgABg5rFEQAEMSQwIoAKYIZIAWUCAQgDAqEUMBIGDCqGOgABg5rFEQAEAwMCBJA=\n\
         adatp-4774: <originatorConfidentialityLabel xmlns='urn:nato:stanag:4774:confidentialitymetadatalabel:1:0'>\
         <ConfidentialityInformation><PolicyIdentifier>UK</PolicyIdentifier><Classification>SECRET</Classification>\
         <Category TagName='National Caveats' Type='PERMISSIVE'><GenericValue>UK</GenericValue><GenericValue>EU</GenericValue></Category>\
         </ConfidentialityInformation></originatorConfidentialityLabel>\n"
    );
    // The ESS it printed decodes to the same thing.
    let (_, again, _) = run(&[
        "label",
        "show",
        "--policy",
        &uk,
        "--ess",
        "MTYCAQQGCyqGOgABg5rFEQAEMSQwIoAKYIZIAWUCAQgDAqEUMBIGDCqGOgABg5rFEQAEAwMCBJA",
    ]);
    assert_eq!(again, out);

    let (code, out, _) = run(&[
        "label",
        "show",
        "--policy",
        &uk,
        &fixture("labels/stupid-label.ber"),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("valid: no (policy 1.1 is not loaded)"),
        "{out}"
    );
    assert!(
        out.contains("ess: MRYCATMGASkMDlZBR1VFTFkgU0VDUkVU\n"),
        "{out}"
    );

    let nato = fixture("spif/nato-4774-policy.xml");
    let (code, out, _) = run(&[
        "label",
        "show",
        "--policy",
        &nato,
        &fixture("labels/nato-4774-17-6.nato"),
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("marking: NATO/KFOR CONFIDENTIAL"), "{out}");

    let (code, out, _) = run(&[
        "label",
        "show",
        "--policy",
        &uk,
        &fixture("xep0258/ess-secret.xml"),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("valid: no (policy 1.1 is not loaded)"),
        "{out}"
    );

    let (code, _, err) = run(&[
        "label",
        "show",
        "--policy",
        &uk,
        "--marking",
        "SECRET BANANA",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`BANANA` is not a classification, category or qualifier"),
        "{err}"
    );
    let (code, _, err) = run(&["label", "show", "--policy", &uk, "--ess", "%%%"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad ESS label"), "{err}");
}

#[test]
fn label_decide() {
    let uk = fixture("spif/uk-demo.xml");
    let (code, out, _) = run(&[
        "label",
        "decide",
        "--policy",
        &uk,
        "--clearance",
        "SECRET, UK",
        "--marking",
        "SECRET UK EYES ONLY",
    ]);
    assert_eq!((code, out.as_str()), (0, "grant\n"));
    let (code, out, _) = run(&[
        "label",
        "decide",
        "--policy",
        &uk,
        "--clearance",
        "SECRET, US",
        "--marking",
        "SECRET UK EYES ONLY",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "deny: the clearance holds none of National Caveats/UK\n"
    );
    let (code, out, _) = run(&[
        "label",
        "decide",
        "--policy",
        &uk,
        "--clearance",
        "TOP SECRET",
        &fixture("labels/stupid-label.ber"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(out, "deny: the label's policy 1.1 is not known here\n");
    let (code, _, err) = run(&[
        "label",
        "decide",
        "--policy",
        &uk,
        "--clearance",
        "MAUVE",
        "--marking",
        "SECRET",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("bad clearance"), "{err}");
    // Equivalent policies given as extra --policy flags take part.
    let tlpx = fixture("spif/tlp-plus.xml");
    let (code, out, _) = run(&[
        "label",
        "decide",
        "--policy",
        &tlpx,
        "--policy",
        &fixture("spif/tlp.xml"),
        "--clearance",
        "GREEN",
        "--ess",
        "MRACAQsGCyqGOgABg5rFEQAC",
    ]);
    assert_eq!(
        (code, out.as_str()),
        (0, "grant\n"),
        "TLP GREEN under a TLPX GREEN clearance"
    );
}

/// `label show` renders in each of the policy's languages, reads a marking in one, writes the
/// ADatP-4774 form (which reads back as the same label), and translates to each other policy.
#[test]
fn label_show_languages_forms_and_translations() {
    let nato = fixture("spif/nato-4774-policy.xml");
    let (code, out, err) = run(&[
        "label",
        "show",
        "--policy",
        &nato,
        "--lang",
        "fr",
        "--marking",
        "NATO DIFFUSION RESTREINTE Communicable a Japon, Suisse, Ukraine",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(
            "marking [fr]: NATO DIFFUSION RESTREINTE Communicable a Japon, Suisse, Ukraine\nvalid: yes\n"
        ),
        "{out}"
    );
    let (code, out, err) = run(&[
        "label",
        "show",
        "--policy",
        &nato,
        "--marking",
        "NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("marking: NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "marking [fr]: NATO DIFFUSION RESTREINTE Communicable a Japon, Suisse, Ukraine\n"
        ),
        "{out}"
    );
    let ess = out
        .lines()
        .find_map(|l| l.strip_prefix("ess: "))
        .unwrap()
        .to_owned();
    let xml = out
        .lines()
        .find_map(|l| l.strip_prefix("adatp-4774: "))
        .unwrap();
    assert!(xml.starts_with("<originatorConfidentialityLabel"), "{xml}");
    let dir = std::env::temp_dir().join(format!("labelgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("written.nato");
    std::fs::write(&file, xml).unwrap();
    let (code, again, err) = run(&["label", "show", "--policy", &nato, file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(again.contains(&format!("ess: {ess}\n")), "{again}");
    std::fs::remove_dir_all(&dir).unwrap();
    // Translation to each equivalent policy loaded (spiffing's table: TLPX AMBER, EU).
    let (code, out, err) = run(&[
        "label",
        "show",
        "--policy",
        &fixture("spif/tlp-plus.xml"),
        "--policy",
        &fixture("spif/tlp.xml"),
        "--policy",
        &fixture("spif/uk-demo.xml"),
        "--marking",
        "TLPX:AMBER J:EU",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "as TLP: TLP:AMBER [REGION=EU] [Additional Handling May Apply]/[Imported Data]\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("as UK: DEMO-UK SECRET - UK / EU EYES ONLY\n"),
        "{out}"
    );
    // An unknown word in the language asked for is refused by name.
    let (code, _, err) = run(&[
        "label",
        "show",
        "--policy",
        &nato,
        "--lang",
        "fr",
        "--marking",
        "NATO RESTREINTE",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("RESTREINTE"), "{err}");
}

/// `label clearance` renders a clearance's marking and its RFC 5755 DER.
#[test]
fn label_clearance_renders() {
    let (code, out, err) = run(&[
        "label",
        "clearance",
        "--policy",
        &fixture("spif/uk-demo.xml"),
        "OFFICIAL, SECRET, UK, EU",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("marking: DEMO-{OFFICIAL|SECRET} - UK / EU EYES ONLY\n"),
        "{out}"
    );
    assert!(out.contains("\nder: MD"), "{out}");
    let (code, _, err) = run(&[
        "label",
        "clearance",
        "--policy",
        &fixture("spif/uk-demo.xml"),
        "SECRET, NARNIA",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("NARNIA"), "{err}");
}

/// `label show` under a policy whose SPIF names the MISSI rbacId: the ESS line is the MISSI
/// form (the ACP 145 form beside it), and a MISSI-form label given back reads as the same
/// label; under the same policy without rbacId it is refused, saying why.
#[test]
fn label_show_missi_form() {
    let missi = fixture("spif/food-policy-missi.xml");
    let marking = "Commodity Crunchy Sweet Red Contains Lactose Not Vegan";
    let (code, out, err) = run(&["label", "show", "--policy", &missi, "--marking", marking]);
    assert_eq!(code, 0, "{err}");
    let line = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    let ess = line("ess: ");
    let acp = line("ess (ACP 145 form): ");
    assert_ne!(ess, acp);
    // The MISSI OID (2.16.840.1.101.2.1.8.1) is in the first, not in the second.
    let b = |t: &str| labelgate::label::ess::decode_base64(t).unwrap();
    let missi_oid = [0x60, 0x86, 0x48, 0x01, 0x65, 0x02, 0x01, 0x08, 0x01];
    assert!(b(&ess).windows(9).any(|w| w == missi_oid));
    assert!(!b(&acp).windows(9).any(|w| w == missi_oid));
    let (code, again, err) = run(&["label", "show", "--policy", &missi, "--ess", &ess]);
    assert_eq!(code, 0, "{err}");
    assert!(
        again.starts_with(&format!("marking: [ Food {marking} ]\nvalid: yes\n")),
        "{again}"
    );
    let plain = fixture("spif/food-policy.xml");
    let (code, _, err) = run(&["label", "show", "--policy", &plain, "--ess", &ess]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("MISSI form, which policy Food does not use"),
        "{err}"
    );
}

/// `labelgate label clearance` under a policy whose clearances are SSLPrivileges: `der:` is in
/// that form (and `der (ACP 145 form):` beside it); `--der` reads either form back to the same
/// clearance; under the same policy without the form, the SSLPrivileges DER is refused.
#[test]
fn label_clearance_ssl_privileges_form() {
    let missi = fixture("spif/food-policy-missi.xml");
    let text = "Commodity, Crunchy, Sweet, Lactose, Not Vegan";
    let (code, out, err) = run(&["label", "clearance", "--policy", &missi, text]);
    assert_eq!(code, 0, "{err}");
    let line = |out: &str, key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    let own = line(&out, "der: ");
    let acp = line(&out, "der (ACP 145 form): ");
    // The SSLPrivileges OID (2.16.840.1.101.2.1.8.2) is in the first, not in the second.
    let b = |t: &str| labelgate::label::ess::decode_base64(t).unwrap();
    let ssl_oid = [0x60, 0x86, 0x48, 0x01, 0x65, 0x02, 0x01, 0x08, 0x02];
    assert!(b(&own).windows(9).any(|w| w == ssl_oid));
    assert!(!b(&acp).windows(9).any(|w| w == ssl_oid));
    let want = line(&out, "text: ");
    for der in [&own, &acp] {
        let (code, again, err) = run(&["label", "clearance", "--policy", &missi, "--der", der]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(line(&again, "text: "), want);
        assert_eq!(line(&again, "der: "), own);
    }
    let plain = fixture("spif/food-policy.xml");
    let (code, _, err) = run(&["label", "clearance", "--policy", &plain, "--der", &own]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("SSLPrivileges, which policy Food does not use"),
        "{err}"
    );
}

/// `labelgate user passwd` on a terminal (a pty from util-linux `script`): asks twice, echoes
/// nothing, refuses two different answers.
#[test]
fn passwd_on_a_terminal_asks_twice_without_echo() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let run = |first: &str, second: &str| {
        let cmd = format!("{} user passwd", env!("CARGO_BIN_EXE_labelgate"));
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("util-linux script");
        let mut input = child.stdin.take().unwrap();
        // Typed after each prompt, as a person would (the terminal echoes nothing by then).
        std::thread::sleep(std::time::Duration::from_millis(800));
        writeln!(input, "{first}").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(800));
        writeln!(input, "{second}").unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = run("sekret-one", "sekret-one");
    assert!(
        out.contains("New password: ") && out.contains("The same again: "),
        "{out}"
    );
    assert!(out.contains("$argon2id$"), "{out}");
    assert!(
        !out.contains("sekret-one"),
        "the password was echoed: {out}"
    );
    let out = run("sekret-one", "sekret-two");
    assert!(out.contains("the two passwords differ"), "{out}");
    assert!(!out.contains("$argon2id$"), "{out}");
}
