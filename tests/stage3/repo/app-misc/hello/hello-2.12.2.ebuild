# Testing only (~arch): chosen only when package.accept_keywords allows it.
EAPI=8
DESCRIPTION="GNU Hello, the friendly greeter"
HOMEPAGE="https://www.gnu.org/software/hello/"
SRC_URI="mirror://gnu/hello/${P}.tar.gz"
LICENSE="GPL-3+"
SLOT="0"
KEYWORDS="~amd64 ~arm64"
IUSE="nls"

src_install() {
	default
	dodoc README
}
