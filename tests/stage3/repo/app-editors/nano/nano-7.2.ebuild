# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
ZT_LINK="ncursesw"
inherit zentoo-test

DESCRIPTION="GNU GPL'd Pico clone with more functionality"
HOMEPAGE="https://www.nano-editor.org/"
SRC_URI="https://www.nano-editor.org/dist/v7/${P}.tar.gz"
LICENSE="GPL-3+"
SLOT="0"
KEYWORDS="amd64 arm64"
IUSE="debug +spell"
DEPEND=">=sys-libs/ncurses-6.0:0="
RDEPEND="${DEPEND}"
BDEPEND="dev-util/pkgconf"

src_install() {
	zentoo-test_src_install
	insinto /etc
	newins build-info nanorc
	if use spell; then
		insinto /usr/share/nano
		newins build-info spell.nanorc
	fi
}
