//! `zentoo freshroot`: a fresh stage3 container with a tuple's `/etc/portage` and zentoo's
//! settings applied and the site's shared volumes mounted; a command or an interactive shell.

use super::engine::{Engine, EngineError, RunSpec, Source, container_body};
use super::tuple::container_name;
use super::{container_labels, engine_volume};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder,
};
use futures::StreamExt;
use std::io::Write;
use std::path::Path;
use tokio::io::AsyncWriteExt;
use zentoo_core::plan::build::{BuildPlan, StepName, Volume, WORK_DIR};

/// The container of a freshroot: the build step's environment, mounts and privileges, with
/// `command` run by `freshroot.sh` (a login shell when empty).
pub fn freshroot_spec(
    plan: &BuildPlan,
    site: &Path,
    work_dir: &Path,
    command: &[String],
) -> RunSpec {
    let build = plan.steps.iter().find(|s| s.name == StepName::Build);
    let mut cmd = vec![
        "/bin/sh".to_string(),
        format!("{WORK_DIR}/steps/freshroot.sh"),
    ];
    cmd.extend(command.iter().cloned());
    let mounts = build
        .map(|s| {
            s.mounts
                .iter()
                .map(|m| {
                    let source = match m.volume {
                        Volume::Work | Volume::Target => Source::Host(work_dir.to_path_buf()),
                        Volume::PortageTmp => Source::Tmpfs(
                            plan.tmpfs
                                .as_deref()
                                .and_then(|q| zentoo_core::plan::quantity::bytes(q).ok())
                                .unwrap_or(1 << 30),
                        ),
                        shared => Source::Volume(engine_volume(site, shared)),
                    };
                    (source, m.path.clone(), m.read_only)
                })
                .collect()
        })
        .unwrap_or_default();
    RunSpec {
        name: container_name(
            &plan.image,
            StepName::Build,
            &format!("freshroot-{}", std::process::id()),
        ),
        image: plan.stage3.clone(),
        command: cmd,
        env: build
            .map(|s| s.env.iter().map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default(),
        mounts,
        privileged: true,
        network: "host".into(),
        labels: container_labels(site, &plan.image, "freshroot"),
    }
}

/// Runs `spec` with the terminal attached (raw mode, a tty in the container) and returns its
/// exit code. The container is left for [`Engine::remove`].
pub async fn run_interactive(engine: &Engine, spec: &RunSpec) -> Result<i64, EngineError> {
    let docker = engine.docker();
    let api = |what: String| move |source| EngineError::Api { what, source };
    let body = ContainerCreateBody {
        tty: Some(true),
        open_stdin: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..container_body(spec)
    };
    let options = CreateContainerOptionsBuilder::default()
        .name(&spec.name)
        .build();
    docker
        .create_container(Some(options), body)
        .await
        .map_err(api(format!("creating container {}", spec.name)))?;
    let attach = AttachContainerOptionsBuilder::default()
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .stream(true)
        .build();
    let mut io = docker
        .attach_container(&spec.name, Some(attach))
        .await
        .map_err(api(format!("attaching to {}", spec.name)))?;
    docker
        .start_container(&spec.name, None)
        .await
        .map_err(api(format!("starting container {}", spec.name)))?;
    if let Ok((w, h)) = crossterm::terminal::size() {
        let size = ResizeContainerTTYOptionsBuilder::default()
            .w(i32::from(w))
            .h(i32::from(h))
            .build();
        let _ = docker.resize_container_tty(&spec.name, size).await;
    }

    let raw = crossterm::terminal::enable_raw_mode().is_ok();
    let stdin_task = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::io::AsyncReadExt::read(&mut stdin, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if io.input.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    let _ = io.input.flush().await;
                }
            }
        }
    });
    let mut stdout = std::io::stdout();
    while let Some(Ok(chunk)) = io.output.next().await {
        let _ = stdout.write_all(&chunk.into_bytes());
        let _ = stdout.flush();
    }
    stdin_task.abort();
    if raw {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    let mut wait = docker.wait_container(&spec.name, None);
    let code = match wait.next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(source)) => {
            return Err(EngineError::Api {
                what: format!("waiting for {}", spec.name),
                source,
            });
        }
        None => -1,
    };
    Ok(code)
}
