EAPI=8
DESCRIPTION="Distribute compilation of C code across several machines on a network"
HOMEPAGE="https://github.com/distcc/distcc"
SRC_URI="https://github.com/distcc/distcc/releases/download/v${PV}/${P}.tar.gz"
LICENSE="GPL-2+"
SLOT="0"
KEYWORDS="amd64 arm64"

src_install() {
	default
	dodir /usr/lib/distcc/bin
	dosym ../../../bin/distcc /usr/lib/distcc/bin/cc
}
