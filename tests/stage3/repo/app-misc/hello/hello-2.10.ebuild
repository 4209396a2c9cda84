# An old version: kept to show version choice (the best visible version wins).
EAPI=8
DESCRIPTION="GNU Hello, the friendly greeter"
HOMEPAGE="https://www.gnu.org/software/hello/"
SRC_URI="mirror://gnu/hello/${P}.tar.gz"
LICENSE="GPL-3+"
SLOT="0"
KEYWORDS="amd64 arm64"
IUSE="nls"
