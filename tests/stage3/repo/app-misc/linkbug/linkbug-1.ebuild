# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
ZT_LINK="demo"
inherit zentoo-test

DESCRIPTION="A program whose ebuild forgot its runtime dependency"
HOMEPAGE="https://example.org/linkbug"
SRC_URI="https://example.org/${P}.tar.gz"
LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64 arm64"
DEPEND="dev-libs/libdemo"
