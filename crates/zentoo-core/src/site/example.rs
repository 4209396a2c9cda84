//! The example site `zentoo site init` creates: small, complete, and buildable by the demo
//! stage3.

use super::write::{Change, commit};
use git2::{Repository, RepositoryInitOptions, build::CheckoutBuilder};
use std::path::Path;

/// The tracked branch of the example site.
pub const MAIN_BRANCH: &str = "main";

const BASE_MAKE_CONF: &str = r#"# /etc/portage/make.conf of the "base" root.
# zentoo adds CHOST, CFLAGS, CXXFLAGS, CPU_FLAGS_*, FEATURES, PKGDIR and DISTDIR
# from the tuple's cpu profile; everything else is yours.
USE="-X -doc -nls"
ACCEPT_LICENSE="-* @FREE"
LC_MESSAGES=C.utf8
"#;

const SERVER_MAKE_CONF: &str = r#"# /etc/portage/make.conf of the "server" root.
USE="-X -doc -nls ipv6 ssl"
ACCEPT_LICENSE="-* @FREE"
LC_MESSAGES=C.utf8
"#;

const NODOCS_PRE_PACK: &str = r#"#!/bin/sh
# pre-pack: runs on the assembled target root ($ROOT) just before it is packed.
set -eu
rm -rf "${ROOT:?}/usr/share/doc" "${ROOT:?}/usr/share/man" "${ROOT:?}/usr/share/info"
"#;

const TUPLES: &str = "# System tuples, one per line: [<cpu>-]<portage>-<buildhooks>-<set>
# A 3-field tuple builds for the default cpu (cpus.yaml `default:`, else amd64).
base-none-base
server-nodocs-web
znver3-server-nodocs-web
# An arm64 system: needs an arm64 engine, or the cluster's arm64 node pool.
# a72-server-nodocs-web
";

const CPUS: &str = "# cpu profiles a tuple's first field can name; amd64 and arm64 are built in.
znver3:
  arch: amd64
  cflags: -O2 -pipe -march=znver3
  cpu_flags:
    X86: aes avx avx2 f16c fma3 mmx mmxext pclmul popcnt sha sse sse2 sse3 sse4_1 sse4_2 ssse3
a72:
  arch: arm64
  cflags: -O2 -pipe -mcpu=cortex-a72
  cpu_flags:
    ARM: aes crc32 sha1 sha2 v8 neon
";

const SET_BASE: &str = "# What every system gets.
app-misc/hello
app-editors/nano
";

const SET_WEB: &str = "# A small web server.
@base
www-servers/nginx
net-misc/curl
";

const README: &str = "# A zentoo site

- `tuples`: the systems to build, `[<cpu>-]<portage>-<buildhooks>-<set>`.
- `sets/<name>`: package sets, one atom or `@set` per line.
- `cpus.yaml`: cpu profiles (arch, chost, cflags, cpu_flags).
- branches `portage/<name>`: one `/etc/portage` tree each.
- branches `buildhooks/<name>`: executable `pre-build`, `post-build`, `pre-pack` hooks.

Try `zentoo plan --site .`
";

/// Creates the example site as a new git repository at `dir` (which must not exist or be
/// empty), with `main` checked out.
pub fn init_example(dir: &Path) -> anyhow::Result<Repository> {
    if dir.exists() && dir.read_dir()?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", dir.display());
    }
    let mut opts = RepositoryInitOptions::new();
    opts.initial_head(MAIN_BRANCH);
    let repo = Repository::init_opts(dir, &opts)?;
    commit(
        &repo,
        "portage/base",
        &[
            Change::file("make.conf", BASE_MAKE_CONF),
            Change::file("package.use/nano", "app-editors/nano -spell\n"),
        ],
        "portage/base: a minimal root",
    )?;
    commit(
        &repo,
        "portage/server",
        &[
            Change::file("make.conf", SERVER_MAKE_CONF),
            Change::file("package.use/nginx", "www-servers/nginx http2\n"),
            Change::file("package.use/nano", "app-editors/nano -spell\n"),
        ],
        "portage/server: a server root",
    )?;
    commit(
        &repo,
        "buildhooks/nodocs",
        &[Change::exec("pre-pack", NODOCS_PRE_PACK)],
        "buildhooks/nodocs: drop documentation from the image",
    )?;
    commit(
        &repo,
        MAIN_BRANCH,
        &[
            Change::file("README.md", README),
            Change::file("tuples", TUPLES),
            Change::file("cpus.yaml", CPUS),
            Change::file("sets/base", SET_BASE),
            Change::file("sets/web", SET_WEB),
        ],
        "site: tuples, sets and cpus",
    )?;
    repo.checkout_head(Some(CheckoutBuilder::new().force()))?;
    Ok(repo)
}
