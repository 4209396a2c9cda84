//! `zentoo binhost config --dir`: `verify-signature` follows the volume (the public key a
//! signing build leaves at its top).

use std::path::Path;
use std::process::Command;

fn config(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(["binhost", "config", "--url", "http://binhost:8080", "--dir"])
        .arg(dir)
        .output()
        .expect("run zentoo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn verify_signature_is_on_exactly_when_the_volume_is_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pkgdir = dir.path().join("x86_64-pc-linux-gnu/204a6c5b96ec5bf3");
    std::fs::create_dir_all(&pkgdir).expect("mkdir");
    std::fs::write(
        pkgdir.join("Packages"),
        "CHOST: x86_64-pc-linux-gnu\nTIMESTAMP: 1\nVERSION: 0\n\nCPV: app-misc/hello-2.12.1\nCFLAGS: -O2 -pipe\n\n",
    )
    .expect("write");
    let plain = config(dir.path());
    assert!(plain.contains("verify-signature = false\n"), "{plain}");
    assert!(!plain.contains("signed"), "{plain}");

    std::fs::write(
        dir.path().join("binpkg-signing.asc"),
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
    )
    .expect("write");
    let signed = config(dir.path());
    assert!(signed.contains("verify-signature = true\n"), "{signed}");
    assert!(
        signed.contains(
            "# signed: trust the key http://binhost:8080/binpkg-signing.asc in /etc/portage/gnupg"
        ),
        "{signed}"
    );
    assert!(
        signed.contains("sync-uri = http://binhost:8080/x86_64-pc-linux-gnu/204a6c5b96ec5bf3\n"),
        "{signed}"
    );
}
