#!/bin/sh
# elf.sh — the zentoo test stage3's stand-in for a linker and for scanelf (NOT binutils).
#
#   elf.sh write OUT [-soname NAME] [-needed NAME]...   a minimal ELF64 shared object of this
#                                                       machine with a PT_DYNAMIC holding DT_SONAME
#                                                       and DT_NEEDED (no code: it never runs)
#   elf.sh scan FILE        "<arch>\t<soname>\t<needed,...>" for a dynamic ELF64 file; nothing
#                           (exit 1) for anything else
#   elf.sh is-elf FILE      exit 0 when FILE starts with the ELF magic
#
# The files it writes are real ELF: tools that read DT_NEEDED (zentoo's library check, readelf,
# scanelf) see what a linker would have recorded.
set -eu
LIB=/usr/lib/portage-double

le() { # VALUE BYTES: VALUE little-endian in BYTES bytes (octal escapes for printf)
	_v=$1 _i=0 _s=""
	while [ "$_i" -lt "$2" ]; do
		_s="$_s\\$(printf '%03o' $((_v & 255)))"
		_v=$((_v >> 8)) _i=$((_i + 1))
	done
	# shellcheck disable=SC2059 # the format is our escapes
	printf "$_s"
}

machine() {
	case $(uname -m) in
	x86_64) echo 62 ;;
	aarch64) echo 183 ;;
	*) echo "elf.sh: no ELF machine number for $(uname -m)" >&2; exit 2 ;;
	esac
}

write() {
	_out=$1; shift
	_soname="" _needed=""
	while [ $# -gt 0 ]; do
		case $1 in
		-soname) _soname=$2; shift 2 ;;
		-needed) _needed="$_needed $2"; shift 2 ;;
		*) echo "elf.sh write: unknown argument $1" >&2; exit 2 ;;
		esac
	done
	_n=0
	for _x in $_needed; do _n=$((_n + 1)); done
	[ -z "$_soname" ] || _n=$((_n + 1))
	_ndyn=$((_n + 3)) # + DT_STRTAB DT_STRSZ DT_NULL
	_dynoff=176 _dynsz=$((_ndyn * 16))
	_stroff=$((_dynoff + _dynsz))
	# string table: a leading NUL, then each name NUL-terminated
	_strsz=1
	for _x in $_soname $_needed; do _strsz=$((_strsz + ${#_x} + 1)); done
	_total=$((_stroff + _strsz))
	{
		printf '\177ELF'; le 2 1; le 1 1; le 1 1; le 0 9   # e_ident: 64-bit, LE, v1, SYSV
		le 3 2; le "$(machine)" 2; le 1 4                    # e_type DYN, e_machine, e_version
		le 0 8; le 64 8; le 0 8                              # e_entry, e_phoff, e_shoff
		le 0 4; le 64 2; le 56 2; le 2 2; le 64 2; le 0 2; le 0 2
		# PT_LOAD: the whole file, R
		le 1 4; le 4 4; le 0 8; le 0 8; le 0 8; le "$_total" 8; le "$_total" 8; le 4096 8
		# PT_DYNAMIC
		le 2 4; le 6 4; le "$_dynoff" 8; le "$_dynoff" 8; le "$_dynoff" 8; le "$_dynsz" 8; le "$_dynsz" 8; le 8 8
		_off=1
		if [ -n "$_soname" ]; then le 14 8; le "$_off" 8; _off=$((_off + ${#_soname} + 1)); fi
		for _x in $_needed; do le 1 8; le "$_off" 8; _off=$((_off + ${#_x} + 1)); done
		le 5 8; le "$_stroff" 8; le 10 8; le "$_strsz" 8; le 0 8; le 0 8
		le 0 1
		for _x in $_soname $_needed; do printf '%s' "$_x"; le 0 1; done
	} > "$_out"
}

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }

case ${1:-} in
write) shift; write "$@" ;;
scan) [ -f "$2" ] && [ ! -L "$2" ] && is_elf "$2" && od -An -v -tu1 "$2" | awk -f "$LIB/scanelf.awk" ;;
is-elf) [ -f "$2" ] && [ ! -L "$2" ] && is_elf "$2" ;;
*) echo "usage: elf.sh write OUT [-soname S] [-needed N]... | scan FILE | is-elf FILE" >&2; exit 2 ;;
esac
