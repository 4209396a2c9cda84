#!/bin/sh
# zentoo sign step — runs in the stage3 image after the build step, only when the site signs its
# binary packages (the cluster's GentooSite storage.binpkgSigning). It is the only step that
# sees the signing key, and no site code runs in it: no hooks, and the site's /etc/portage is not
# installed (Portage runs with the stage3's own configuration and zentoo's settings below).
#
# Signs, with Portage's gpkg-sign, every binary package this build produced and every one the
# assemble step will install that is not signed yet (the build's record, crates/zentoo-core/src/steps/records.sh),
# brings the PKGDIR's Packages index up to date (`emaint --fix binhost`: signing rewrites the
# files), writes the public key to $ZENTOO_BINPKGS/binpkg-signing.asc (for binhost clients) and to
# $ZENTOO_SIGNING_PUBKEY (for the assemble step, which verifies every binpkg with it).
#
# Environment: ZENTOO_SIGNING_KEY (the file of an armored private key without passphrase),
#   ZENTOO_CHOST, ZENTOO_CFLAGS (and the other flags: the PKGDIR is the build step's),
#   ZENTOO_IMAGE, ZENTOO_BUILD_ID (whose record to read), ZENTOO_SIGNING_PUBKEY (default
#   $ZENTOO_DIR/binpkg-signing.asc), ZENTOO_SIGNING_HOME.
# Exit: 0 ok, 2 bad input (no key, a key that cannot sign, no record of the build), 4 signing or
#   re-indexing failed. Log lines start with "zentoo[sign]: ".
# shellcheck disable=SC2015 # "a && b || fail": fail when either fails
set -eu
# shellcheck disable=SC2034 # used by common.sh
STEP=sign
# shellcheck source=crates/zentoo-core/src/steps/common.sh
. "$(dirname "$0")/common.sh"
keep_step_log "$@"

[ -n "${ZENTOO_CHOST:-}" ] && [ -n "${ZENTOO_CFLAGS:-}" ] || fail "$EX_USAGE" "ZENTOO_CHOST and ZENTOO_CFLAGS must be set (the build step's)"
ZENTOO_CXXFLAGS=${ZENTOO_CXXFLAGS:-$ZENTOO_CFLAGS}
ZENTOO_LDFLAGS=${ZENTOO_LDFLAGS:-}
compute_pkgdir
[ -n "${ZENTOO_SIGNING_KEY:-}" ] || fail "$EX_USAGE" "ZENTOO_SIGNING_KEY is not set (the sign step runs only for sites that sign)"
valid_image_name "${ZENTOO_IMAGE:-}" || fail "$EX_USAGE" "ZENTOO_IMAGE '${ZENTOO_IMAGE:-}' is not valid"
valid_image_name "${ZENTOO_BUILD_ID:-}" || fail "$EX_USAGE" "ZENTOO_BUILD_ID '${ZENTOO_BUILD_ID:-}' is not valid"
record="${ZENTOO_BINPKGS%/}/.zentoo/builds/$ZENTOO_IMAGE/$ZENTOO_BUILD_ID.json"
[ -f "$record" ] || fail "$EX_USAGE" "no build record $record: the build step did not finish"
pubkey=${ZENTOO_SIGNING_PUBKEY:-$ZENTOO_DIR/binpkg-signing.asc}
check_value ZENTOO_SIGNING_PUBKEY "$pubkey"

import_signing_key
export PKGDIR BINPKG_GPG_SIGNING_GPG_HOME="$SIGNING_HOME" BINPKG_GPG_SIGNING_KEY="0x$SIGNING_FPR" \
	BINPKG_GPG_VERIFY_GPG_HOME="$SIGNING_HOME-verify" NOCOLOR=true

# The record's produced and assemble entries: paths relative to the PKGDIR. The record was
# written by the build container, where site code runs: only paths of files that are really in
# the binpkg volume, no links, are signed.
python3 -c 'import json, sys
rec = json.load(open(sys.argv[1]))
paths = {b["path"] for b in rec.get("binpkgs", []) if b.get("role") in ("produced", "assemble") and isinstance(b.get("path"), str)}
print("\n".join(sorted(paths)))' "$record" > /tmp/zentoo-sign.list || fail "$EX_USAGE" "build record $record is not readable JSON"
volume=$(realpath "$ZENTOO_BINPKGS")
signed=0
while IFS= read -r rel; do
	case /$rel/ in */../* | *//*) fail "$EX_USAGE" "build record $record names a path outside the PKGDIR: $rel" ;; esac
	[ -n "$rel" ] || continue
	_real=$(realpath "$PKGDIR/$rel" 2>/dev/null || true)
	[ -f "$PKGDIR/$rel" ] && [ ! -L "$PKGDIR/$rel" ] && case $_real in "$volume"/*) true ;; *) false ;; esac ||
		fail "$EX_USAGE" "build record $record names $rel, which is not a file of $PKGDIR"
	_out=$(gpkg-sign --skip-signed "$PKGDIR/$rel" 2>&1) || fail "$EX_EMERGE" "gpkg-sign $rel failed: $(printf '%s' "$_out" | tail -n 3 | tr '\n' ' ')"
	case $_out in *"already signed"*) ;; *) signed=$((signed + 1)) ;; esac
done < /tmp/zentoo-sign.list
# Signing rewrote the files: their MD5, SIZE and MTIME in Packages are brought up to date.
_out=$(emaint --fix binhost 2>&1) || fail "$EX_EMERGE" "emaint --fix binhost failed: $(printf '%s' "$_out" | tail -n 3 | tr '\n' ' ')"
_perr=$(put_file "$(signing_pubkey)" < "$SIGNING_HOME-verify/key.asc") ||
	fail "$EX_USAGE" "cannot write the public key to $(signing_pubkey): $_perr"
_perr=$(put_file "$pubkey" < "$SIGNING_HOME-verify/key.asc") ||
	fail "$EX_USAGE" "cannot write the public key to $pubkey: $_perr"
log "done: $signed binary packages signed with 0x$SIGNING_FPR ($(wc -l < /tmp/zentoo-sign.list | tr -d ' ') checked), public key at $pubkey"
