//! The container engine (Podman or Docker) behind its Docker-compatible API.

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountTmpfsOptions, MountType, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::{ClientVersion, Docker};
use futures::StreamExt;
use std::path::{Path, PathBuf};

/// The API version asked for: Podman's compatible socket answers 1.41, Docker any newer.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Seconds an API call may take (container runs are streamed, not bounded by this).
const TIMEOUT_SECS: u64 = 600;

/// Why the engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No socket answered.
    #[error(
        "no container engine answered (tried {tried}): start Podman's API service \
         (`podman system service --time=0 unix:///run/podman/podman.sock &`) or Docker, or pass --engine"
    )]
    NotFound {
        /// The addresses tried, with why each failed.
        tried: String,
    },
    /// An API call failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The engine's error.
        #[source]
        source: bollard::errors::Error,
    },
}

/// A connected engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// The address it answered on.
    pub address: String,
    /// Its CPU architecture in OCI terms (`amd64`, `arm64`).
    pub arch: String,
}

/// Where a volume mount comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A named engine volume (created on demand).
    Volume(String),
    /// A directory of the host.
    Host(PathBuf),
    /// A tmpfs of this many bytes (memory-backed, gone with the container).
    Tmpfs(u64),
}

/// A container to run to completion.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    /// Container name (unique).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Command and arguments.
    pub command: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// (source, path in the container, read-only).
    pub mounts: Vec<(Source, String, bool)>,
    /// Privileged container.
    pub privileged: bool,
    /// Network mode (`host`, `none`, ...).
    pub network: String,
    /// Labels.
    pub labels: Vec<(String, String)>,
}

impl Engine {
    /// Connects to `explicit`, else `DOCKER_HOST`, else the usual Podman and Docker sockets,
    /// whichever answers first.
    pub async fn connect(explicit: Option<&str>) -> Result<Engine, EngineError> {
        let candidates: Vec<String> = match explicit {
            Some(address) => vec![address.to_string()],
            None => candidate_addresses(),
        };
        let mut tried = Vec::new();
        for address in candidates {
            match try_connect(&address).await {
                Ok(engine) => return Ok(engine),
                Err(why) => tried.push(format!("{address}: {why}")),
            }
        }
        Err(EngineError::NotFound {
            tried: tried.join("; "),
        })
    }

    /// The underlying client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// True when `image` is present in the engine.
    pub async fn has_image(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }

    /// Makes sure `image` is present, pulling it when it is not.
    pub async fn ensure_image(&self, image: &str) -> Result<(), EngineError> {
        if self.has_image(image).await {
            return Ok(());
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull = self.docker.create_image(Some(options), None, None);
        while let Some(progress) = pull.next().await {
            progress.map_err(|source| EngineError::Api {
                what: format!("pulling {image} (it is not in the engine)"),
                source,
            })?;
        }
        Ok(())
    }

    /// Creates the named volume `name` unless it exists.
    pub async fn ensure_volume(
        &self,
        name: &str,
        labels: &[(String, String)],
    ) -> Result<(), EngineError> {
        if self.docker.inspect_volume(name).await.is_ok() {
            return Ok(());
        }
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.iter().cloned().collect()),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map(|_| ())
            .map_err(|source| EngineError::Api {
                what: format!("creating volume {name}"),
                source,
            })
    }

