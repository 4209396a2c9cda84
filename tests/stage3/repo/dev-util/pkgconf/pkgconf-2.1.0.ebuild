EAPI=8
DESCRIPTION="pkg-config compatible replacement with no dependencies other than C99"
HOMEPAGE="https://gitea.treehouse.systems/ariadne/pkgconf"
SRC_URI="https://distfiles.ariadne.space/pkgconf/${P}.tar.xz"
LICENSE="ISC"
SLOT="0/4"
KEYWORDS="amd64 arm64"

src_install() {
	default
	dosym pkgconf /usr/bin/pkg-config
}
