# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
inherit zentoo-test

DESCRIPTION="pkg-config compatible replacement with no dependencies other than C99"
HOMEPAGE="https://gitea.treehouse.systems/ariadne/pkgconf"
SRC_URI="https://distfiles.ariadne.space/pkgconf/${P}.tar.gz"
LICENSE="ISC"
SLOT="0/4"
KEYWORDS="amd64 arm64"

src_install() {
	zentoo-test_src_install
	dosym pkgconf /usr/bin/pkg-config
}
