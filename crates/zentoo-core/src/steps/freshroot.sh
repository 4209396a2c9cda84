#!/bin/sh
# zentoo freshroot — runs in a fresh stage3 container: sets it up exactly as the build step
# does (the tuple's /etc/portage, zentoo's make.conf settings, the profile, the shared
# binpkg/distfiles/repo volumes), then runs the given command, or a login shell.
# Environment: as build.sh. Exit: the command's.
set -eu
# shellcheck disable=SC2034 # used by common.sh
STEP=freshroot
# shellcheck source=crates/zentoo-core/src/steps/common.sh
. "$(dirname "$0")/common.sh"

check_common_env
compute_pkgdir
mkdir -p "$PKGDIR" "$ZENTOO_DISTFILES" 2>/dev/null || true
install_portage
write_make_conf "$(step_features "buildpkg binpkg-multi-instance")"
setup_repo sync
select_profile >/dev/null
setup_kernel
log "ready: /etc/portage from the tuple, PKGDIR $PKGDIR"
[ $# -gt 0 ] || set -- "$(command -v bash || echo /bin/sh)" -l
exec "$@"
