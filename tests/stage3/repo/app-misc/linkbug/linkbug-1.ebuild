# zentoo test repository: links libdemo but forgot RDEPEND on it (a classic ebuild bug): a
# binary install leaves /usr/bin/linkbug without libdemo.so.1. For library checks.
EAPI=8
DESCRIPTION="A program whose ebuild forgot its runtime dependency"
HOMEPAGE="https://example.org/linkbug"
SRC_URI="https://example.org/linkbug-${PV}.tar.gz"
LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64 arm64"
DEPEND="dev-libs/libdemo"

src_compile() {
	zt_link linkbug -ldemo
}

src_install() {
	dobin linkbug
}
