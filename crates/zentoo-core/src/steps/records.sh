# shellcheck shell=sh disable=SC2015
# ("a && b || fail" is used on purpose.)
# records.sh — sourced by build.sh after common.sh: what a build used and made, written into the
# binary package volume for `zentoo gc` (crates/zentoo-binpkgs/src/gc, crates/zentoo-core/src/steps/README.md "Build records"):
#
#   $ZENTOO_BINPKGS/.zentoo/leases/<image>@<build>.json  while the build runs: every binpkg of
#                                                        its PKGDIR (taken under gc.lock)
#   $ZENTOO_BINPKGS/.zentoo/builds/<image>/<build>.json  when it ends: binpkgs used, produced and
#                                                        to be assembled; distfiles fetched or
#                                                        belonging to a package merged
#   $ZENTOO_BINPKGS/.zentoo/leases/<image>@<build>.pending  while the build resolves its lease
#                                                        (refreshed: see "locks" in common.sh)
#   $ZENTOO_BINPKGS/.zentoo/gc.lock/                     a mkdir lock gc holds (and refreshes)
#                                                        while it decides and removes; no lease
#                                                        is begun under it
# Paths of binpkgs are relative to the PKGDIR, PKGDIR relative to the volume. Everything comes
# from Portage's own records: the PKGDIR's Packages index and the roots' /var/db/pkg (BUILD_ID,
# COUNTER), never from emerge's screen output.

ZENTOO_META="${ZENTOO_BINPKGS%/}/.zentoo"
GC_LOCK="$ZENTOO_META/gc.lock"
LEASE=""
PENDING=""
PENDING_HB=""
LEASE_STARTED=""

check_record_env() {
	ZENTOO_IMAGE=${ZENTOO_IMAGE:-$ZENTOO_SET}
	ZENTOO_BUILD_ID=${ZENTOO_BUILD_ID:-$(date -u +%Y%m%dT%H%M%SZ)-$(hostname 2>/dev/null || echo x)-$$}
	valid_image_name "$ZENTOO_IMAGE" || fail "$EX_USAGE" "ZENTOO_IMAGE '$ZENTOO_IMAGE' is not a valid image name"
	case $ZENTOO_BUILD_ID in '' | .* | *[!A-Za-z0-9_.+-]*) fail "$EX_USAGE" "ZENTOO_BUILD_ID '$ZENTOO_BUILD_ID' is not a valid build id" ;; esac
	PKGDIR_REL=${PKGDIR#"${ZENTOO_BINPKGS%/}"/}
}

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

# index_lines: "cpv<TAB>build_id<TAB>path" of every instance in $PKGDIR/Packages.
index_lines() {
	[ -f "$PKGDIR/Packages" ] || return 0
	awk 'function flush() { if (c != "") printf "%s\t%s\t%s\n", c, b, p; c = ""; b = ""; p = "" }
		hdr { if ($0 == "") hdr = 0; next }
		/^$/ { flush(); next } /^CPV: / { c = $2 } /^BUILD_ID: / { b = $2 } /^PATH: / { p = substr($0, 7) }
		END { flush() }' hdr=1 "$PKGDIR/Packages"
}

# binpkg_json ROLE: reads "cpv<TAB>build_id" lines and prints one JSON object per line, its
# path looked up in the index (instances the index does not have are left out).
binpkg_json() {
	index_lines > "$TMP_RECORDS/index"
	sort -u | awk -F '\t' -v role="$1" '
		function js(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
		FILENAME == ARGV[1] { path[$1 "\t" $2] = $3; next }
		NF >= 2 && (($1 "\t" $2) in path) {
			printf "{\"cpv\":%s,\"buildId\":%s,\"path\":%s,\"role\":%s}\n", js($1), ($2 == "" ? "null" : $2), js(path[$1 "\t" $2]), js(role)
		}' "$TMP_RECORDS/index" -
}

json_array() { # one JSON value per input line -> [a,b,...]
	awk 'BEGIN { printf "[" } NF { printf "%s%s", (n++ ? "," : ""), $0 } END { printf "]" }'
}

distfile_names() {
	for _f in "$ZENTOO_DISTFILES"/*; do
		[ -f "$_f" ] || continue
		case $_f in *.__download__ | *.portage_lockfile) continue ;; esac
		echo "${_f##*/}"
	done | sort
}
# new_lines OLD NEW: the lines of NEW that OLD lacks (comm -13; busybox has no comm).
new_lines() { awk 'FILENAME == ARGV[1] { old[$0] = 1; next } !($0 in old)' "$1" "$2"; }

