EAPI=8
DESCRIPTION="A client-side URL transfer library"
HOMEPAGE="https://curl.se/"
SRC_URI="https://curl.se/download/${P}.tar.xz"
LICENSE="BSD curl"
SLOT="0"
KEYWORDS="amd64 arm64"
IUSE="+http2 ipv6 ssl"
RDEPEND="
	ssl? ( >=dev-libs/openssl-3.0:0= )
"
DEPEND="${RDEPEND}"
BDEPEND="dev-util/pkgconf"

src_install() {
	default
	insinto /usr/lib64
	newins build-info libcurl.so.4
	dodoc README
}
