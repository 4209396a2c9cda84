# zentoo test repository: a shared library (a real ELF file, soname libdemo.so.1).
EAPI=8
DESCRIPTION="A demo shared library"
HOMEPAGE="https://example.org/libdemo"
SRC_URI="https://example.org/libdemo-${PV}.tar.gz"
LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64 arm64"

src_compile() {
	zt_link libdemo.so.1 -soname libdemo.so.1
}

src_install() {
	dolib.so libdemo.so.1
	dosym libdemo.so.1 /usr/lib64/libdemo.so
}
