#!/bin/sh
# zentoo assemble step — runs in the stage3 image after the build step.
#
# Installs the set into an empty target root from binary packages only (the binary package
# volume may be, and in the cluster is, mounted read-only), then runs the pre-pack hook on it.
# Uses the same /etc/portage and cpu profile as the build step, so the same PKGDIR and USE are
# expected; a binary package that is missing (or built with other USE) is an error naming it.
#
# Environment: as build.sh, plus ZENTOO_TARGET (default /target) and ZENTOO_DEPCLEAN (1: emerge
#   --depclean in the target root). Mounts: $ZENTOO_DIR/..., /var/cache/binpkgs (read-only is
#   fine), the repo volume at $ZENTOO_REPOS (read-only is fine: the snapshot must be synced),
#   $ZENTOO_TARGET (empty).
# Exit: 0 ok, 2 bad input (also: target not empty), 3 hook failed, 4 emerge failed (e.g. a
#   missing binary package), 5 the repo snapshot is not synced. Log lines start with
#   "zentoo[assemble]: ".
# shellcheck disable=SC2015 # "a && b || fail": fail when either fails
set -eu
# shellcheck disable=SC2034 # used by common.sh
STEP=assemble
# shellcheck source=crates/zentoo-core/src/steps/common.sh
. "$(dirname "$0")/common.sh"
keep_step_log "$@"

ZENTOO_TARGET=${ZENTOO_TARGET:-/target}
check_common_env
compute_pkgdir
case $ZENTOO_TARGET in /?*) ;; *) fail "$EX_USAGE" "ZENTOO_TARGET must be an absolute path other than / (got: $ZENTOO_TARGET)" ;; esac
[ -d "$ZENTOO_TARGET" ] || mkdir -p "$ZENTOO_TARGET" || fail "$EX_USAGE" "cannot create $ZENTOO_TARGET"
for _f in "$ZENTOO_TARGET"/* "$ZENTOO_TARGET"/.[!.]* "$ZENTOO_TARGET"/..?*; do
	[ -e "$_f" ] || [ -L "$_f" ] || continue
	[ "$_f" = "$ZENTOO_TARGET/lost+found" ] && continue
	fail "$EX_USAGE" "target root $ZENTOO_TARGET is not empty (found ${_f#"$ZENTOO_TARGET"/})"
done
[ -f "$PKGDIR/Packages" ] || fail "$EX_EMERGE" "no binary packages for this cpu profile: $PKGDIR/Packages is missing (did the build step run with the same CHOST/CFLAGS?)"

install_portage
# buildpkg off: nothing is built here, and the volume may be read-only.
write_make_conf "$(step_features "binpkg-multi-instance -buildpkg")"
setup_signing
setup_repo use
select_profile
setup_kernel

ROOT=$ZENTOO_TARGET
export ROOT
# @system and the set: a system's programs need its C library and layout, which ebuilds do not
# list (they are @system). --use-ebuild-visibility=y: under --usepkgonly Portage ignores the
# repository, so a binpkg of a version the pinned snapshot does not have (left in the shared
# PKGDIR by a build on another snapshot) would win; with it, only versions whose ebuild the
# snapshot has and shows are taken.
run_emerge --usepkgonly --use-ebuild-visibility=y --binpkg-respect-use=y --with-bdeps=n \
	--jobs "$ZENTOO_JOBS" --load-average "$ZENTOO_LOAD" @system "@$ZENTOO_SET" ${ZENTOO_KERNEL:+"$ZENTOO_KERNEL"}
if [ "${ZENTOO_DEPCLEAN:-}" = 1 ]; then
	_before=$(installed_count "$ZENTOO_TARGET")
	run_emerge --depclean --with-bdeps=n
	log "depclean: $((_before - $(installed_count "$ZENTOO_TARGET"))) packages removed from $ZENTOO_TARGET"
fi
unset ROOT
normalize_vdb "$ZENTOO_TARGET"
run_hook pre-pack "$ZENTOO_TARGET"
log "done: $(installed_count "$ZENTOO_TARGET") packages installed into $ZENTOO_TARGET from binary packages"
