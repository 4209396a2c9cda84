# zentoo test repository: a program linked against dev-libs/libdemo (DT_NEEDED: its soname).
EAPI=8
DESCRIPTION="A program linked to libdemo"
HOMEPAGE="https://example.org/democlient"
SRC_URI="https://example.org/democlient-${PV}.tar.gz"
LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64 arm64"
DEPEND="dev-libs/libdemo"
RDEPEND="dev-libs/libdemo"

src_compile() {
	zt_link democlient -ldemo
}

src_install() {
	dobin democlient
}
