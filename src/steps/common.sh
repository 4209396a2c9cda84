# shellcheck shell=sh disable=SC2015,SC2034
# ("a && b || fail" is used on purpose; COMPILED/BINARIES are read by the steps.)
# common.sh — shared by zentoo's in-container steps (build.sh, assemble.sh); sourced, not run.
# POSIX sh; runs in a real Gentoo stage3 and in the zentoo test stage3 (busybox). The interface
# (environment, mounts, exit codes, log lines) is in src/steps/README.md.

ZENTOO_DIR=${ZENTOO_DIR:-/zentoo}
ZENTOO_BINPKGS=${ZENTOO_BINPKGS:-/var/cache/binpkgs}
ZENTOO_DISTFILES=${ZENTOO_DISTFILES:-/var/cache/distfiles}

# exit codes
EX_USAGE=2   # bad input: missing/invalid environment, set, tree, profile, non-empty target
EX_HOOK=3    # a buildhook failed
EX_EMERGE=4  # emerge failed (a build failed, a binary package is missing, a dependency is unmet)

log() { printf 'zentoo[%s]: %s\n' "$STEP" "$*"; }
fail() { # CODE MESSAGE...
	_code=$1; shift
	printf 'zentoo[%s]: error: %s\n' "$STEP" "$*" >&2
	exit "$_code"
}

