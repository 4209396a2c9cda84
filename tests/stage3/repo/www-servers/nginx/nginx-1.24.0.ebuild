EAPI=8
DESCRIPTION="Robust, small and high performance http and reverse proxy server"
HOMEPAGE="https://nginx.org"
SRC_URI="https://nginx.org/download/${P}.tar.gz"
LICENSE="BSD-2"
SLOT="mainline"
KEYWORDS="amd64 arm64"
IUSE="debug http2 ssl"
RDEPEND="
	ssl? ( dev-libs/openssl:0= )
"
DEPEND="${RDEPEND}"

src_install() {
	default
	# nginx lives in sbin, like the real one.
	exeinto /usr/sbin
	doexe "${S}/${PN}"
	rm -f "${ED}/usr/bin/${PN}"
	insinto /etc/nginx
	newins build-info nginx.conf
	use http2 && newins build-info http2.conf
	use ssl && newins build-info ssl.conf
	keepdir /var/log/nginx
	dodoc README
}
