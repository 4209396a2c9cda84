# shellcheck shell=sh disable=SC2015,SC2034
# ("a && b || fail" is used on purpose; the exit codes and settings here are read by the steps.)
# common.sh — shared by zentoo's in-container steps (build.sh, assemble.sh, sign.sh,
# freshroot.sh); sourced, not run. POSIX sh; runs in a real Gentoo stage3 and in the zentoo test
# stage3 (real Portage on Debian). The interface (environment, mounts, exit codes, log lines) is
# in crates/zentoo-core/src/steps/README.md.

ZENTOO_DIR=${ZENTOO_DIR:-/zentoo}
ZENTOO_BINPKGS=${ZENTOO_BINPKGS:-/var/cache/binpkgs}
ZENTOO_DISTFILES=${ZENTOO_DISTFILES:-/var/cache/distfiles}
ZENTOO_REPOS=${ZENTOO_REPOS:-/var/db/zentoo/repos}

# exit codes
EX_USAGE=2   # bad input: missing/invalid environment, set, tree, profile, non-empty target
EX_HOOK=3    # a buildhook failed
EX_EMERGE=4  # emerge failed (a build failed, a binary package is missing, a dependency is unmet)
EX_SYNC=5    # the repository snapshot could not be synced (or, in assemble, is not there)

log() { printf 'zentoo[%s]: %s\n' "$STEP" "$*"; }
fail() { # CODE MESSAGE...
	_code=$1; shift
	printf 'zentoo[%s]: error: %s\n' "$STEP" "$*" >&2
	exit "$_code"
}

# ---- Durable logs (the cluster) ------------------------------------------------------------------
# keep_step_log ARGS...: with ZENTOO_LOG_DIR (the build's log directory on the binary package
# volume, docs/operations.md "Build logs"), runs this step again with everything it prints (stdout
# and stderr) also appended to $ZENTOO_LOG_DIR/$STEP.log; then makes the directory readable by the
# binhost (Portage writes its per-package logs 0660) and exits with the step's status. With
# ZENTOO_LOG_KEEP=N (build), the image's other log directories beyond the newest N-1 go first.
# A log directory that cannot be written costs the stored log, never the build.
keep_step_log() {
	[ -n "${ZENTOO_LOG_DIR:-}" ] && [ -z "${ZENTOO_LOGGING:-}" ] || return 0
	check_value ZENTOO_LOG_DIR "$ZENTOO_LOG_DIR"
	case $ZENTOO_LOG_DIR in /?*) ;; *) fail "$EX_USAGE" "ZENTOO_LOG_DIR must be an absolute path (got: $ZENTOO_LOG_DIR)" ;; esac
	if ! mkdir -p "$ZENTOO_LOG_DIR" 2>/dev/null || ! : >> "$ZENTOO_LOG_DIR/$STEP.log" 2>/dev/null; then
		log "warning: cannot write $ZENTOO_LOG_DIR/$STEP.log: this step's log is not kept"
		return 0
	fi
	[ -z "${ZENTOO_LOG_KEEP:-}" ] || prune_logs "$ZENTOO_LOG_DIR" "$ZENTOO_LOG_KEEP"
	_lrc=/tmp/zentoo-$$-step.rc
	# (set -e holds in the pipeline's subshell: the status is caught, not exited on)
	{ _c=0; ZENTOO_LOGGING=1 sh "$0" "$@" 2>&1 || _c=$?; echo "$_c" > "$_lrc"; } | tee -a "$ZENTOO_LOG_DIR/$STEP.log"
	_rc=$(cat "$_lrc" 2>/dev/null || echo 1)
	rm -f "$_lrc"
	chmod -R a+rX "$ZENTOO_LOG_DIR" 2>/dev/null || true
	chmod a+rx "${ZENTOO_LOG_DIR%/*}" "${ZENTOO_LOG_DIR%/*/*}" 2>/dev/null || true
	exit "$_rc"
}

# prune_logs DIR KEEP: removes the directories next to DIR (other builds of the image) but the
# newest KEEP-1 (by modification time).
prune_logs() {
	case $2 in '' | *[!0-9]* | 0) fail "$EX_USAGE" "ZENTOO_LOG_KEEP must be a positive number (got: $2)" ;; esac
	_n=1
	# Build names are DNS labels: no blanks to split on.
	# shellcheck disable=SC2045
	for _d in $(ls -1dt "${1%/*}"/*/ 2>/dev/null); do
		_d=${_d%/}
		[ "$_d" != "${1%/}" ] && [ ! -L "$_d" ] || continue
		if [ "$_n" -lt "$2" ]; then
			_n=$((_n + 1))
		elif rm -rf "$_d"; then
			log "removed the logs of build ${_d##*/} (ZENTOO_LOG_KEEP=$2)"
		fi
	done
}

