//! The supply chain of a pushed image, checked with the tools its users run: `zentoo build
//! --push --sign-key` on the example site (real Portage), then `cosign verify` and `cosign
//! verify-attestation` (SLSA provenance, SPDX SBOM) accept it with the public key and reject a
//! tampered image and another key, `syft` scanning the pushed image finds the same Portage
//! packages and versions as the SBOM, and `cosign download sbom` reads the same SBOM as the one
//! written beside the stage tarball; `gpg --verify` accepts the tarball's `.DIGESTS.asc`.

use crate::support;
use crate::support::go_tools::{cosign, syft};
use crate::support::local_site::{Site as Demo, stage3};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    eprintln!(
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .take(8)
            .collect::<Vec<_>>()
            .join("\n")
    );
    out
}

/// A P-256 key pair made as the docs say: `openssl genpkey`, `openssl pkey -pubout`.
fn key_pair(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let made = run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key));
    assert!(made.status.success());
    let out = run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));
    assert!(out.status.success());
    (key.display().to_string(), public.display().to_string())
}

/// An OpenPGP key made by gpg in its own home under `dir`, exported armored (secret, for
/// `--digests-key`); returns the key file and the gpg home that trusts it.
fn gpg_key(dir: &Path) -> (String, std::path::PathBuf) {
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).expect("gpg home");
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--quiet", "--passphrase", ""])
            .args(args))
    };
    let made = gpg(&[
        "--quick-generate-key",
        "zentoo releases <releases@zentoo.example>",
        "ed25519",
        "sign",
        "never",
    ]);
    assert!(made.status.success());
    let exported = gpg(&["--armor", "--export-secret-keys", "releases@zentoo.example"]);
    assert!(exported.status.success() && !exported.stdout.is_empty());
    let key = dir.join("releases.asc");
    std::fs::write(&key, &exported.stdout).expect("write the OpenPGP key");
    (key.display().to_string(), home)
}

/// `gpg --verify SIGNATURE DATA` in `home`: whether gpg accepts it.
fn gpg_verifies(home: &Path, signature: &str, data: &Path) -> bool {
    run(Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--verify", signature])
        .arg(data))
    .status
    .success()
}

/// `cosign <verb> --key <public> ... <reference>` against the harness's plain-HTTP registry (no
/// transparency log here: `--insecure-ignore-tlog`).
fn cosign_verify(
    cosign: &Path,
    verb: &str,
    public: &str,
    extra: &[&str],
    reference: &str,
) -> Output {
    run(Command::new(cosign)
        .args([
            verb,
            "--key",
            public,
            "--insecure-ignore-tlog",
            "--allow-http-registry",
        ])
        .args(extra)
        .arg(reference))
}

/// The in-toto statements `cosign verify-attestation` printed (one DSSE envelope a line).
fn statements(out: &Output) -> Vec<Value> {
    use base64::Engine as _;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|envelope| {
            let payload = envelope["payload"].as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .ok()?;
            serde_json::from_slice(&bytes).ok()
        })
        .collect()
}

