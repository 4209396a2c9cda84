#!/bin/sh
# zentoo build step — runs in the stage3 image (privileged in the cluster).
#
# Installs the materialized /etc/portage, adds zentoo's make.conf settings (cpu profile, FEATURES
# buildpkg + binpkg-multi-instance [+ distcc], PKGDIR/DISTDIR on the shared volumes), selects the
# profile, runs the pre-build hook, emerges the set from source or binary packages while building
# binary packages of what it compiles, then runs the post-build hook.
#
# Environment (see crates/zentoo-core/src/steps/README.md): ZENTOO_SET, ZENTOO_CHOST, ZENTOO_CFLAGS required;
#   ZENTOO_CXXFLAGS ZENTOO_LDFLAGS ZENTOO_CPU_FLAGS_<NAME> ZENTOO_PROFILE ZENTOO_DISTCC_HOSTS
#   ZENTOO_JOBS ZENTOO_LOAD ZENTOO_DIR ZENTOO_BINPKGS ZENTOO_DISTFILES ZENTOO_PKGDIR
#   ZENTOO_REPO_SNAPSHOT ZENTOO_REPOS ZENTOO_FEATURES ZENTOO_PORTAGE_TMPDIR ZENTOO_KERNEL
#   ZENTOO_KERNEL_CONFIG ZENTOO_PRESERVED_REBUILD ZENTOO_RESULT_FILE optional; ZENTOO_SIGNING_KEY
#   is refused (the key is for sign.sh alone: hooks run here).
# Mounts: $ZENTOO_DIR/{portage,hooks,sets} (materialized), /var/cache/binpkgs (rw),
#   /var/cache/distfiles (rw), the repo volume at $ZENTOO_REPOS (rw: a snapshot is synced once).
# Exit: 0 ok, 2 bad input, 3 hook failed, 4 emerge failed, 5 the repo snapshot could not be synced. Log lines start with "zentoo[build]: ";
#   the last one is "zentoo[build]: done: ..." or "zentoo[build]: error: ...".
# shellcheck disable=SC2015 # "a && b || fail": fail when either fails
set -eu
# shellcheck disable=SC2034 # used by common.sh
STEP=build
# shellcheck source=crates/zentoo-core/src/steps/common.sh
. "$(dirname "$0")/common.sh"
# shellcheck source=crates/zentoo-core/src/steps/records.sh
. "$(dirname "$0")/records.sh"
keep_step_log "$@"

check_common_env
compute_pkgdir
check_record_env
mkdir -p "$PKGDIR" 2>/dev/null && [ -w "$PKGDIR" ] || fail "$EX_USAGE" "PKGDIR $PKGDIR is not writable (the binary package volume must be mounted read-write for the build step)"
[ -d "$ZENTOO_DISTFILES" ] || mkdir -p "$ZENTOO_DISTFILES" || fail "$EX_USAGE" "cannot create $ZENTOO_DISTFILES"

features="buildpkg binpkg-multi-instance"
[ -z "${ZENTOO_DISTCC_HOSTS:-}" ] || features="$features distcc"

install_portage
write_make_conf "$(step_features "$features")"
setup_signing
setup_repo sync
select_profile
setup_kernel

if [ -n "${ZENTOO_DISTCC_HOSTS:-}" ]; then
	mkdir -p /etc/distcc
	printf '%s\n' "$ZENTOO_DISTCC_HOSTS" > /etc/distcc/hosts
	log "distcc hosts: $ZENTOO_DISTCC_HOSTS"
	if ! command -v distcc >/dev/null 2>&1; then
		log "installing sys-devel/distcc first"
		run_emerge --oneshot --usepkg --buildpkg --jobs "$ZENTOO_JOBS" --load-average "$ZENTOO_LOAD" sys-devel/distcc
	fi
fi

run_hook pre-build /
# The build's lease (the binpkgs its PKGDIR holds when it starts) keeps zentoo gc off them while
# it runs; its record, written when the emerges end, keeps what it used and made afterwards.
trap '_rc=$?; if [ $_rc -ne 0 ]; then record_write failed; fi; lease_release; exit $_rc' EXIT
lease_acquire
merges_begin /
run_emerge --update --deep --newuse --usepkg --buildpkg --binpkg-respect-use=y --with-bdeps=y \
	--jobs "$ZENTOO_JOBS" --load-average "$ZENTOO_LOAD" "@$ZENTOO_SET" ${ZENTOO_KERNEL:+"$ZENTOO_KERNEL"}
merges_end /
compiled=$COMPILED binaries=$BINARIES
if [ "${ZENTOO_PRESERVED_REBUILD:-}" = 1 ]; then
	# From source: a binary package of a consumer would still link the old library.
	merges_begin /
	run_emerge --buildpkg --jobs "$ZENTOO_JOBS" --load-average "$ZENTOO_LOAD" @preserved-rebuild
	merges_end /
	log "preserved-rebuild: $COMPILED rebuilt"
	compiled=$((compiled + COMPILED))
fi
# What the assemble step installs (@system and the set, from binary packages only) must all have
# binary packages: the stage3's own @system packages and the set's dependencies that the stage3
# already had were never packaged here. Emerging the same into an empty root with --buildpkg
# compiles exactly those (once per PKGDIR), and the root it leaves is what assemble will install.
ASSEMBLE_ROOT=$(mktemp -d "${TMPDIR:-/var/tmp}/zentoo-assemble-root.XXXXXX")
merges_begin "$ASSEMBLE_ROOT"
ROOT=$ASSEMBLE_ROOT run_emerge --usepkg --buildpkg --binpkg-respect-use=y --with-bdeps=n \
	--jobs "$ZENTOO_JOBS" --load-average "$ZENTOO_LOAD" @system "@$ZENTOO_SET" ${ZENTOO_KERNEL:+"$ZENTOO_KERNEL"}
merges_end "$ASSEMBLE_ROOT"
log "packages for assemble: $COMPILED compiled, $BINARIES from binary packages (into an empty root)"
compiled=$((compiled + COMPILED))
record_write built "$ASSEMBLE_ROOT"
rm -rf "$ASSEMBLE_ROOT"
lease_release
run_hook post-build /
if [ -n "${ZENTOO_RESULT_FILE:-}" ]; then
	# For the cluster: the counts as the build container's termination message.
	printf '{"compiled":%s,"binpkgHits":%s}\n' "$compiled" "$binaries" > "$ZENTOO_RESULT_FILE" ||
		log "warning: cannot write the counts to $ZENTOO_RESULT_FILE"
fi
log "done: $compiled compiled, $binaries from binary packages (PKGDIR $PKGDIR)"