# The directory of Portage's per-package logs (PORTAGE_LOGDIR) in the build step, if any.
package_log_dir() {
	if [ -n "${ZENTOO_PACKAGE_LOGS:-}" ]; then
		echo "$ZENTOO_PACKAGE_LOGS"
	elif [ -n "${ZENTOO_LOG_DIR:-}" ]; then
		echo "${ZENTOO_LOG_DIR%/}/packages"
	fi
}

# put_file DEST: stdin into DEST (through DEST.tmp and a rename). On failure prints why, as
# cat or mv said it ("No space left on device" on a full volume), and returns non-zero.
put_file() {
	_perr=$(cat 2>&1 > "$1.tmp") && _perr=$(mv -f "$1.tmp" "$1" 2>&1) && return 0
	rm -f "$1.tmp"
	printf '%s\n' "${_perr:-cannot write $1}"
	return 1
}

# The name rules of crates/zentoo-core/src/site/names.rs (a test there runs these on the planner's table): a name
# (cpu, portage, buildhooks, set) is [A-Za-z0-9_.+]+ not starting with '.'; an image name (a
# tuple: names joined by '-') may hold '-' too.
valid_name() { case $1 in '' | .* | *[!A-Za-z0-9_.+]*) return 1 ;; esac; }
valid_image_name() { case $1 in '' | .* | *[!A-Za-z0-9_.+-]*) return 1 ;; esac; }

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
	valid_name "$ZENTOO_SET" || fail "$EX_USAGE" "ZENTOO_SET '$ZENTOO_SET' is not a valid set name"
	[ -n "${ZENTOO_CHOST:-}" ] || fail "$EX_USAGE" "ZENTOO_CHOST is not set (e.g. x86_64-pc-linux-gnu)"
	[ -n "${ZENTOO_CFLAGS:-}" ] || fail "$EX_USAGE" "ZENTOO_CFLAGS is not set (e.g. -O2 -pipe)"
	ZENTOO_CXXFLAGS=${ZENTOO_CXXFLAGS:-$ZENTOO_CFLAGS}
	ZENTOO_LDFLAGS=${ZENTOO_LDFLAGS:-}
	for _v in ZENTOO_CHOST ZENTOO_CFLAGS ZENTOO_CXXFLAGS ZENTOO_LDFLAGS ZENTOO_PROFILE ZENTOO_DISTCC_HOSTS \
		ZENTOO_FEATURES ZENTOO_PORTAGE_TMPDIR ZENTOO_KERNEL ZENTOO_KERNEL_CONFIG ZENTOO_REPOS \
		ZENTOO_REPO_SNAPSHOT ZENTOO_REPO_ARCHIVE_URL ZENTOO_PACKAGE_LOGS; do
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
	# The binhost serves the volume as an unprivileged user: its root must let it through (some
	# provisioners make it 0750). Read-only (assemble): left as it is.
	chmod a+rx "$ZENTOO_BINPKGS" 2>/dev/null || true
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
		# plain logs: no terminal colours in emerge's output or the build logs
		echo 'NOCOLOR="true"'
		[ -z "${ZENTOO_PORTAGE_TMPDIR:-}" ] || echo "PORTAGE_TMPDIR=\"$ZENTOO_PORTAGE_TMPDIR\""
		[ "$STEP" != build ] || [ -z "$(package_log_dir)" ] || echo "PORTAGE_LOGDIR=\"$(package_log_dir)\""
	} >> "$_mc" || fail "$EX_USAGE" "cannot write $_mc"
	log "make.conf: CHOST=$ZENTOO_CHOST CFLAGS=\"$ZENTOO_CFLAGS\" PKGDIR=$PKGDIR FEATURES+=\"$1\""
	if [ -n "${ZENTOO_PORTAGE_TMPDIR:-}" ]; then
		mkdir -p "$ZENTOO_PORTAGE_TMPDIR" 2>/dev/null && [ -w "$ZENTOO_PORTAGE_TMPDIR" ] ||
			fail "$EX_USAGE" "PORTAGE_TMPDIR $ZENTOO_PORTAGE_TMPDIR is not writable (the memory-backed volume must be mounted there)"
		log "PORTAGE_TMPDIR: $ZENTOO_PORTAGE_TMPDIR ($(df -h "$ZENTOO_PORTAGE_TMPDIR" 2>/dev/null | awk 'NR == 2 { print $1 ", " $2 }'))"
	fi
}

# The FEATURES a step adds: its own, then the variant's (ZENTOO_FEATURES, e.g. splitdebug).
step_features() { # OWN
	echo "$1${ZENTOO_FEATURES:+ $ZENTOO_FEATURES}"
}

# ---- GPKG signing ------------------------------------------------------------------------------
# The public key of the site's signing key, kept at the volume's top (served by a binhost, read by
# `zentoo binhost config --dir`): signed binpkgs are on the volume when it is there.
signing_pubkey() { echo "${ZENTOO_BINPKGS%/}/binpkg-signing.asc"; }

# make_conf_file: where write_make_conf put zentoo's settings.
make_conf_file() { if [ -d /etc/portage/make.conf ]; then echo /etc/portage/make.conf/zz-zentoo; else echo /etc/portage/make.conf; fi; }

