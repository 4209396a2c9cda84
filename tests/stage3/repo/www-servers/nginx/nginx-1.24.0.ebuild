# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
ZT_PROG_DIR="sbin"
inherit zentoo-test

DESCRIPTION="Robust, small and high performance http and reverse proxy server"
HOMEPAGE="https://nginx.org"
SRC_URI="https://nginx.org/download/${P}.tar.gz"
LICENSE="BSD-2"
SLOT="mainline"
KEYWORDS="amd64 arm64"
IUSE="debug http2 ssl"
RDEPEND="ssl? ( dev-libs/openssl:0= )"
DEPEND="${RDEPEND}"

src_configure() {
	use ssl && ZT_LINK="ssl"
	zentoo-test_src_configure
}

src_install() {
	zentoo-test_src_install
	insinto /etc/nginx
	newins build-info nginx.conf
	use http2 && newins build-info http2.conf
	use ssl && newins build-info ssl.conf
	keepdir /var/log/nginx
}
