EAPI=8
DESCRIPTION="Robust, full-featured Open Source Toolkit for SSL/TLS"
HOMEPAGE="https://www.openssl.org/"
SRC_URI="https://www.openssl.org/source/${P}.tar.gz"
LICENSE="Apache-2.0"
SLOT="0/3"
KEYWORDS="amd64 arm64"
IUSE="+asm cpu_flags_x86_aes cpu_flags_x86_avx2 cpu_flags_arm_aes static-libs"
BDEPEND="dev-util/pkgconf"

src_install() {
	default
	insinto /usr/lib64
	newins build-info libssl.so.3
	if use static-libs; then
		newins build-info libssl.a
	fi
	insinto /etc/ssl
	newins build-info openssl.cnf
}