# setup_signing: how the build and assemble steps treat signed binpkgs. Neither ever sees the
# signing key (their hooks are site code): the sign step (sign.sh) signs after the build.
# - ZENTOO_SIGNING_PUBKEY (assemble, given by the sign step): every binpkg must carry a valid
#   signature by that key (binpkg-request-signature, verified against a GnuPG home of that key
#   alone);
# - else, when the volume holds signed binpkgs (its public key file): they are used unverified
#   (binpkg-ignore-signature): a file on a volume that hooks can write is nothing to trust.
setup_signing() {
	_mc=$(make_conf_file)
	[ -z "${ZENTOO_SIGNING_KEY:-}" ] ||
		fail "$EX_USAGE" "ZENTOO_SIGNING_KEY is set in the $STEP step: the signing key is for the sign step only (no site code may see it)"
	if [ -n "${ZENTOO_SIGNING_PUBKEY:-}" ]; then
		check_value ZENTOO_SIGNING_PUBKEY "$ZENTOO_SIGNING_PUBKEY"
		[ -f "$ZENTOO_SIGNING_PUBKEY" ] ||
			fail "$EX_USAGE" "binpkg signing: no public key at $ZENTOO_SIGNING_PUBKEY (the sign step writes it)"
		_vhome=${ZENTOO_SIGNING_HOME:-/run/zentoo-gnupg}-verify
		rm -rf "$_vhome" && mkdir -p "${_vhome%/*}" && mkdir -m 0755 "$_vhome" ||
			fail "$EX_USAGE" "binpkg signing: cannot create the GnuPG home $_vhome"
		trust_key "$ZENTOO_SIGNING_PUBKEY" "$_vhome" ||
			fail "$EX_USAGE" "binpkg signing: cannot trust the public key at $ZENTOO_SIGNING_PUBKEY"
		{
			echo "# ---- added by zentoo ($STEP step): binpkgs must be signed by the site's key ----"
			# shellcheck disable=SC2016
			echo 'FEATURES="${FEATURES} binpkg-request-signature -binpkg-ignore-signature"'
			echo "BINPKG_GPG_VERIFY_GPG_HOME=\"$_vhome\""
		} >> "$_mc" || fail "$EX_USAGE" "cannot write $_mc"
		log "binpkg signing: every binpkg is verified against 0x$TRUSTED_FPR ($ZENTOO_SIGNING_PUBKEY)"
		return 0
	fi
	[ -f "$(signing_pubkey)" ] || return 0
	# shellcheck disable=SC2016
	echo 'FEATURES="${FEATURES} binpkg-ignore-signature"' >> "$_mc" || fail "$EX_USAGE" "cannot write $_mc"
	log "binpkgs on the volume are signed ($(signing_pubkey)); this step does not verify them (no trusted key given)"
}

