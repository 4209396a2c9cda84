# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
ZT_LIB="libcurl.so.4"
inherit zentoo-test

DESCRIPTION="A client-side URL transfer library"
HOMEPAGE="https://curl.se/"
SRC_URI="https://curl.se/download/${P}.tar.gz"
LICENSE="BSD"
SLOT="0"
KEYWORDS="amd64 arm64"
IUSE="+http2 ipv6 ssl"
RDEPEND="ssl? ( >=dev-libs/openssl-3.0:0=[asm] )"
DEPEND="${RDEPEND}"
BDEPEND="dev-util/pkgconf"

src_configure() {
	use ssl && ZT_LINK="ssl"
	zentoo-test_src_configure
}
