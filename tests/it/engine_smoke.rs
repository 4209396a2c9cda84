//! The engine and registries of `tests/cluster/up` do what zentoo's tests rely on: Podman's
//! Docker API imports an image from a rootfs the test makes and runs a container from it; both
//! registries take a push and give it back to `skopeo` and `umoci`. Skipped (or failing on CI)
//! when the harness is not up.

use crate::support;

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, WaitContainerOptions,
};
use futures::StreamExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::engine::{run, run_ok};

/// A tar of a tiny rootfs: Debian's static busybox and a few applet links.
fn busybox_rootfs_tar(dir: &Path) -> Vec<u8> {
    let busybox = ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox (Debian busybox-static; tests/cluster/up installs it)");
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir rootfs/bin");
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "echo", "cat", "uname"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet link");
    }
    std::fs::write(root.join("hello.txt"), "zentoo harness\n").expect("write hello.txt");
    let tar = dir.join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "-C",
            ])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        Duration::from_secs(30),
    );
    std::fs::read(&tar).expect("read rootfs.tar")
}

/// Imports the busybox rootfs through the engine API as `localhost/zt-smoke-<suffix>:latest`.
async fn import_busybox(docker: &bollard::Docker, dir: &Path, suffix: &str) -> String {
    let tar = busybox_rootfs_tar(dir);
    support::engine::import_rootfs_tar(docker, tar, &format!("localhost/zt-smoke-{suffix}")).await
}

async fn remove_image(docker: &bollard::Docker, reference: &str) {
    let opts = RemoveImageOptionsBuilder::default().force(true).build();
    let _ = docker.remove_image(reference, Some(opts), None).await;
}

#[tokio::test]
async fn container_runs_through_the_docker_api_from_an_imported_rootfs() {
    let Some(engine) = support::engine_env().await else {
        return;
    };
    let docker = &engine.docker;
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = support::unique_suffix();
    let image = import_busybox(docker, dir.path(), &tag).await;

    let name = format!("zt-smoke-{tag}");
    let config = bollard::models::ContainerCreateBody {
        image: Some(image.clone()),
        cmd: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "cat /hello.txt; echo arch=$(uname -m); exit 3".into(),
        ]),
        host_config: Some(bollard::models::HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    docker
        .create_container(Some(opts), config)
        .await
        .expect("create container");
    docker
        .start_container(&name, None)
        .await
        .expect("start container");
    // wait reports a non-zero exit as an error carrying the code
    let code = match docker
        .wait_container(&name, None::<WaitContainerOptions>)
        .next()
        .await
    {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        other => panic!("wait for container {name}: {other:?}"),
    };
    let mut logs = docker.logs(
        &name,
        Some(
            LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let mut output = String::new();
    while let Some(chunk) = logs.next().await {
        output += &chunk.expect("container logs").to_string();
    }
    let rm = RemoveContainerOptionsBuilder::default().force(true).build();
    docker
        .remove_container(&name, Some(rm))
        .await
        .expect("remove container");
    remove_image(docker, &image).await;

    assert_eq!(code, 3, "exit code of the container; output: {output}");
    assert!(output.contains("zentoo harness"), "output: {output}");
    assert!(
        output.contains(&format!("arch={}", std::env::consts::ARCH)),
        "output: {output}"
    );
}

#[tokio::test]
async fn image_pushed_to_both_registries_reads_back_with_skopeo_and_umoci() {
    let Some(engine) = support::engine_env().await else {
        return;
    };
    let Some(reg) = support::registry_env() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = support::unique_suffix();
    let image = import_busybox(&engine.docker, dir.path(), &tag).await;
    let src = format!("containers-storage:{image}");
    let t = Duration::from_secs(120);

    // plain HTTP
    let plain = format!("docker://{}/zt/smoke:{tag}", reg.plain);
    let digest_file = dir.path().join("plain.digest");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false", "--digestfile"])
            .arg(&digest_file)
            .args([&src, &plain]),
        t,
    );
    let pushed = std::fs::read_to_string(&digest_file).expect("digest file");
    let inspect = run_ok(
        Command::new("skopeo").args(["inspect", "--tls-verify=false", &plain]),
        t,
    );
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo inspect JSON");
    assert_eq!(inspect["Digest"].as_str(), Some(pushed.trim()));
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(1));

    // TLS with basic auth: credentials on the command line, then from the auth file
    let authed = format!("docker://{}/zt/smoke:{tag}", reg.auth);
    let digest_file = dir.path().join("auth.digest");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--dest-cert-dir"])
            .arg(&reg.cert_dir)
            .args(["--dest-creds", &reg.creds(), "--digestfile"])
            .arg(&digest_file)
            .args([&src, &authed]),
        t,
    );
    let pushed = std::fs::read_to_string(&digest_file).expect("digest file");
    let inspect = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--cert-dir"])
            .arg(&reg.cert_dir)
            .arg("--authfile")
            .arg(&reg.authfile)
            .arg(&authed),
        t,
    );
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo inspect JSON");
    assert_eq!(inspect["Digest"].as_str(), Some(pushed.trim()));

    // the auth registry refuses anonymous reads, and its certificate is not trusted by default
    let anonymous = run(
        Command::new("skopeo")
            .args(["inspect", "--no-creds", "--cert-dir"])
            .arg(&reg.cert_dir)
            .arg(&authed),
        t,
    );
    assert!(
        !anonymous.status.success(),
        "anonymous read of the auth registry must fail"
    );
    let untrusted = run(
        Command::new("skopeo").args(["inspect", "--creds", &reg.creds(), &authed]),
        t,
    );
    assert!(
        !untrusted.status.success(),
        "TLS without the harness CA must fail"
    );

    // umoci unpacks what came back
    let layout = dir.path().join("layout");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--src-cert-dir"])
            .arg(&reg.cert_dir)
            .arg("--src-authfile")
            .arg(&reg.authfile)
            .arg(&authed)
            .arg(format!("oci:{}:smoke", layout.display())),
        t,
    );
    let bundle = dir.path().join("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:smoke", layout.display()))
            .arg(&bundle),
        t,
    );
    let hello = std::fs::read_to_string(bundle.join("rootfs/hello.txt"))
        .expect("hello.txt in the unpacked image");
    assert_eq!(hello, "zentoo harness\n");
    assert!(bundle.join("rootfs/bin/busybox").is_file());

    remove_image(&engine.docker, &image).await;
}