# trust_key PUBKEY HOME: imports the public key(s) of PUBKEY into the GnuPG home HOME with
# ultimate trust, readable by the user Portage verifies as; sets TRUSTED_FPR to the first key.
trust_key() {
	gpg --homedir "$2" --batch --no-tty --no-autostart --quiet --import "$1" 2>/dev/null || return 1
	TRUSTED_FPR=$(gpg --homedir "$2" --batch --no-tty --no-autostart --with-colons --list-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
	[ -n "$TRUSTED_FPR" ] || return 1
	echo "$TRUSTED_FPR:6:" | gpg --homedir "$2" --batch --no-tty --no-autostart --quiet --import-ownertrust 2>/dev/null &&
		gpg --homedir "$2" --batch --no-tty --no-autostart --quiet --check-trustdb 2>/dev/null &&
		chmod -R go+rX "$2"
}

# import_signing_key (sign step): imports ZENTOO_SIGNING_KEY (the file of the site's
# binpkgSigning Secret: an armored OpenPGP private key without passphrase) into a private GnuPG
# home SIGNING_HOME, checks it can sign, and makes SIGNING_HOME-verify with its public key
# (key.asc), trusted. Sets SIGNING_FPR.
import_signing_key() {
	_key=$ZENTOO_SIGNING_KEY
	check_value ZENTOO_SIGNING_KEY "$_key"
	[ -f "$_key" ] && [ -r "$_key" ] ||
		fail "$EX_USAGE" "binpkg signing: no key at $_key (the site's binpkgSigning Secret must hold an armored private key under 'key')"
	command -v gpg >/dev/null 2>&1 ||
		fail "$EX_USAGE" "binpkg signing: gpg is not in the build image (install app-crypt/gnupg in the stage3); cannot import the key at $_key"
	SIGNING_HOME=${ZENTOO_SIGNING_HOME:-/run/zentoo-gnupg}
	check_value ZENTOO_SIGNING_HOME "$SIGNING_HOME"
	rm -rf "$SIGNING_HOME" "$SIGNING_HOME-verify" && mkdir -p "${SIGNING_HOME%/*}" && mkdir -m 0700 "$SIGNING_HOME" && mkdir -m 0755 "$SIGNING_HOME-verify" ||
		fail "$EX_USAGE" "binpkg signing: cannot create the GnuPG homes $SIGNING_HOME and $SIGNING_HOME-verify"
	# gpg's messages name keys, never their secret parts; its output is kept short.
	_err=$(gpg --homedir "$SIGNING_HOME" --batch --no-tty --quiet --import "$_key" 2>&1) ||
		fail "$EX_USAGE" "binpkg signing: cannot import the key at $_key (the site's binpkgSigning Secret): $(printf '%s' "$_err" | head -n 3 | tr '\n' ' ')"
	SIGNING_FPR=$(gpg --homedir "$SIGNING_HOME" --batch --no-tty --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
	[ -n "$SIGNING_FPR" ] ||
		fail "$EX_USAGE" "binpkg signing: the key at $_key (the site's binpkgSigning Secret) holds no private key"
	# Sign once now, as Portage's unlock does: a key with a passphrase (or one that cannot sign)
	# fails here, before anything is signed.
	_err=$(printf 'zentoo signing probe\n' | gpg --homedir "$SIGNING_HOME" --batch --no-tty --pinentry-mode loopback --passphrase '' \
		--local-user "0x$SIGNING_FPR!" --armor --detach-sign --output /dev/null 2>&1) ||
		fail "$EX_USAGE" "binpkg signing: the key at $_key (0x$SIGNING_FPR) cannot sign without a passphrase (zentoo takes keys without one): $(printf '%s' "$_err" | head -n 3 | tr '\n' ' ')"
	gpg --homedir "$SIGNING_HOME" --batch --no-tty --armor --export "0x$SIGNING_FPR" > "$SIGNING_HOME-verify/key.asc" &&
		trust_key "$SIGNING_HOME-verify/key.asc" "$SIGNING_HOME-verify" ||
		fail "$EX_USAGE" "binpkg signing: cannot set up the verify home $SIGNING_HOME-verify for 0x$SIGNING_FPR"
	mkdir -p /run/lock 2>/dev/null || true # the lock of Portage's default signing command
	log "binpkg signing: key 0x$SIGNING_FPR"
}

# ---- locks and announcements on the shared volumes ----------------------------------------------
# The volumes are shared by builds on many nodes, and a killed build (SIGKILL after a supersede or
# a timeout) runs no cleanup, so a holder's death is seen through a lease: the holder touches its
# lock (a mkdir directory) or announcement (a file) every LOCK_HEARTBEAT seconds from a background
# loop that ends with its shell, and one not refreshed for LOCK_STALE seconds (by its mtime, or
# unchanged that long while watched: clocks may differ) is a dead holder's, taken over. A holder
# on this host, in this pid namespace, whose pid is gone is dead at once. zentoo gc uses the same
# two values (crates/zentoo-binpkgs/src/gc/store.rs, LOCK_STALE and HEARTBEAT; a test keeps them equal).
LOCK_HEARTBEAT=5
LOCK_STALE=${ZENTOO_LOCK_STALE:-30}
case $LOCK_STALE in
'' | *[!0-9]*) fail "$EX_USAGE" "ZENTOO_LOCK_STALE must be a number of seconds (got: $LOCK_STALE)" ;;
*) [ "$LOCK_STALE" -ge $((3 * LOCK_HEARTBEAT)) ] ||
	fail "$EX_USAGE" "ZENTOO_LOCK_STALE must be at least $((3 * LOCK_HEARTBEAT)) s, three heartbeats (got: $LOCK_STALE)" ;;
esac

# owner_line LABEL: who holds a lock, one line: host, pid, pid namespace, since when, LABEL.
owner_line() {
	printf 'host %s pid %s pidns %s since %s %s\n' "$(uname -n 2>/dev/null || echo '?')" "$$" \
		"$(readlink "/proc/$$/ns/pid" 2>/dev/null || echo '?')" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1"
}

# holder_dead OWNER-LINE: true when the holder ran on this host, in this pid namespace, and its
# pid is gone (another host's, or another container's, is judged by its lease alone).
holder_dead() {
	read -r _k1 _host _k2 _pid _k3 _ns _rest <<-END
		$1
	END
	[ "$_k1 $_k2 $_k3" = "host pid pidns" ] && [ "$_ns" != '?' ] || return 1
	case $_pid in '' | *[!0-9]*) return 1 ;; esac
	[ "$_host" = "$(uname -n 2>/dev/null)" ] && [ "$_ns" = "$(readlink "/proc/$$/ns/pid" 2>/dev/null)" ] &&
		[ ! -d "/proc/$_pid" ]
}

