EAPI=8
DESCRIPTION="GNU Hello, the friendly greeter"
HOMEPAGE="https://www.gnu.org/software/hello/"
SRC_URI="mirror://gnu/hello/${P}.tar.gz"
LICENSE="GPL-3+"
SLOT="0"
KEYWORDS="amd64 arm64"
IUSE="nls"

src_install() {
	default
	if use nls; then
		insinto /usr/share/locale/de/LC_MESSAGES
		newins build-info hello.mo
	fi
	dodoc README
}