    /// Where the named volume `name` lives on the engine's host (`None`: no such volume).
    /// Usable as a directory only when the engine runs on this machine and we may read it.
    pub async fn volume_mountpoint(&self, name: &str) -> Result<Option<PathBuf>, EngineError> {
        match self.docker.inspect_volume(name).await {
            Ok(volume) => Ok(Some(PathBuf::from(volume.mountpoint))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(EngineError::Api {
                what: format!("inspecting volume {name}"),
                source,
            }),
        }
    }

    /// Creates and starts `spec`, feeds every output line to `on_line`, and returns the exit
    /// code. The container is left for [`Engine::remove`].
    pub async fn run(
        &self,
        spec: &RunSpec,
        mut on_line: impl FnMut(&str),
    ) -> Result<i64, EngineError> {
        let api = |what: String| move |source| EngineError::Api { what, source };
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        self.docker
            .create_container(Some(options), container_body(spec))
            .await
            .map_err(api(format!(
                "creating container {} from {}",
                spec.name, spec.image
            )))?;
        self.docker
            .start_container(&spec.name, None)
            .await
            .map_err(api(format!("starting container {}", spec.name)))?;
        let logs = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = self.docker.logs(&spec.name, Some(logs));
        let mut partial = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(api(format!("reading the output of {}", spec.name)))?;
            partial.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(end) = partial.find('\n') {
                on_line(partial[..end].trim_end_matches('\r'));
                partial.drain(..=end);
            }
        }
        if !partial.is_empty() {
            on_line(&partial);
        }
        let inspect = self
            .docker
            .inspect_container(&spec.name, None)
            .await
            .map_err(api(format!("inspecting container {}", spec.name)))?;
        let state = inspect.state.unwrap_or_default();
        if state.running == Some(true) {
            // The log stream ended early (engine restart?): wait for the exit itself.
            let mut wait = self.docker.wait_container(&spec.name, None);
            if let Some(result) = wait.next().await {
                return match result {
                    Ok(response) => Ok(response.status_code),
                    Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => Ok(code),
                    Err(source) => Err(EngineError::Api {
                        what: format!("waiting for {}", spec.name),
                        source,
                    }),
                };
            }
        }
        Ok(state.exit_code.unwrap_or(-1))
    }

    /// Removes container `name` (force; its anonymous volumes too). Missing is fine.
    pub async fn remove(&self, name: &str) {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        if let Err(e) = self.docker.remove_container(name, Some(options)).await {
            tracing::debug!(container = name, "remove: {e}");
        }
    }
}

/// The engine's create body for `spec`.
pub(crate) fn container_body(spec: &RunSpec) -> ContainerCreateBody {
    let mounts = spec
        .mounts
        .iter()
        .map(|(source, target, read_only)| {
            let (typ, source, tmpfs) = match source {
                Source::Volume(name) => (MountType::VOLUME, Some(name.clone()), None),
                Source::Host(path) => (MountType::BIND, Some(path.display().to_string()), None),
                Source::Tmpfs(bytes) => (
                    MountType::TMPFS,
                    None,
                    Some(MountTmpfsOptions {
                        size_bytes: Some(i64::try_from(*bytes).unwrap_or(i64::MAX)),
                        mode: Some(0o1777),
                        ..Default::default()
                    }),
                ),
            };
            Mount {
                target: Some(target.clone()),
                source,
                typ: Some(typ),
                read_only: Some(*read_only),
                tmpfs_options: tmpfs,
                ..Default::default()
            }
        })
        .collect();
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.command.clone()),
        env: Some(spec.env.clone()),
        labels: Some(spec.labels.iter().cloned().collect()),
        host_config: Some(HostConfig {
            mounts: Some(mounts),
            privileged: Some(spec.privileged),
            network_mode: Some(spec.network.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `DOCKER_HOST`, then the usual sockets of Podman (root and rootless) and Docker.
fn candidate_addresses() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && !host.is_empty()
    {
        out.push(host);
    }
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
        out.push(format!("unix://{dir}/podman/podman.sock"));
    }
    out.push("unix:///run/podman/podman.sock".into());
    out.push("unix:///var/run/docker.sock".into());
    out.dedup();
    out
}

async fn try_connect(address: &str) -> Result<Engine, String> {
    let docker = if let Some(path) = address.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err("no such socket".into());
        }
        Docker::connect_with_unix(path, TIMEOUT_SECS, &API_VERSION)
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        Docker::connect_with_http(address, TIMEOUT_SECS, &API_VERSION)
    } else if address.starts_with('/') {
        Docker::connect_with_unix(address, TIMEOUT_SECS, &API_VERSION)
    } else {
        return Err("not a unix:// or tcp:// address".into());
    }
    .map_err(|e| e.to_string())?;
    let version = docker.version().await.map_err(|e| e.to_string())?;
    let arch = version
        .arch
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    Ok(Engine {
        docker,
        address: address.to_string(),
        arch: oci_arch(&arch).to_string(),
    })
}

/// The OCI name of an engine's architecture.
pub fn oci_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_arches_map_to_oci_names() {
        assert_eq!(oci_arch("x86_64"), "amd64");
        assert_eq!(oci_arch("aarch64"), "arm64");
        assert_eq!(oci_arch("amd64"), "amd64");
    }
}