# lock_stale LOCK: whether the lock directory LOCK is a dead holder's. Call it on each turn of a
# wait (with LOCK_SEEN= before the first): it remembers what it saw (LOCK_SEEN, since
# LOCK_SEEN_AT); sets LOCK_ID (mtime and owner line, for lock_break), LOCK_OWNER and LOCK_WHY.
lock_stale() {
	_mt=$(stat -c %Y "$1" 2>/dev/null) || return 1
	LOCK_OWNER=$(cat "$1/owner" 2>/dev/null || true)
	LOCK_ID="$_mt $LOCK_OWNER"
	_now=$(date +%s)
	if [ "$LOCK_ID" != "${LOCK_SEEN:-}" ]; then LOCK_SEEN=$LOCK_ID LOCK_SEEN_AT=$_now; fi
	if holder_dead "$LOCK_OWNER"; then
		LOCK_WHY="its holder's pid is gone"
	elif [ $((_now - _mt)) -gt "$LOCK_STALE" ]; then
		LOCK_WHY="not refreshed for $((_now - _mt)) s"
	elif [ $((_now - LOCK_SEEN_AT)) -gt "$LOCK_STALE" ]; then
		LOCK_WHY="unchanged for $((_now - LOCK_SEEN_AT)) s"
	else
		return 1
	fi
}

# lock_break LOCK: removes the lock lock_stale judged dead if it still is that one (LOCK_ID):
# under the guard LOCK.break (a mkdir lock held for a moment, so that two waiters never both
# break it, the second one a lock just taken), renamed away, then deleted. True when it did.
lock_break() {
	if ! mkdir "$1.break" 2>/dev/null; then
		# a guard left by a waiter killed in that moment goes after the same bound
		_mt=$(stat -c %Y "$1.break" 2>/dev/null) && [ $(($(date +%s) - _mt)) -gt "$LOCK_STALE" ] &&
			rmdir "$1.break" 2>/dev/null
		return 1
	fi
	_aside="$1.stale.$(uname -n 2>/dev/null).$$"
	_broke=1
	if [ "$(stat -c %Y "$1" 2>/dev/null) $(cat "$1/owner" 2>/dev/null || true)" = "$LOCK_ID" ] &&
		mv "$1" "$_aside" 2>/dev/null; then
		_broke=0
	fi
	rmdir "$1.break" 2>/dev/null || true
	[ $_broke -ne 0 ] || rm -rf "$_aside"
	return $_broke
}

# heartbeat PATH OWNER-FILE OWNER: refreshes PATH's mtime every LOCK_HEARTBEAT seconds from a
# background loop, as long as this shell lives and OWNER-FILE still holds the line OWNER (a lock
# taken over is left alone); the loop's pid is in $!.
heartbeat() {
	(
		_n=0
		while kill -0 $$ 2>/dev/null && [ "$(cat "$2" 2>/dev/null)" = "$3" ]; do
			_n=$((_n + 1))
			if [ "$_n" -ge "$LOCK_HEARTBEAT" ]; then touch -c "$1" 2>/dev/null || true; _n=0; fi
			sleep 1
		done
	) < /dev/null > /dev/null 2>&1 &
}

# lock_hold LOCK LABEL: this shell just made the lock directory LOCK: writes its owner line and
# starts its heartbeat (LOCK_HB). lock_drop LOCK stops it and removes LOCK if it is still ours.
lock_hold() {
	LOCK_MINE=$(owner_line "$2")
	printf '%s\n' "$LOCK_MINE" > "$1/owner" || fail "$EX_USAGE" "cannot write $1/owner"
	heartbeat "$1" "$1/owner" "$LOCK_MINE"
	LOCK_HB=$!
}
lock_drop() {
	if [ -n "${LOCK_HB:-}" ]; then kill "$LOCK_HB" 2>/dev/null || true; fi
	LOCK_HB=""
	if [ "$(cat "$1/owner" 2>/dev/null)" = "${LOCK_MINE:-}" ]; then rm -rf "$1"; fi
}

