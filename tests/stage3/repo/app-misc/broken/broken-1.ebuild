# Always fails in src_install: for tests of build failures.
EAPI=8
DESCRIPTION="A package whose install phase always fails"
HOMEPAGE="https://zentoo.invalid/"
LICENSE="MIT"
SLOT="0"
KEYWORDS="amd64 arm64"

src_install() {
	default
	die "broken-1 fails on purpose"
}
