# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
ZT_PROG=""
ZT_LIB="libssl.so.3"
inherit zentoo-test

DESCRIPTION="Robust, full-featured Open Source Toolkit for SSL/TLS"
HOMEPAGE="https://www.openssl.org/"
SRC_URI="https://www.openssl.org/source/${P}.tar.gz"
LICENSE="Apache-2.0"
SLOT="0/3"
KEYWORDS="amd64 arm64"
IUSE="+asm cpu_flags_x86_aes cpu_flags_x86_avx2 cpu_flags_arm_aes static-libs"
BDEPEND="dev-util/pkgconf"

src_install() {
	zentoo-test_src_install
	insinto /etc/ssl
	newins build-info openssl.cnf
}