# ---- the ebuild repository: one directory per snapshot on the repo volume ----------------------
# setup_repo sync|use: points the gentoo repository (repos.conf) at the snapshot
# $ZENTOO_REPO_SNAPSHOT in $ZENTOO_REPOS; with `sync`, syncs it first when it is not there yet
# (once per volume: later builds share it). Without ZENTOO_REPO_SNAPSHOT the stage3's own
# repos.conf is left alone.
setup_repo() {
	[ -n "${ZENTOO_REPO_SNAPSHOT:-}" ] || return 0
	SNAP=$ZENTOO_REPO_SNAPSHOT
	case $SNAP in
	latest) SNAP_KIND=latest ;;
	[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) SNAP_KIND="date" ;;
	*[!0-9a-f]*) SNAP_KIND=bad ;;
	*) SNAP_KIND=commit ;;
	esac
	if [ "$SNAP_KIND" = commit ] && { [ ${#SNAP} -lt 7 ] || [ ${#SNAP} -gt 40 ]; }; then SNAP_KIND=bad; fi
	[ "$SNAP_KIND" != bad ] || fail "$EX_USAGE" "ZENTOO_REPO_SNAPSHOT '$SNAP' is not latest, a date (YYYYMMDD) or a git commit id (7 to 40 lower-case hex digits)"
	SNAP_DIR="$ZENTOO_REPOS/$SNAP"
	# Portage reads ebuilds as its own user (userpriv): the volume's root must let it through,
	# and some provisioners make it 0750 (the hostPath one) or 0700. Read-only: left as it is.
	chmod a+rx "$ZENTOO_REPOS" 2>/dev/null || true
	if [ ! -d "$SNAP_DIR" ]; then
		[ "$1" = sync ] || fail "$EX_SYNC" "repo snapshot $SNAP is not in the repo volume ($SNAP_DIR is missing; the build step syncs it)"
		sync_snapshot
	fi
	point_repo "$SNAP_DIR"
	log "repository: gentoo at $SNAP_DIR (snapshot $SNAP)"
}

# point_repo LOCATION: the gentoo repository is at LOCATION (repos.conf/zz-zentoo-gentoo.conf,
# last so it wins; a repos.conf file of the site becomes repos.conf/00-site.conf).
point_repo() {
	if [ -f /etc/portage/repos.conf ]; then
		mv /etc/portage/repos.conf /etc/portage/.zentoo-repos.conf && mkdir /etc/portage/repos.conf &&
			mv /etc/portage/.zentoo-repos.conf /etc/portage/repos.conf/00-site.conf ||
			fail "$EX_USAGE" "cannot turn /etc/portage/repos.conf into a directory"
	fi
	mkdir -p /etc/portage/repos.conf &&
		printf '# added by zentoo: the pinned snapshot of the gentoo repository (never synced in place)
[gentoo]
location = %s
auto-sync = no
' "$1" \
			> /etc/portage/repos.conf/zz-zentoo-gentoo.conf || fail "$EX_USAGE" "cannot write /etc/portage/repos.conf/zz-zentoo-gentoo.conf"
}

# Syncs $SNAP into $SNAP_DIR under a lock on the repo volume: into a temporary directory, renamed
# into place only when complete, so a directory named after a snapshot is always a whole one. The
# lock is leased (above): a killed build's is taken over once stale, not waited out.
sync_snapshot() {
	mkdir -p "$ZENTOO_REPOS" 2>/dev/null && [ -w "$ZENTOO_REPOS" ] ||
		fail "$EX_SYNC" "repo snapshot $SNAP is not synced and the repo volume $ZENTOO_REPOS is not writable"
	SYNC_LOCK="$ZENTOO_REPOS/.$SNAP.lock" SYNC_TMP=""
	_start=$(date +%s) _timeout=${ZENTOO_SYNC_TIMEOUT:-3600} _said="" LOCK_SEEN=""
	while ! mkdir "$SYNC_LOCK" 2>/dev/null; do
		[ -d "$SNAP_DIR" ] && { log "snapshot $SNAP was synced by another build"; return 0; }
		if lock_stale "$SYNC_LOCK" && lock_break "$SYNC_LOCK"; then
			log "took over the stale sync lock $SYNC_LOCK ($LOCK_WHY; held by ${LOCK_OWNER:-nobody})"
			continue
		fi
		[ -n "$_said" ] || log "waiting for the build syncing snapshot $SNAP ($(cat "$SYNC_LOCK/owner" 2>/dev/null || echo '?'))"
		_said=1
		[ $(($(date +%s) - _start)) -le "$_timeout" ] ||
			fail "$EX_SYNC" "timed out after ${_timeout}s waiting for the sync lock $SYNC_LOCK (held by $(cat "$SYNC_LOCK/owner" 2>/dev/null || echo '?'), still refreshed)"
		sleep 1
	done
	trap 'lock_drop "$SYNC_LOCK"; if [ -n "$SYNC_TMP" ]; then rm -rf "$SYNC_TMP"; fi' EXIT
	lock_hold "$SYNC_LOCK" "sync of $SNAP"
	if [ -d "$SNAP_DIR" ]; then
		lock_drop "$SYNC_LOCK"; trap - EXIT
		return 0
	fi
	rm -rf "$ZENTOO_REPOS/.$SNAP.sync."* # left by a sync that was killed (we hold the lock)
	SYNC_TMP="$ZENTOO_REPOS/.$SNAP.sync.$$"
	mkdir -p "$SYNC_TMP" || fail "$EX_SYNC" "cannot create $SYNC_TMP"
	point_repo "$SYNC_TMP"
	log "syncing repo snapshot $SNAP ($SNAP_KIND) into $SNAP_DIR"
	case $SNAP_KIND in
	latest) run_sync emerge-webrsync ;;
	date) run_sync emerge-webrsync --revert="$SNAP" ;;
	commit) fetch_commit "$SYNC_TMP" ;;
	esac
	[ -f "$SYNC_TMP/profiles/repo_name" ] || fail "$EX_SYNC" "the sync of snapshot $SNAP left no profiles/repo_name in $SYNC_TMP"
	mv "$SYNC_TMP" "$SNAP_DIR" || fail "$EX_SYNC" "cannot move the synced snapshot to $SNAP_DIR"
	SYNC_TMP=""
	lock_drop "$SYNC_LOCK"; trap - EXIT
	log "synced repo snapshot $SNAP"
}

