# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
ZT_PROG=""
ZT_LIB="libncursesw.so.6"
inherit zentoo-test

DESCRIPTION="Console display library"
HOMEPAGE="https://invisible-island.net/ncurses/"
SRC_URI="https://invisible-mirror.net/archives/ncurses/${P}.tar.gz"
LICENSE="MIT"
SLOT="0/6"
KEYWORDS="amd64 arm64"
IUSE="+cxx debug"
BDEPEND="dev-util/pkgconf"

src_install() {
	zentoo-test_src_install
	keepdir /usr/share/terminfo
}
