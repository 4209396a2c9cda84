# scanelf.awk — reads `od -An -v -tu1 FILE` of an ELF64 little-endian file and prints
# "<arch>\t<soname>\t<needed,needed,...>" from its PT_DYNAMIC (arch as Portage's multilib
# category: x86_64, arm_64); exits 1 for other files (32-bit, big-endian, not dynamic).
function u(off, len,   v, i) { v = 0; for (i = len - 1; i >= 0; i--) v = v * 256 + b[off + i]; return v }
function str(off,   s) { s = ""; while (off < n && b[off] != 0) { s = s sprintf("%c", b[off]); off++ } return s }
function at(vaddr,   i) { for (i = 1; i <= nl; i++) if (vaddr >= lv[i] && vaddr < lv[i] + lf[i]) return vaddr - lv[i] + lo[i]; return -1 }
{ for (i = 1; i <= NF; i++) b[n++] = $i + 0 }
END {
	if (n < 64 || b[0] != 127 || b[1] != 69 || b[2] != 76 || b[3] != 70) exit 1
	if (b[4] != 2 || b[5] != 1) exit 1
	mach = u(18, 2); arch = (mach == 62) ? "x86_64" : (mach == 183) ? "arm_64" : "unknown"
	phoff = u(32, 8); phent = u(54, 2); phnum = u(56, 2); dynoff = -1
	for (i = 0; i < phnum; i++) {
		p = phoff + i * phent; t = u(p, 4)
		if (t == 1) { nl++; lo[nl] = u(p + 8, 8); lv[nl] = u(p + 16, 8); lf[nl] = u(p + 32, 8) }
		if (t == 2) { dynoff = u(p + 8, 8); dynsz = u(p + 32, 8) }
	}
	if (dynoff < 0) exit 1
	son = -1; nn = 0; strtab = -1
	for (o = dynoff; o + 16 <= dynoff + dynsz && o + 16 <= n; o += 16) {
		tag = u(o, 8); val = u(o + 8, 8)
		if (tag == 0) break
		if (tag == 1) need[++nn] = val
		if (tag == 14) son = val
		if (tag == 5) strtab = val
	}
	base = at(strtab)
	if (base < 0) exit 1
	s = ""
	for (i = 1; i <= nn; i++) s = s (i > 1 ? "," : "") str(base + need[i])
	printf "%s\t%s\t%s\n", arch, (son >= 0 ? str(base + son) : ""), s
}