run_sync() {
	_rc=0
	"$@" || _rc=$?
	[ "$_rc" -eq 0 ] || fail "$EX_SYNC" "$1 failed (exit $_rc) syncing repo snapshot $SNAP"
}

# A commit of the repository's git mirror, as the forge's archive of it (no git needed in the
# stage3): ZENTOO_REPO_ARCHIVE_URL with %s for the commit, kept in DISTDIR.
fetch_commit() { # DIR
	_fmt=${ZENTOO_REPO_ARCHIVE_URL:-https://github.com/gentoo-mirror/gentoo/archive/%s.tar.gz}
	# shellcheck disable=SC2059 # the format is the URL template
	_url=$(printf "$_fmt" "$SNAP")
	_arc="$ZENTOO_DISTFILES/gentoo-$SNAP.tar.gz"
	if [ ! -s "$_arc" ]; then
		log "fetching $_url"
		wget -q -O "$_arc.part" "$_url" || { rm -f "$_arc.part"; fail "$EX_SYNC" "cannot fetch $_url (repo snapshot $SNAP)"; }
		mv "$_arc.part" "$_arc"
	fi
	tar -xzf "$_arc" -C "$1" --strip-components=1 || fail "$EX_SYNC" "cannot unpack $_arc (repo snapshot $SNAP)"
}

# ---- the kernel -----------------------------------------------------------------------------------
# The kernel package's category/name: ZENTOO_KERNEL without operator, version, slot, USE, repo.
kernel_cp() {
	printf '%s\n' "$ZENTOO_KERNEL" | sed -E 's/^[<>=~]+//; s/\[.*$//; s/::.*$//; s/:.*$//; s/\*$//; s/-[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|p)[0-9]*)*(-r[0-9]+)?$//'
}

# setup_kernel: with ZENTOO_KERNEL_CONFIG (a file of the portage branch), installs it as the
# kernel package's savedconfig and turns USE=savedconfig on for it (build and assemble alike, so
# the binary package matches).
setup_kernel() {
	[ -n "${ZENTOO_KERNEL:-}" ] || return 0
	KERNEL_CP=$(kernel_cp)
	case $KERNEL_CP in sys-kernel/?*) ;; *) fail "$EX_USAGE" "ZENTOO_KERNEL '$ZENTOO_KERNEL' is not a sys-kernel/* package" ;; esac
	if [ -z "${ZENTOO_KERNEL_CONFIG:-}" ]; then
		log "kernel: $ZENTOO_KERNEL"
		return 0
	fi
	case /$ZENTOO_KERNEL_CONFIG/ in //* | */../* | */./*) fail "$EX_USAGE" "ZENTOO_KERNEL_CONFIG '$ZENTOO_KERNEL_CONFIG' must be a relative path inside the portage branch" ;; esac
	_kc="/etc/portage/$ZENTOO_KERNEL_CONFIG"
	[ -f "$_kc" ] || fail "$EX_USAGE" "kernel config $ZENTOO_KERNEL_CONFIG is not in the portage branch (no file $ZENTOO_DIR/portage/$ZENTOO_KERNEL_CONFIG)"
	mkdir -p "/etc/portage/savedconfig/${KERNEL_CP%/*}" && cp "$_kc" "/etc/portage/savedconfig/$KERNEL_CP" ||
		fail "$EX_USAGE" "cannot install $_kc as /etc/portage/savedconfig/$KERNEL_CP"
	_pu=/etc/portage/package.use
	[ ! -d "$_pu" ] || _pu="$_pu/zz-zentoo-kernel"
	echo "$KERNEL_CP savedconfig" >> "$_pu" || fail "$EX_USAGE" "cannot write $_pu"
	log "kernel: $ZENTOO_KERNEL with $ZENTOO_KERNEL_CONFIG (savedconfig)"
}