# A value going into make.conf between double quotes: refuse what would change its meaning.
check_value() { # NAME VALUE
	# shellcheck disable=SC1003 # a backslash pattern
	case $2 in
	*'"'* | *'\'* | *'$'* | *'`'*) fail "$EX_USAGE" "$1 must not contain \", \\, \$ or \` (got: $2)" ;;
	esac
	case $2 in *'
'*) fail "$EX_USAGE" "$1 must be one line" ;; esac
	return 0
}

check_common_env() {
	[ -n "${ZENTOO_SET:-}" ] || fail "$EX_USAGE" "ZENTOO_SET is not set (the name of the package set to install)"
	case $ZENTOO_SET in @*) ZENTOO_SET=${ZENTOO_SET#@} ;; esac
	case $ZENTOO_SET in *[!A-Za-z0-9_.+-]* | '') fail "$EX_USAGE" "ZENTOO_SET '$ZENTOO_SET' is not a valid set name" ;; esac
	[ -n "${ZENTOO_CHOST:-}" ] || fail "$EX_USAGE" "ZENTOO_CHOST is not set (e.g. x86_64-pc-linux-gnu)"
	[ -n "${ZENTOO_CFLAGS:-}" ] || fail "$EX_USAGE" "ZENTOO_CFLAGS is not set (e.g. -O2 -pipe)"
	ZENTOO_CXXFLAGS=${ZENTOO_CXXFLAGS:-$ZENTOO_CFLAGS}
	ZENTOO_LDFLAGS=${ZENTOO_LDFLAGS:-}
	for _v in ZENTOO_CHOST ZENTOO_CFLAGS ZENTOO_CXXFLAGS ZENTOO_LDFLAGS ZENTOO_PROFILE ZENTOO_DISTCC_HOSTS; do
		eval "check_value $_v \"\${$_v:-}\""
	done
	for _v in $(cpu_flag_vars); do eval "check_value ZENTOO_$_v \"\${ZENTOO_$_v}\""; done
	ZENTOO_JOBS=${ZENTOO_JOBS:-$(nproc 2>/dev/null || echo 1)}
	ZENTOO_LOAD=${ZENTOO_LOAD:-$ZENTOO_JOBS}
	case $ZENTOO_JOBS in '' | *[!0-9]* | 0) fail "$EX_USAGE" "ZENTOO_JOBS must be a positive number (got: $ZENTOO_JOBS)" ;; esac
	case $ZENTOO_LOAD in '' | *[!0-9.]*) fail "$EX_USAGE" "ZENTOO_LOAD must be a number (got: $ZENTOO_LOAD)" ;; esac
	[ -d "$ZENTOO_DIR/portage" ] || fail "$EX_USAGE" "$ZENTOO_DIR/portage is missing (the materialized portage tree)"
	[ -f "$ZENTOO_DIR/sets/$ZENTOO_SET" ] || fail "$EX_USAGE" "set '$ZENTOO_SET' is missing: no file $ZENTOO_DIR/sets/$ZENTOO_SET"
	[ -d "$ZENTOO_BINPKGS" ] || fail "$EX_USAGE" "$ZENTOO_BINPKGS is missing (the binary package volume)"
	return 0
}

# The CPU_FLAGS_* names given as ZENTOO_CPU_FLAGS_<NAME>.
cpu_flag_vars() { env | sed -n 's/^ZENTOO_\(CPU_FLAGS_[A-Z0-9_]*\)=.*/\1/p' | sort -u; }

# Portage matches binary packages on USE and CHOST, never on CFLAGS: builds with different
# compiler flags get their own PKGDIR under the shared volume, so they can never share a binpkg.
# The directory name is the CHOST and a digest of the flags; ZENTOO_PKGDIR overrides it.
compute_pkgdir() {
	if [ -n "${ZENTOO_PKGDIR:-}" ]; then
		PKGDIR=$ZENTOO_PKGDIR
	else
		_id=$(printf 'CHOST=%s\nCFLAGS=%s\nCXXFLAGS=%s\nLDFLAGS=%s\n' "$ZENTOO_CHOST" "$ZENTOO_CFLAGS" \
			"$ZENTOO_CXXFLAGS" "$ZENTOO_LDFLAGS" | sha256sum | cut -c1-16)
		PKGDIR="${ZENTOO_BINPKGS%/}/$ZENTOO_CHOST/$_id"
	fi
	check_value ZENTOO_PKGDIR "$PKGDIR"
}

# Replaces /etc/portage with the materialized tree (keeping the stage3's make.profile unless the
# tree brings one) and installs the site's sets into /etc/portage/sets/.
install_portage() {
	_keep=""
	if [ -L /etc/portage/make.profile ] && [ ! -e "$ZENTOO_DIR/portage/make.profile" ] && [ ! -L "$ZENTOO_DIR/portage/make.profile" ]; then
		_keep=$(readlink /etc/portage/make.profile)
	fi
	rm -rf /etc/portage || fail "$EX_USAGE" "cannot replace /etc/portage"
	mkdir -p /etc/portage
	cp -pR "$ZENTOO_DIR/portage/." /etc/portage/ || fail "$EX_USAGE" "cannot copy $ZENTOO_DIR/portage into /etc/portage"
	[ -z "$_keep" ] || ln -s "$_keep" /etc/portage/make.profile
	mkdir -p /etc/portage/sets
	for _s in "$ZENTOO_DIR/sets"/*; do
		[ -f "$_s" ] || continue
		cp -p "$_s" "/etc/portage/sets/${_s##*/}" || fail "$EX_USAGE" "cannot install set ${_s##*/}"
	done
	_names=""
	for _s in /etc/portage/sets/*; do [ -f "$_s" ] && _names="$_names ${_s##*/}"; done
	log "installed $ZENTOO_DIR/portage as /etc/portage, sets:${_names:- (none)}"
}

# Appends zentoo's settings to make.conf (a file), or adds make.conf/zz-zentoo (a directory):
# last, so they win over the site's for the keys zentoo owns.
write_make_conf() { # FEATURES-TO-ADD
	if [ -d /etc/portage/make.conf ]; then
		_mc=/etc/portage/make.conf/zz-zentoo
	else
		_mc=/etc/portage/make.conf
		[ -f "$_mc" ] || : > "$_mc"
	fi
	{
		echo
		echo "# ---- added by zentoo ($STEP step): the cpu profile and the shared volumes ----"
		echo "CHOST=\"$ZENTOO_CHOST\""
		echo "CFLAGS=\"$ZENTOO_CFLAGS\""
		echo "CXXFLAGS=\"$ZENTOO_CXXFLAGS\""
		[ -z "$ZENTOO_LDFLAGS" ] || echo "LDFLAGS=\"$ZENTOO_LDFLAGS\""
		for _v in $(cpu_flag_vars); do eval "echo \"$_v=\\\"\${ZENTOO_$_v}\\\"\""; done
		# shellcheck disable=SC2016
		echo 'FEATURES="${FEATURES} '"$1"'"'
		echo 'BINPKG_FORMAT="gpkg"'
		echo "PKGDIR=\"$PKGDIR\""
		echo "DISTDIR=\"$ZENTOO_DISTFILES\""
		echo "MAKEOPTS=\"-j$ZENTOO_JOBS -l$ZENTOO_LOAD\""
	} >> "$_mc" || fail "$EX_USAGE" "cannot write $_mc"
	log "make.conf: CHOST=$ZENTOO_CHOST CFLAGS=\"$ZENTOO_CFLAGS\" PKGDIR=$PKGDIR FEATURES+=\"$1\""
}

select_profile() {
	if [ -n "${ZENTOO_PROFILE:-}" ]; then
		eselect profile set "$ZENTOO_PROFILE" >/dev/null 2>&1 ||
			fail "$EX_USAGE" "cannot select profile '$ZENTOO_PROFILE' (eselect profile set failed; is the ebuild repository mounted?)"
		log "profile: $ZENTOO_PROFILE"
	elif [ ! -e /etc/portage/make.profile ]; then
		fail "$EX_USAGE" "no profile: set ZENTOO_PROFILE or ship make.profile in the portage tree"
	fi
}

# run_hook NAME ROOT: runs $ZENTOO_DIR/hooks/NAME if the buildhooks tree has it.
run_hook() {
	_hook="$ZENTOO_DIR/hooks/$1"
	if [ ! -e "$_hook" ]; then
		return 0
	fi
	[ -f "$_hook" ] && [ -x "$_hook" ] || fail "$EX_HOOK" "hook $1 is not an executable file ($_hook)"
	log "running hook $1 (ROOT=$2)"
	_rc=0
	ROOT=$2 ZENTOO_STEP=$STEP ZENTOO_HOOK=$1 "$_hook" || _rc=$?
	[ $_rc -eq 0 ] || fail "$EX_HOOK" "hook $1 failed (exit $_rc)"
	log "hook $1 done"
}

# run_emerge ARGS...: runs emerge with its output streamed and kept in $EMERGE_LOG; on failure
# names the step, repeats emerge's error lines and the failed build's log tail.
EMERGE_LOG=/tmp/zentoo-$$-emerge.log
run_emerge() {
	log "emerge $*"
	_rcf=/tmp/zentoo-$$-emerge.rc
	{ emerge "$@" 2>&1; echo $? > "$_rcf"; } | tee "$EMERGE_LOG"
	_rc=$(cat "$_rcf" 2>/dev/null || echo 1)
	rm -f "$_rcf"
	COMPILED=$(grep -c '^>>> Emerging (' "$EMERGE_LOG" || true)
	BINARIES=$(grep -c '^>>> Emerging binary (' "$EMERGE_LOG" || true)
	if [ "$_rc" -ne 0 ]; then
		_why=$(grep -E '^(emerge: |!!! |>>> Failed to emerge )' "$EMERGE_LOG" | head -n 5 | tr '\n' ' ')
		_blog=$(sed -n "s/^>>>  '\(.*build\.log\)'$/\1/p" "$EMERGE_LOG" | head -n 1)
		if [ -n "$_blog" ] && [ -f "$_blog" ]; then
			log "last lines of $_blog:"
			tail -n 30 "$_blog" | sed 's/^/    /'
		fi
		fail "$EX_EMERGE" "emerge failed (exit $_rc): ${_why:-see the emerge output above}"
	fi
}
