# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A package of the zentoo test repository (real C from tests/stage3/distfiles; not the real one).

EAPI=8
ZT_PROG=""
ZT_LIB="libdemo.so.1"
inherit zentoo-test

DESCRIPTION="A demo shared library"
HOMEPAGE="https://example.org/libdemo"
SRC_URI="https://example.org/${P}.tar.gz"
LICENSE="MIT"
SLOT="0/1"
KEYWORDS="amd64 arm64"
