# Shared set-up for scripts/demo.sh and scripts/test.sh: installs what is missing.
# shellcheck shell=bash
# Sourced, not run.

# Installs the Debian packages named that are not installed yet.
ensure_apt() {
    local missing=() p sudo=""
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}" >&2
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Makes sure cargo, a C toolchain and the libraries git2 builds against are there.
ensure_rust() {
    ensure_apt build-essential pkg-config git libssl-dev
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || {
        echo "setup: cargo not found: install Rust (rustup) and retry" >&2
        return 1
    }
}

# Makes sure a Go toolchain (for the test harness's Go-built servers) is on PATH. Without one,
# fetches the toolchain module golang.org/toolchain from the Go module proxy, the way the go
# command's GOTOOLCHAIN does, into the harness cache.
ZENTOO_GO_VERSION=${ZENTOO_GO_VERSION:-1.26.8}
ensure_go() {
    if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
        export PATH="/usr/local/go/bin:$PATH"
    fi
    command -v go >/dev/null 2>&1 && return 0
    local cache=${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test} arch proxy mod dir
    case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) echo "setup: no Go toolchain for $(uname -m)" >&2; return 1 ;;
    esac
    mod="v0.0.1-go$ZENTOO_GO_VERSION.linux-$arch"
    dir="$cache/go/toolchain/golang.org/toolchain@$mod"
    if [ ! -x "$dir/bin/go" ]; then
        ensure_apt curl unzip ca-certificates
        proxy=${GOPROXY:-https://proxy.golang.org}
        proxy=${proxy%%,*}
        echo "setup: fetching Go $ZENTOO_GO_VERSION from the Go module proxy" >&2
        mkdir -p "$cache/go/toolchain"
        curl -fsSL --retry 3 -o "$cache/go/toolchain/go.zip" "$proxy/golang.org/toolchain/@v/$mod.zip"
        (cd "$cache/go/toolchain" && unzip -q -o go.zip && rm -f go.zip)
        chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/* 2>/dev/null || true
    fi
    export PATH="$dir/bin:$PATH"
    go version >/dev/null
}

# Makes sure helm (for the chart's lint and manifests/) is built, from the Go module proxy, into
# the harness cache; sets HELM to its path.
ZENTOO_HELM_VERSION=${ZENTOO_HELM_VERSION:-v3.22.0}
ensure_helm() {
    local cache=${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}
    local dir="$cache/bin/helm-$ZENTOO_HELM_VERSION"
    HELM="$dir/helm"
    export HELM
    [ -x "$HELM" ] && return 0
    ensure_go
    echo "setup: building helm $ZENTOO_HELM_VERSION from the Go module proxy" >&2
    mkdir -p "$dir"
    GOBIN="$dir" go install "helm.sh/helm/v3/cmd/helm@$ZENTOO_HELM_VERSION"
}

# Makes sure cosign and syft (the verifiers a user of zentoo's images runs; the supply chain
# tests run them) and promtool (Prometheus's rule checker; the chart's alerts are tested with
# it) are built, from the Go module proxy, into the harness cache; sets COSIGN, SYFT and
# PROMTOOL to their paths.
ZENTOO_COSIGN_VERSION=${ZENTOO_COSIGN_VERSION:-v3.1.3}
ZENTOO_SYFT_VERSION=${ZENTOO_SYFT_VERSION:-v1.57.2}
# Prometheus 3.x as a Go module: v3.Y.Z is tagged v0.3YY.Z.
ZENTOO_PROMETHEUS_VERSION=${ZENTOO_PROMETHEUS_VERSION:-v0.316.0}
ensure_supply_chain_tools() {
    local cache=${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}
    COSIGN="$cache/bin/cosign-$ZENTOO_COSIGN_VERSION/cosign"
    SYFT="$cache/bin/syft-$ZENTOO_SYFT_VERSION/syft"
    PROMTOOL="$cache/bin/promtool-$ZENTOO_PROMETHEUS_VERSION/promtool"
    export COSIGN SYFT PROMTOOL
    if [ ! -x "$COSIGN" ]; then
        ensure_go
        echo "setup: building cosign $ZENTOO_COSIGN_VERSION from the Go module proxy" >&2
        GOBIN="$(dirname "$COSIGN")" GOFLAGS=-trimpath \
            go install -ldflags "-s -w" "github.com/sigstore/cosign/v3/cmd/cosign@$ZENTOO_COSIGN_VERSION"
    fi
    if [ ! -x "$SYFT" ]; then
        ensure_go
        echo "setup: building syft $ZENTOO_SYFT_VERSION from the Go module proxy" >&2
        GOBIN="$(dirname "$SYFT")" GOFLAGS=-trimpath \
            go install -ldflags "-s -w" "github.com/anchore/syft/cmd/syft@$ZENTOO_SYFT_VERSION"
    fi
    if [ ! -x "$PROMTOOL" ]; then
        ensure_go
        echo "setup: building promtool $ZENTOO_PROMETHEUS_VERSION from the Go module proxy" >&2
        GOBIN="$(dirname "$PROMTOOL")" GOFLAGS=-trimpath \
            go install -ldflags "-s -w" "github.com/prometheus/prometheus/cmd/promtool@$ZENTOO_PROMETHEUS_VERSION"
    fi
}

# Makes sure the x86_64 musl target and musl-gcc (for the C parts: libgit2, ring, zstd, lzma)
# are there, for the static binary of the zentoo image.
ensure_musl() {
    ensure_rust
    ensure_apt musl-tools
    rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl ||
        rustup target add x86_64-unknown-linux-musl
}

# Makes sure what tests/stage3/build-image needs is there: mmdebstrap (the Debian root) and pip
# (to download Portage from PyPI).
ensure_stage3_tools() {
    ensure_apt mmdebstrap util-linux xz-utils gpg
    python3 -m pip --version >/dev/null 2>&1 || ensure_apt python3-pip
}
