//! A certificate authority made at test time with `openssl ca` (a real database, so that its
//! certificates can be revoked and CRLs made): client certificates valid now or in a period
//! of the test's choosing, revocation, and CRLs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA in its own folder.
pub struct TestCa {
    /// The folder (ca.crt, ca.key, the database, issued certificates).
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

const CONFIG: &str = "[ca]\ndefault_ca = c\n[c]\ndir = .\ndatabase = ./index.txt\n\
serial = ./serial\ncrlnumber = ./crlnumber\nnew_certs_dir = .\ndefault_md = sha256\n\
default_days = 30\ndefault_crl_days = 30\npolicy = p\nx509_extensions = client\n\
crl_extensions = crl\nunique_subject = no\n[p]\ncommonName = supplied\n\
[client]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
extendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n\
[crl]\nauthorityKeyIdentifier = keyid:always\n";

impl TestCa {
    /// A new CA in `dir` (emptied first).
    pub fn new(dir: &Path) -> TestCa {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy();
        let subject = format!("/CN=labelgate test CA {name}");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "30",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-addext",
                "subjectKeyIdentifier=hash",
            ],
        );
        TestCa::with_database(dir)
    }

    /// An existing CA (`ca.crt`, `ca.key` copied into `dir`) given a database here, so that
    /// what it issued elsewhere can be revoked.
    pub fn adopt(dir: &Path, crt: &Path, key: &Path) -> TestCa {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(crt, dir.join("ca.crt")).unwrap();
        std::fs::copy(key, dir.join("ca.key")).unwrap();
        TestCa::with_database(dir)
    }

    fn with_database(dir: &Path) -> TestCa {
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        std::fs::write(dir.join("ca.cnf"), CONFIG).unwrap();
        TestCa {
            dir: dir.to_owned(),
        }
    }

    /// The CA certificate.
    pub fn crt(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// Issues a client certificate `name` valid from now for 30 days, or over
    /// `(start, end)` (`YYYYMMDDHHMMSSZ`); its certificate and key.
    pub fn issue(&self, name: &str, period: Option<(&str, &str)>) -> (PathBuf, PathBuf) {
        let (crt, key, csr) = (
            format!("{name}.crt"),
            format!("{name}.key"),
            format!("{name}.csr"),
        );
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        let mut args = vec![
            "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in",
            &csr, "-out", &crt, "-notext",
        ];
        if let Some((start, end)) = period {
            args.extend(["-startdate", start, "-enddate", end]);
        }
        openssl(&self.dir, &args);
        (self.dir.join(crt), self.dir.join(key))
    }

    /// Revokes a certificate (one of this CA's, issued here or not).
    pub fn revoke(&self, crt: &Path) {
        let crt = crt.to_string_lossy().into_owned();
        openssl(
            &self.dir,
            &[
                "ca", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-revoke", &crt,
            ],
        );
    }

    /// A CRL of what is revoked now, written to `name`.
    pub fn crl(&self, name: &str) -> PathBuf {
        openssl(
            &self.dir,
            &[
                "ca", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-gencrl",
                "-out", name,
            ],
        );
        self.dir.join(name)
    }
}
