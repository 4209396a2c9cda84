# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# The filesystem layout of the zentoo test repository's systems (merged /usr, as the 23.0
# profiles): top-level symlinks, /etc/passwd and /etc/group, /tmp.

EAPI=8

DESCRIPTION="Filesystem baselayout and init scripts (zentoo test stand-in)"
HOMEPAGE="https://wiki.gentoo.org/wiki/No_homepage"
S="${WORKDIR}"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64 arm64"

src_install() {
	local d
	for d in bin lib sbin; do dosym "usr/${d}" "/${d}"; done
	dosym usr/lib64 /lib64
	keepdir /usr/bin /usr/sbin /usr/lib /usr/lib64 /etc /root /var/lib /var/log /run
	diropts -m 1777
	keepdir /tmp /var/tmp
	insinto /etc
	newins - passwd <<-EOT
		root:x:0:0:root:/root:/bin/sh
		portage:x:250:250:portage:/var/lib/portage/home:/sbin/nologin
		nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin
	EOT
	newins - group <<-EOT
		root:x:0:
		portage:x:250:
		nobody:x:65534:
	EOT
	newins - os-release <<-EOT
		NAME="zentoo test system"
		ID=gentoo
		PRETTY_NAME="zentoo test system (built by real Portage from the zentoo test repository)"
	EOT
}
