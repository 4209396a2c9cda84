# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
inherit zentoo-test

DESCRIPTION="A package whose build always fails (for failure tests)"
HOMEPAGE="https://zentoo.invalid/"
SRC_URI="https://zentoo.invalid/${P}.tar.gz"
LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64 arm64"

src_compile() {
	echo "broken-1: this line is in the build log"
	die "broken-1 fails on purpose"
}
