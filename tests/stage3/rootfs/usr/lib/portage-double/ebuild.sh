#!/bin/sh
# ebuild.sh — the zentoo test stage3's stand-in for Portage's ebuild.sh.
#
#   ebuild.sh metadata EBUILD CATEGORY   print the ebuild's metadata as one tab-separated line
#   ebuild.sh build EBUILD               run src_unpack .. src_install (environment set by emerge)
#
# "a && b || die" is used on purpose: die when either fails. USE, LICENSE... are the ebuild API.
# shellcheck disable=SC2015,SC2034,SC2153
#
# Ebuilds are sourced by this POSIX sh (busybox ash), so they must stick to the subset described
# in tests/stage3/README.md. Like Portage, phases do not run under `set -e`: helpers die on error.

die() {
	echo " * ERROR: ${CATEGORY:-?}/${PF:-?}::gentoo failed (${EBUILD_PHASE:-?} phase):" >&2
	echo " *   ${*:-(no error message)}" >&2
	exit 1
}
einfo() { echo " * $*"; }
elog() { echo " * $*"; }
ewarn() { echo " * $*" >&2; }
eerror() { echo " * $*" >&2; }
inherit() { :; }
# shellcheck disable=SC2120
nonfatal() { "$@"; }

in_iuse() {
	for _f in $IUSE; do
		_f=${_f#[+-]}
		[ "$_f" = "$1" ] && return 0
	done
	return 1
}
use() {
	_flag=${1#!}
	in_iuse "$_flag" || die "USE Flag '${_flag}' not in IUSE for ${CATEGORY}/${PF}"
	_on=1
	case " $USE " in *" $_flag "*) _on=0 ;; esac
	case $1 in '!'*) [ $_on -ne 0 ] ;; *) [ $_on -eq 0 ] ;; esac
}
usex() { if use "$1"; then echo "${2-yes}${4-}"; else echo "${3-no}${5-}"; fi; }
use_enable() { if use "$1"; then echo "--enable-${2:-$1}${3:+=$3}"; else echo "--disable-${2:-$1}"; fi; }
use_with() { if use "$1"; then echo "--with-${2:-$1}${3:+=$3}"; else echo "--without-${2:-$1}"; fi; }