#[test]
fn a_pushed_image_is_signed_with_its_sbom_and_provenance_as_cosign_and_syft_read_them() {
    let _heavy = support::load::heavy();
    let Some(stage3) = stage3("a_pushed_image_is_signed") else {
        return;
    };
    let Some(registry) = support::harness_var("ZENTOO_TEST_REGISTRY") else {
        return;
    };
    let (Some(cosign), Some(syft)) = (cosign(), syft()) else {
        return;
    };
    let demo = Demo::new(stage3);
    let (key, public) = key_pair(demo.dir.path(), "zentoo");
    let (_, other_public) = key_pair(demo.dir.path(), "other");
    let (digests_key, gpg_home) = gpg_key(demo.dir.path());
    let prefix = format!("{registry}/{}", support::unique("zentoo-signed"));
    let (code, built) = demo.build(&[
        "base-none-base",
        "--push",
        &prefix,
        "--insecure-registry",
        &registry,
        "--sign-key",
        &key,
        "--digests-key",
        &digests_key,
    ]);
    assert_eq!(code, 0, "{built:?}");
    let record = &built["base-none-base"]["build"];
    let reference = format!("{prefix}/base-none-base:latest");
    assert_eq!(record["image"], reference.as_str());
    let digest = record["imageDigest"].as_str().expect("imageDigest");
    assert!(
        record["signedBy"]
            .as_str()
            .is_some_and(|k| k.starts_with("sha256:")),
        "{record}"
    );

    // The pushed manifest is the one reported.
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{reference}")));
    assert!(inspect.status.success());
    let pushed = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&inspect.stdout))
    );
    assert_eq!(digest, pushed);

    // The controller's audit container, as its audit Job runs it: the SBOM attached to the
    // pushed digest against a snapshot's GLSAs, the result as the termination message (here an
    // advisory of a later hello, which 2.12.1 does not have yet).
    let glsa = demo.dir.path().join("glsa");
    std::fs::create_dir(&glsa).expect("glsa dir");
    let advisory = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/stage3/repo/metadata/glsa/glsa-202610-01.xml"),
    )
    .expect("GLSA 202610-01");
    std::fs::write(
        glsa.join("glsa-202612-01.xml"),
        advisory
            .replace("202610-01", "202612-01")
            .replace(">2.12.1<", ">2.13<"),
    )
    .expect("write GLSA");
    let log = demo.dir.path().join("termination-log");
    let audited = run(Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args([
            "audit",
            &format!("{prefix}/base-none-base@{digest}"),
            "--glsa-dir",
        ])
        .arg(&glsa)
        .args([
            "--arch",
            "amd64",
            "--insecure-registry",
            &registry,
            "--termination-log",
        ])
        .arg(&log));
    assert!(
        audited.status.success(),
        "affected or not, the audit Job succeeds"
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&log).expect("termination log"))
            .expect("JSON");
    assert_eq!(
        result,
        serde_json::json!({"glsa": {"advisories": 1, "affected": [
            {"id": "202612-01", "severity": "high", "package": "app-misc/hello-2.12.1"}
        ]}})
    );

    // cosign verify: the signature is over this digest, by this key.
    let verified = cosign_verify(&cosign, "verify", &public, &[], &reference);
    assert!(verified.status.success());
    let claims: Value = serde_json::from_slice(&verified.stdout).expect("cosign's JSON");
    assert_eq!(
        claims[0]["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert!(
        !cosign_verify(&cosign, "verify", &other_public, &[], &reference)
            .status
            .success(),
        "another key's public key is refused"
    );

    // The provenance: a signed SLSA v1 statement about this digest, naming the build's inputs.
    let out = cosign_verify(
        &cosign,
        "verify-attestation",
        &public,
        &["--type", "slsaprovenance1"],
        &reference,
    );
    assert!(out.status.success());
    let provenance = statements(&out);
    assert_eq!(provenance.len(), 1, "{provenance:?}");
    let statement = &provenance[0];
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], &digest[7..]);
    let definition = &statement["predicate"]["buildDefinition"];
    assert_eq!(definition["externalParameters"]["tuple"], "base-none-base");
    assert!(
        definition["internalParameters"]["inputsDigest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{definition}"
    );
    let dependencies: Vec<&str> = definition["resolvedDependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    for name in ["portage/base", "stage3", "repo-snapshot"] {
        assert!(dependencies.contains(&name), "{name} in {dependencies:?}");
    }

    // The SBOM: signed, and the same document cosign downloads and the tarball has beside it.
    let out = cosign_verify(
        &cosign,
        "verify-attestation",
        &public,
        &["--type", "spdxjson"],
        &reference,
    );
    assert!(out.status.success());
    let signed_sbom = statements(&out).pop().expect("an SPDX attestation");
    let downloaded = run(Command::new(&cosign)
        .args(["download", "sbom", "--allow-http-registry"])
        .arg(&reference));
    assert!(downloaded.status.success());
    let sbom: Value = serde_json::from_slice(&downloaded.stdout).expect("SPDX JSON");
    assert_eq!(signed_sbom["predicate"], sbom);
    let tarball = record["tarball"].as_str().expect("tarball");
    let beside: Value = serde_json::from_slice(
        &std::fs::read(format!("{tarball}.spdx.json")).expect("the SBOM beside the tarball"),
    )
    .expect("SPDX JSON");
    assert_eq!(beside, sbom);

    // The stage tarball's DIGESTS are signed as Gentoo's release media are: gpg accepts the
    // detached signature, and refuses it for altered DIGESTS.
    let digests = std::path::PathBuf::from(format!("{tarball}.DIGESTS"));
    let asc = format!("{}.asc", digests.display());
    assert!(gpg_verifies(&gpg_home, &asc, &digests));
    let altered = demo.dir.path().join("altered.DIGESTS");
    let mut text = std::fs::read(&digests).expect("DIGESTS");
    text.extend_from_slice(b"# SHA512 HASH\n");
    std::fs::write(&altered, text).expect("altered DIGESTS");
    assert!(!gpg_verifies(&gpg_home, &asc, &altered));

    // syft, scanning the pushed image itself, finds the packages the SBOM lists.
    let scanned = run(Command::new(&syft)
        .args(["scan", "-q", "-o", "syft-json"])
        .arg(format!("registry:{reference}"))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .env("SYFT_REGISTRY_INSECURE_USE_HTTP", "true"));
    assert!(scanned.status.success());
    let scanned: Value = serde_json::from_slice(&scanned.stdout).expect("syft JSON");
    let by_syft: BTreeSet<(String, String)> = scanned["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter(|a| a["type"] == "portage")
        .map(|a| {
            (
                a["name"].as_str().unwrap_or_default().into(),
                a["version"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    let by_zentoo: BTreeSet<(String, String)> = sbom["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["SPDXID"] != "SPDXRef-Image")
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().into(),
                p["versionInfo"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert!(by_zentoo.len() >= 4, "{by_zentoo:?}");
    assert_eq!(by_syft, by_zentoo);

    // Tampered: the manifest altered (an annotation added) and pushed as another tag; its
    // digest has no signature.
    let mut manifest: Value = serde_json::from_slice(&inspect.stdout).expect("manifest");
    manifest["annotations"]["org.opencontainers.image.title"] = "tampered".into();
    let (repository, _) = reference.rsplit_once(':').expect("a tag");
    let path = repository.split_once('/').expect("host/repo").1;
    let put = run(Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H"])
        .arg("Content-Type: application/vnd.oci.image.manifest.v1+json")
        .arg("--data-binary")
        .arg(manifest.to_string())
        .arg(format!("http://{registry}/v2/{path}/manifests/tampered")));
    assert!(put.status.success());
    let refused = cosign_verify(
        &cosign,
        "verify",
        &public,
        &[],
        &format!("{repository}:tampered"),
    );
    assert!(!refused.status.success(), "a tampered image is refused");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no signatures found"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
