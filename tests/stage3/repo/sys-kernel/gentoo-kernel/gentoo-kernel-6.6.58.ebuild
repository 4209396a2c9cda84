# zentoo test repository: a stand-in for sys-kernel/gentoo-kernel (a distribution kernel). It
# "builds" from its .config (USE=savedconfig: /etc/portage/savedconfig/${CATEGORY}/${PN}, as
# savedconfig.eclass looks it up; else a default) and installs what installkernel and
# modules_install leave: /boot/{vmlinuz,config,System.map}-${KV} and /lib/modules/${KV}/.
EAPI=8
DESCRIPTION="Linux kernel built with Gentoo patches (zentoo test stand-in)"
HOMEPAGE="https://wiki.gentoo.org/wiki/Project:Distribution_Kernel"
SRC_URI="https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-${PV}.tar.xz"
LICENSE="GPL-2"
SLOT="${PV}"
KEYWORDS="amd64 arm64"
IUSE="savedconfig"
KV="${PV}-gentoo-dist"

src_configure() {
	if use savedconfig; then
		_config="/etc/portage/savedconfig/${CATEGORY}/${PN}"
		[ -f "${_config}" ] || die "Could not locate a saved config: ${_config}"
		einfo "Found your saved config file: ${_config}"
		cp "${_config}" .config || die "cannot copy ${_config}"
	else
		printf 'CONFIG_LOCALVERSION="-gentoo-dist"\nCONFIG_MODULES=y\n' > .config || die
	fi
}

src_compile() {
	default
	{
		echo "Linux ${KV} (zentoo test kernel image; CHOST=${CHOST}; CFLAGS=${CFLAGS})"
		cat .config
	} > vmlinuz || die
	echo "ffffffff81000000 T _stext" > System.map || die
	echo "kernel/drivers/zentoo/zentoo_dummy.ko:" > modules.dep || die
	echo "kernel/drivers/zentoo/zentoo_dummy.ko" > modules.order || die
	echo "zentoo_dummy module for ${KV}" > zentoo_dummy.ko || die
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
