EAPI=8
DESCRIPTION="Console display library"
HOMEPAGE="https://invisible-island.net/ncurses/"
SRC_URI="https://invisible-mirror.net/archives/ncurses/${P}.tar.gz"
LICENSE="MIT"
SLOT="0/6"
KEYWORDS="amd64 arm64"
IUSE="+cxx debug"
BDEPEND="dev-util/pkgconf"

src_install() {
	insinto /usr/share/${PN}
	doins build-info
	insinto /usr/lib64
	newins build-info libncursesw.so.6
	dosym libncursesw.so.6 /usr/lib64/libncursesw.so
	if use cxx; then
		newins build-info libncurses++w.so.6
	fi
	keepdir /usr/share/terminfo
}