# select_profile: ZENTOO_PROFILE (a profile of the gentoo repository, as `eselect profile set`
# takes it) becomes the make.profile symlink, into the repository in use (the pinned snapshot);
# without it, the stage3's own profile is kept, re-pointed into that repository when it names a
# profile of another location (a stage3's link into /var/db/repos/gentoo).
select_profile() {
	_want=${ZENTOO_PROFILE:-}
	if [ -z "$_want" ] && [ -L /etc/portage/make.profile ]; then
		_link=$(readlink /etc/portage/make.profile)
		case $_link in */profiles/?*) _want=${_link##*/profiles/} ;; esac
		[ -e /etc/portage/make.profile ] || [ -n "$_want" ] ||
			fail "$EX_USAGE" "no profile: make.profile points to $_link, which does not exist"
	fi
	if [ -n "$_want" ]; then
		_repo=$(portageq get_repo_path / gentoo 2>/dev/null || true)
		[ -n "$_repo" ] && { [ -f "$_repo/profiles/$_want/make.defaults" ] || [ -f "$_repo/profiles/$_want/parent" ]; } ||
			fail "$EX_USAGE" "cannot select profile '$_want': no such profile in the gentoo repository (${_repo:-not found})"
		rm -f /etc/portage/make.profile && ln -s "$_repo/profiles/$_want" /etc/portage/make.profile ||
			fail "$EX_USAGE" "cannot link /etc/portage/make.profile to $_repo/profiles/$_want"
		log "profile: $_want"
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

# vdb_lines ROOT: "cpv<TAB>build_id<TAB>counter" of every package installed in ROOT, from
# Portage's installed-package database ($ROOT/var/db/pkg/<cat>/<pf>/{BUILD_ID,COUNTER}).
vdb_lines() {
	for _d in "${1%/}"/var/db/pkg/*/*/; do
		[ -f "$_d/COUNTER" ] || continue
		_pf=${_d%/}
		printf '%s\t%s\t%s\n' "${_pf#"${1%/}"/var/db/pkg/}" "$(cat "$_d/BUILD_ID" 2>/dev/null)" "$(cat "$_d/COUNTER")"
	done
}

# installed_count ROOT: how many packages Portage has installed in ROOT (its vdb).
installed_count() { vdb_lines "$1" | wc -l | tr -d ' '; }

# normalize_vdb ROOT: drops what only says when the packages were merged into ROOT, so two
# assembles from the same binary packages give the same bytes: Portage keeps the merge time of
# each vdb entry as `#dir_mtime=` in its metadata file and each symlink's merge time in CONTENTS
# (set here to the package's BUILD_TIME, which its binary package fixes; files keep theirs, also
# from the binary package), plus its mtimedb and emerge.log.
normalize_vdb() {
	for _d in "${1%/}"/var/db/pkg/*/*; do
		[ -f "$_d/COUNTER" ] || continue
		if [ -f "$_d/metadata" ]; then
			sed -i '/^#dir_mtime=/d' "$_d/metadata" || fail "$EX_EMERGE" "cannot normalize $_d/metadata"
		fi
		_bt=$(cat "$_d/BUILD_TIME" 2>/dev/null || echo 0)
		if [ -f "$_d/CONTENTS" ]; then
			awk -v t="$_bt" '$1 == "sym" { $NF = t } { print }' "$_d/CONTENTS" > "$_d/CONTENTS.zentoo" &&
				mv -f "$_d/CONTENTS.zentoo" "$_d/CONTENTS" || fail "$EX_EMERGE" "cannot normalize $_d/CONTENTS"
		fi
	done
	rm -f "${1%/}/var/cache/edb/mtimedb" "${1%/}/var/cache/edb/mtimedb.bak" "${1%/}/var/log/emerge.log" \
		"${1%/}/var/cache/ldconfig/aux-cache" \
		"${1%/}/var/log/emerge-fetch.log"
}

# run_emerge ARGS...: runs emerge with its output streamed and kept in $EMERGE_LOG; on failure
# names the step and what failed: the failed package's error from its build log (Portage keeps
# it in $PORTAGE_TMPDIR/portage/<cat>/<pf>/temp/build.log) and that log's tail, else emerge's
# own error lines.
EMERGE_LOG=/tmp/zentoo-$$-emerge.log
run_emerge() {
	log "emerge $*"
	_rcf=/tmp/zentoo-$$-emerge.rc
	{ _c=0; emerge "$@" 2>&1 || _c=$?; echo "$_c" > "$_rcf"; } | tee "$EMERGE_LOG"
	_rc=$(cat "$_rcf" 2>/dev/null || echo 1)
	rm -f "$_rcf"
	[ "$_rc" -ne 0 ] || return 0
	_why=""
	_tmpdir=$(portageq envvar PORTAGE_TMPDIR 2>/dev/null || echo /var/tmp)
	for _blog in "${_tmpdir:-/var/tmp}"/portage/*/*/temp/build.log; do
		[ -f "$_blog" ] || continue
		# " * ERROR: cat/pf::repo failed (compile phase):" and the die message under it
		_err=$(awk '/^ \* ERROR: .* failed \(.* phase\):$/ {
			sub(/^ \* ERROR: /, ""); sub(/:$/, ""); e = $0; getline; sub(/^ \*  */, ""); print e ": " $0; exit }' "$_blog")
		[ -n "$_err" ] || continue
		_why="$_err"
		# A full volume is named by the write that failed, not by Portage's summary.
		_full=$(grep -m 1 'No space left on device' "$_blog" | sed 's/^[ *]*//' | cut -c 1-200)
		[ -z "$_full" ] || _why="$_why ($_full)"
		log "last lines of $_blog:"
		tail -n 30 "$_blog" | sed 's/^/    /'
		break
	done
	[ -n "$_why" ] || _why=$(grep -E '^(emerge: |!!! )' "$EMERGE_LOG" | grep -v '^!!! *$' | head -n 3 | tr '\n' ' ' | sed 's/ *$//')
	fail "$EX_EMERGE" "emerge failed (exit $_rc): ${_why:-see the emerge output above}"
}
