# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# The C library of the zentoo test repository: the test stage3's own (Debian's libc6), packaged
# as a binary package is (like Gentoo's *-bin ebuilds), so the systems built from this
# repository have a C library and the loader their programs need.

EAPI=8

DESCRIPTION="GNU libc C library (the test stage3's own, packaged)"
HOMEPAGE="https://www.gnu.org/software/libc/"
S="${WORKDIR}"
LICENSE="LGPL-2.1+"
SLOT="2.2"
KEYWORDS="amd64 arm64"
RESTRICT="strip"
QA_PREBUILT="*"

src_install() {
	local multiarch loader
	case ${ARCH} in
		amd64) multiarch=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
		arm64) multiarch=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
		*) die "no C library for ARCH=${ARCH}" ;;
	esac
	local from="${BROOT}/usr/lib/${multiarch}" f
	exeinto "/usr/lib/${multiarch}"
	for f in "${loader}" libc.so.6 libm.so.6 libresolv.so.2 libdl.so.2 libpthread.so.0 librt.so.1 \
		libnss_files.so.2 libnss_dns.so.2; do
		[[ -e ${from}/${f} ]] || die "the stage3 has no ${from}/${f}"
		doexe "${from}/${f}"
	done
	# Portage's env-update runs the target root's own ldconfig (ROOT/sbin/ldconfig)
	into /usr
	dosbin "${BROOT}/usr/sbin/ldconfig"
	case ${ARCH} in
		amd64) dosym "../lib/${multiarch}/${loader}" "/usr/lib64/${loader}" ;;
		arm64) dosym "${multiarch}/${loader}" "/usr/lib/${loader}" ;;
	esac
	# env-update writes these into ld.so.conf and runs ldconfig for the root
	newenvd - 00glibc <<-EOT
		LDPATH="/usr/lib64:/usr/lib/${multiarch}"
	EOT
}
