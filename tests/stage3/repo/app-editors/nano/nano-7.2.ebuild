EAPI=8
DESCRIPTION="GNU GPL'd Pico clone with more functionality"
HOMEPAGE="https://www.nano-editor.org/"
SRC_URI="https://www.nano-editor.org/dist/v7/${P}.tar.xz"
LICENSE="GPL-3+"
SLOT="0"
KEYWORDS="amd64 arm64"
IUSE="debug +spell"
DEPEND=">=sys-libs/ncurses-6.0:0="
RDEPEND="${DEPEND}"
BDEPEND="dev-util/pkgconf"

src_install() {
	default
	insinto /etc
	newins build-info nanorc
	if use spell; then
		insinto /usr/share/nano
		newins build-info spell.nanorc
	fi
	dodoc README
}