# merged_since ROOT COUNTER: "cpv<TAB>build_id" of the packages merged into ROOT after the vdb
# counter was COUNTER (Portage numbers merges with COUNTER).
merged_since() { vdb_lines "$1" | awk -F '\t' -v c="$2" '$3 + 0 > c + 0 { print $1 "\t" $2 }'; }
# vdb_counter ROOT: the highest COUNTER in ROOT's vdb, -1 when it is empty (the first merge is 0).
vdb_counter() { vdb_lines "$1" | awk -F '\t' '!n++ || $3 + 0 > m { m = $3 + 0 } END { print (n ? m : -1) }'; }

# lease_acquire: announces the build (leases/<image>@<build>.pending, kept fresh by a heartbeat
# while it exists), backing off while gc runs (gc.lock; a dead gc's lock, no longer refreshed, is
# broken); then holds every binary package instance of its PKGDIR (what its emerge may take from
# them is only known once it ran); then drops the announcement. gc waits for announced builds
# before it decides, so it never decides between a build's start and its lease, and builds never
# wait for each other. An announcement gc removed meanwhile (it judged it a dead build's) starts
# it over.
lease_acquire() {
	TMP_RECORDS=$(mktemp -d /tmp/zentoo-records.XXXXXX)
	mkdir -p "$ZENTOO_META/leases" || fail "$EX_USAGE" "cannot create $ZENTOO_META (is the binary package volume writable?)"
	LEASE="$ZENTOO_META/leases/$ZENTOO_IMAGE@$ZENTOO_BUILD_ID.json"
	PENDING="$ZENTOO_META/leases/$ZENTOO_IMAGE@$ZENTOO_BUILD_ID.pending"
	_start=$(date +%s) _said="" LOCK_SEEN=""
	while :; do
		_mine=$(owner_line "build $ZENTOO_IMAGE@$ZENTOO_BUILD_ID")
		_why=$(printf '%s\n' "$_mine" | put_file "$PENDING") || fail "$EX_USAGE" "cannot write $PENDING: $_why"
		if [ ! -d "$GC_LOCK" ]; then
			heartbeat "$PENDING" "$PENDING" "$_mine"
			PENDING_HB=$!
			lease_write
			[ "$(cat "$PENDING" 2>/dev/null)" != "$_mine" ] || break
			kill "$PENDING_HB" 2>/dev/null || true
			log "warning: zentoo gc removed this build's announcement $PENDING as a dead build's; taking the lease again"
			continue
		fi
		rm -f "$PENDING"
		if lock_stale "$GC_LOCK" && lock_break "$GC_LOCK"; then
			log "broke the stale gc lock $GC_LOCK ($LOCK_WHY; held by ${LOCK_OWNER:-nobody})"
			continue
		fi
		[ -n "$_said" ] || log "waiting for zentoo gc to finish ($GC_LOCK, held by $(cat "$GC_LOCK/owner" 2>/dev/null || echo '?'))"
		_said=1
		[ $(($(date +%s) - _start)) -le 1800 ] ||
			fail "$EX_USAGE" "$GC_LOCK has been held for 30 minutes, still refreshed by zentoo gc ($(cat "$GC_LOCK/owner" 2>/dev/null || echo '?'))"
		sleep 0.1 2>/dev/null || sleep 1
	done
	kill "$PENDING_HB" 2>/dev/null || true
	PENDING_HB=""
	rm -f "$PENDING"
	log "lease $LEASE: $(wc -l < "$TMP_RECORDS/before" | tr -d ' ') binary packages held while building"
}

# lease_write: the lease: every binary package instance the PKGDIR's index has now.
lease_write() {
	LEASE_STARTED=$(date +%s)
	index_lines | cut -f1,2 | sort > "$TMP_RECORDS/before"
	distfile_names > "$TMP_RECORDS/distfiles-before"
	: > "$TMP_RECORDS/used"
	: > "$TMP_RECORDS/compiled"
	_why=
	{
		printf '{"version":1,"image":%s,"build":%s,"pkgdir":%s,"started":%s,"binpkgs":' \
			"$(json_str "$ZENTOO_IMAGE")" "$(json_str "$ZENTOO_BUILD_ID")" "$(json_str "$PKGDIR_REL")" "$LEASE_STARTED"
		binpkg_json resolved < "$TMP_RECORDS/before" | json_array
		printf '}\n'
	} > "$TMP_RECORDS/lease" && _why=$(put_file "$LEASE" < "$TMP_RECORDS/lease") ||
		fail "$EX_USAGE" "cannot write the lease $LEASE: ${_why:-cannot compose it}"
}

# merges_begin ROOT: notes the vdb counter of ROOT and the index, before an emerge into ROOT.
merges_begin() {
	MERGES_COUNTER=$(vdb_counter "$1")
	index_lines | cut -f1,2 | sort > "$TMP_RECORDS/index-before-emerge"
}

