# Copyright 2026 zentoo authors
# Distributed under the terms of the MIT license
# A kernel-like package of the zentoo test repository: real files where a distribution kernel
# puts them (/boot, /lib/modules), not a real kernel.

EAPI=8

DESCRIPTION="Linux kernel built with Gentoo patches (zentoo test stand-in)"
HOMEPAGE="https://wiki.gentoo.org/wiki/Project:Distribution_Kernel"
SRC_URI="https://cdn.kernel.org/pub/linux/kernel/v6.x/${P}.tar.gz"
LICENSE="GPL-2"
SLOT="${PV}"
KEYWORDS="amd64 arm64"
IUSE="savedconfig"
RESTRICT="strip"

KV="${PV}-gentoo-dist"

src_configure() {
	if use savedconfig; then
		local config="/etc/portage/savedconfig/${CATEGORY}/${PN}"
		[[ -f ${config} ]] || die "Could not locate a saved config: ${config}"
		einfo "Found your saved config file: ${config}"
		cp "${config}" .config || die "cannot copy ${config}"
	else
		printf 'CONFIG_LOCALVERSION="-gentoo-dist"\nCONFIG_MODULES=y\n' > .config || die
	fi
}

src_compile() {
	{
		echo "Linux ${KV} (zentoo test kernel image; CHOST=${CHOST}; CFLAGS=${CFLAGS})"
		cat .config
	} > vmlinuz || die
	echo "ffffffff81000000 T _stext" > System.map || die
	echo "kernel/drivers/zentoo/zentoo_dummy.ko:" > modules.dep || die
	echo "kernel/drivers/zentoo/zentoo_dummy.ko" > modules.order || die
	echo "zentoo_dummy module for ${KV}" > zentoo_dummy.ko || die
	printf 'CPV=%s\nCHOST=%s\nCFLAGS=%s\nUSE=%s\n' "${CATEGORY}/${PF}" "${CHOST}" "${CFLAGS}" \
		"$(usev savedconfig)" > build-info || die
}

src_install() {
	insinto /boot
	newins vmlinuz "vmlinuz-${KV}"
	newins .config "config-${KV}"
	newins System.map "System.map-${KV}"
	insinto "/lib/modules/${KV}"
	doins modules.dep modules.order
	insinto "/lib/modules/${KV}/kernel/drivers/zentoo"
	doins zentoo_dummy.ko
	insinto "/usr/share/${PN}"
	doins build-info
}