_insdir=/
_exedir=/
_docdir() { echo "/usr/share/doc/${PF}"; }
into() { :; }
insinto() { _insdir=$1; }
exeinto() { _exedir=$1; }
dodir() { for _d in "$@"; do mkdir -p "${ED}${_d}" || die "dodir $_d failed"; done; }
keepdir() {
	for _d in "$@"; do
		mkdir -p "${ED}${_d}" || die "keepdir $_d failed"
		: > "${ED}${_d}/.keep_${CATEGORY}_${PN}-${SLOT%%/*}" || die "keepdir $_d failed"
	done
}
_install() { # mode destdir file [newname]
	[ -e "$3" ] || die "${EBUILD_PHASE_FUNC:-install}: $3 does not exist"
	mkdir -p "${ED}$2" || die "cannot create ${ED}$2"
	_dst="${ED}$2/${4:-${3##*/}}"
	cp "$3" "$_dst" && chmod "$1" "$_dst" || die "cannot install $3 into $2"
}
doins() { for _f in "$@"; do _install 0644 "$_insdir" "$_f"; done; }
newins() { _install 0644 "$_insdir" "$1" "$2"; }
dobin() { for _f in "$@"; do _install 0755 /usr/bin "$_f"; done; }
newbin() { _install 0755 /usr/bin "$1" "$2"; }
dosbin() { for _f in "$@"; do _install 0755 /usr/sbin "$_f"; done; }
doexe() { for _f in "$@"; do _install 0755 "$_exedir" "$_f"; done; }
newexe() { _install 0755 "$_exedir" "$1" "$2"; }
dodoc() { for _f in "$@"; do _install 0644 "$(_docdir)" "$_f"; done; }
dosym() {
	case $2 in /*) ;; *) die "dosym: the link name must be absolute: $2" ;; esac
	mkdir -p "${ED}${2%/*}" && ln -sfn "$1" "${ED}$2" || die "dosym $1 $2 failed"
}
fperms() { _m=$1; shift; for _f in "$@"; do chmod "$_m" "${ED}${_f}" || die "fperms $_f failed"; done; }
emake() { echo "make ${MAKEOPTS} $*"; }
# zt_link OUT [-soname NAME] [-lNAME]...: the test stage3's "linker" (not an ebuild API of
# Portage): writes OUT as a real ELF shared object whose DT_NEEDED entries are the sonames of the
# libraries -lNAME finds as lib<NAME>.so in ${EROOT} (usr/lib64, usr/lib, lib64, lib), as ld
# records them. Nothing in it runs; readers of DT_NEEDED see what a link would leave.
zt_link() {
	_lout=$1; shift
	_largs=""
	while [ $# -gt 0 ]; do
		case $1 in
		-soname) _largs="$_largs -soname $2"; shift 2 ;;
		-l*)
			_lname=${1#-l}; _lfound=""
			for _ld in usr/lib64 usr/lib lib64 lib; do
				if [ -e "${EROOT%/}/$_ld/lib$_lname.so" ]; then _lfound="${EROOT%/}/$_ld/lib$_lname.so"; break; fi
			done
			[ -n "$_lfound" ] || die "ld: cannot find -l$_lname: No such file or directory"
			_lson=$(sh /usr/lib/portage-double/elf.sh scan "$(readlink -f "$_lfound")" | cut -f2)
			_largs="$_largs -needed ${_lson:-lib$_lname.so}"
			shift
			;;
		*) die "zt_link: unknown argument $1" ;;
		esac
	done
	echo "ld -o $_lout$_largs"
	# shellcheck disable=SC2086 # words on purpose
	sh /usr/lib/portage-double/elf.sh write "$_lout" $_largs || die "zt_link: cannot write $_lout"
}
econf() { echo "./configure --prefix=/usr --build=${CBUILD:-$CHOST} --host=${CHOST} $*"; }
einstalldocs() { [ -f "${S}/README" ] && dodoc "${S}/README"; return 0; }

default_pkg_setup() { :; }
default_src_unpack() {
	# No sources are downloaded here: the "tarball" is a file emerge wrote into DISTDIR.
	mkdir -p "$S" || die "cannot create $S"
	printf '%s: %s\n(a package of the zentoo test repository)\n' "$P" "${DESCRIPTION:-}" > "$S/README"
}
default_src_prepare() { :; }
default_src_configure() { :; }
default_src_compile() {
	# "Compiling": record the settings this build used, and make a program that prints them.
	cd "$S" || die "no $S"
	{
		echo "CPV=${CATEGORY}/${PF}"
		echo "CHOST=${CHOST}"
		echo "CFLAGS=${CFLAGS}"
		echo "CXXFLAGS=${CXXFLAGS}"
		echo "LDFLAGS=${LDFLAGS}"
		echo "USE=${USE}"
		echo "MAKEOPTS=${MAKEOPTS}"
		echo "DISTCC=${ZT_DISTCC:-no}"
	} > build-info || die "cannot write build-info"
	{
		echo '#!/bin/sh'
		echo "# ${CATEGORY}/${PF}: a program of the zentoo test stage3 (not the real ${PN})"
		echo "echo '${PN} ${PV} (zentoo test build; CHOST=${CHOST}; CFLAGS=${CFLAGS}; USE=${USE})'"
	} > "$PN" || die "cannot write $PN"
	chmod 0755 "$PN"
}
default_src_test() { :; }
default_src_install() {
	cd "$S" || die "no $S"
	dobin "$PN"
	insinto "/usr/share/${PN}"
	doins build-info
	insinto /
}
default() {
	case ${EBUILD_PHASE_FUNC:-} in
	'') die "default called outside a phase function" ;;
	*) "default_${EBUILD_PHASE_FUNC}" ;;
	esac
}
pkg_setup() { default_pkg_setup; }
src_unpack() { default_src_unpack; }
src_prepare() { default_src_prepare; }
src_configure() { default_src_configure; }
src_compile() { default_src_compile; }
src_test() { default_src_test; }
src_install() { default_src_install; }

_flat() { printf '%s' "$*" | tr '\t\n' '  ' | sed 's/  */ /g; s/^ //; s/ $//'; }

case ${1:-} in
metadata)
	_ebuild=$2 CATEGORY=$3
	PF=${_ebuild##*/}; PF=${PF%.ebuild}
	PN=${_ebuild%/*}; PN=${PN##*/}
	PVR=${PF#"$PN"-}
	PV=${PVR%-r[0-9]*}
	PR=${PVR#"$PV"}; PR=${PR#-}; PR=${PR:-r0}
	P="$PN-$PV"
	EAPI=0 SLOT='' KEYWORDS='' IUSE='' DEPEND='' RDEPEND='' BDEPEND='' DESCRIPTION='' SRC_URI='' LICENSE=''
	# shellcheck disable=SC1090
	. "$_ebuild" || exit 1
	[ -n "$SLOT" ] || { echo "!!! $_ebuild: SLOT is not set" >&2; exit 1; }
	case $EAPI in 7 | 8) ;; *) echo "!!! $_ebuild: EAPI '$EAPI' is not supported (7 or 8)" >&2; exit 1 ;; esac
	printf 'E\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$CATEGORY" "$PF" "$(_flat "$SLOT")" \
		"$(_flat "$KEYWORDS")" "$(_flat "$IUSE")" "$(_flat "$DEPEND")" "$(_flat "$RDEPEND")" \
		"$(_flat "$BDEPEND")" "$EAPI" "$(_flat "$SRC_URI")" "$(_flat "$DESCRIPTION")"
	;;
build)
	_ebuild=$2
	cd "$WORKDIR" || exit 1
	# shellcheck disable=SC1090
	. "$_ebuild" || die "sourcing the ebuild failed"
	for EBUILD_PHASE_FUNC in pkg_setup src_unpack src_prepare src_configure src_compile src_test src_install; do
		EBUILD_PHASE=${EBUILD_PHASE_FUNC#*_}
		case $EBUILD_PHASE_FUNC in
		src_unpack) echo ">>> Unpacking source..." ;;
		src_compile) echo ">>> Compiling source in ${S} ..." ;;
		src_install) echo ">>> Install ${CATEGORY}/${PF} into ${D}" ;;
		esac
		cd "$WORKDIR" || die "no WORKDIR"
		if [ -d "$S" ]; then cd "$S" || die "cannot enter $S"; fi
		# As Portage: /etc/portage/bashrc is sourced before every phase, EBUILD_PHASE set.
		if [ -f /etc/portage/bashrc ]; then
			# shellcheck disable=SC1091
			. /etc/portage/bashrc || die "sourcing /etc/portage/bashrc failed"
		fi
		"$EBUILD_PHASE_FUNC"
		case $EBUILD_PHASE_FUNC in
		src_unpack) echo ">>> Source unpacked in ${WORKDIR}" ;;
		src_compile) echo ">>> Source compiled." ;;
		src_install) echo ">>> Completed installing ${CATEGORY}/${PF} into ${D}" ;;
		esac
	done
	;;
*)
	echo "usage: ebuild.sh metadata EBUILD CATEGORY | build EBUILD" >&2
	exit 2
	;;
esac