# merges_end ROOT: adds what the emerge since merges_begin merged into ROOT to this build's used
# (instances the index had before that emerge) and compiled (all others) lists; sets COMPILED
# and BINARIES to that emerge's counts.
merges_end() {
	merged_since "$1" "$MERGES_COUNTER" > "$TMP_RECORDS/merged"
	awk -F '\t' 'FILENAME == ARGV[1] { had[$1 "\t" $2] = 1; next } (($1 "\t" $2) in had)' \
		"$TMP_RECORDS/index-before-emerge" "$TMP_RECORDS/merged" > "$TMP_RECORDS/merged-used"
	new_lines "$TMP_RECORDS/merged-used" "$TMP_RECORDS/merged" > "$TMP_RECORDS/merged-compiled"
	cat "$TMP_RECORDS/merged-used" >> "$TMP_RECORDS/used"
	cat "$TMP_RECORDS/merged-compiled" >> "$TMP_RECORDS/compiled"
	COMPILED=$(wc -l < "$TMP_RECORDS/merged-compiled" | tr -d ' ')
	BINARIES=$(wc -l < "$TMP_RECORDS/merged-used" | tr -d ' ')
}

# record_write STATUS [ASSEMBLE_ROOT]: the build record of this build (ASSEMBLE_ROOT: a root
# holding what the assemble step will install; its packages are recorded with role assemble).
record_write() {
	[ -n "$LEASE" ] || return 0
	_status=$1
	index_lines | cut -f1,2 | sort > "$TMP_RECORDS/after"
	# produced: instances new in the index that this build merged (it compiled them)
	new_lines "$TMP_RECORDS/before" "$TMP_RECORDS/after" |
		awk -F '\t' 'FILENAME == ARGV[1] { c[$1 "\t" $2] = 1; next } (($1 "\t" $2) in c)' "$TMP_RECORDS/compiled" - \
			> "$TMP_RECORDS/produced"
	: > "$TMP_RECORDS/assemble"
	if [ -n "${2:-}" ]; then vdb_lines "$2" | cut -f1,2 > "$TMP_RECORDS/assemble"; fi
	distfile_names > "$TMP_RECORDS/distfiles-after"
	# distfiles: those fetched now, and those of every package merged (A in its saved
	# environment): a rebuild of any of them needs them
	{
		new_lines "$TMP_RECORDS/distfiles-before" "$TMP_RECORDS/distfiles-after"
		cut -f1 "$TMP_RECORDS/used" "$TMP_RECORDS/compiled" | while IFS= read -r _n; do
			_v=/var/db/pkg/$_n
			[ -f "$_v/environment.bz2" ] || continue
			bzip2 -dc "$_v/environment.bz2" | sed -n 's/^declare -[-x] A="\(.*\)"$/\1/p' | tr ' ' '\n'
		done
	} | awk 'NF && !seen[$0]++' > "$TMP_RECORDS/fetched"
	_dir="$ZENTOO_META/builds/$ZENTOO_IMAGE"
	_rec="$_dir/$ZENTOO_BUILD_ID.json"
	_why=
	mkdir -p "$_dir" && {
		printf '{"version":1,"image":%s,"build":%s,"status":%s,"pkgdir":%s,"started":%s,"finished":%s,"binpkgs":' \
			"$(json_str "$ZENTOO_IMAGE")" "$(json_str "$ZENTOO_BUILD_ID")" "$(json_str "$_status")" "$(json_str "$PKGDIR_REL")" \
			"$LEASE_STARTED" "$(date +%s)"
		{
			binpkg_json used < "$TMP_RECORDS/used"
			binpkg_json produced < "$TMP_RECORDS/produced"
			binpkg_json assemble < "$TMP_RECORDS/assemble"
		} | json_array
		printf ',"distfiles":'
		while IFS= read -r _f; do json_str "$_f"; echo; done < "$TMP_RECORDS/fetched" | json_array
		printf '}\n'
	} > "$TMP_RECORDS/record" && _why=$(put_file "$_rec" < "$TMP_RECORDS/record") ||
		log "warning: cannot write the build record $_rec: ${_why:-cannot compose it}"
	log "build record $_rec: $(wc -l < "$TMP_RECORDS/produced" | tr -d ' ') produced, $(wc -l < "$TMP_RECORDS/assemble" | tr -d ' ') to assemble, $(wc -l < "$TMP_RECORDS/fetched" | tr -d ' ') distfiles"
}

# lease_release: removes the lease (the record, written first, now protects what it names).
lease_release() {
	if [ -n "$PENDING_HB" ]; then kill "$PENDING_HB" 2>/dev/null || true; fi
	if [ -n "$PENDING" ]; then rm -f "$PENDING"; fi
	if [ -n "$LEASE" ]; then rm -f "$LEASE"; fi
	LEASE=""
	if [ -n "${TMP_RECORDS:-}" ]; then rm -rf "$TMP_RECORDS"; fi
}
