# Shared set-up for scripts/demo.sh and scripts/test.sh: installs what is missing.
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
