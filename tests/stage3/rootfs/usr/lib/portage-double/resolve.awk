# resolve.awk — dependency resolution of the zentoo test stage3's emerge double.
#
# Reads tab-separated records on stdin (written by emerge):
#   C  KEY VALUE                      configuration (ARCH CHOST USE_PROFILE USE_CONF USE_ENV
#                                     ACCEPT_KEYWORDS CPU_FLAGS_<X> ...)
#   E  cpv slot keywords iuse depend rdepend bdepend eapi   an ebuild of the repository
#   I  cpv slot use iuse depend rdepend bdepend             an installed package (vdb of ROOT)
#   B  cpv build_id use iuse chost path slot keywords depend rdepend bdepend build_time remote
#      priority size md5 sha1          a binpkg instance (remote 1: on a binhost, path is its URI)
#   PU atom flags                     /etc/portage/package.use
#   AK atom keywords                  /etc/portage/package.accept_keywords
#   M  atom                           /etc/portage/package.mask
#   T  atom origin                    a target (origin: "" for an argument, "@set" for a set member)
# Options (-v): update deep newuse changed_use usepkg usepkgonly with_bdeps nodeps emptytree
#   respect_use noreplace getbinpkgonly use_ebuild_visibility; depclean (then: "R|cpv" for each
#   installed package the targets do not need through RDEPEND, and DEPEND/BDEPEND with with_bdeps)
# Writes, in merge order:
#   P|kind|cpv|status|use|iuse|oldver|build_id|path|slot|usedisplay|size|md5|sha1   ("|"-separated:
#   fields may be empty, which a tab-separated `read` would collapse)
#   (kind ebuild|binary, status N|R|U|D)
# or on failure lines "X <message>" and exits 1.

function fail(msg) { print "X\t" msg; failed = 1; exit 1 }

# --- versions --------------------------------------------------------------------------------
function split_cpv(cpv,   s, r, n, parts, i) {
	s = cpv; r = ""
	if (match(s, /-r[0-9]+$/)) { r = substr(s, RSTART); s = substr(s, 1, RSTART - 1) }
	n = split(s, parts, "-")
	if (n < 2 || parts[n] !~ /^[0-9]/) { SC_CP = ""; SC_PV = ""; return 0 }
	SC_CP = parts[1]
	for (i = 2; i < n; i++) SC_CP = SC_CP "-" parts[i]
	SC_PV = parts[n] r
	return 1
}
function cp_of(cpv) { split_cpv(cpv); return SC_CP }
function pv_of(cpv) { split_cpv(cpv); return SC_PV }
function suffix_rank(s) {
	if (s ~ /^alpha/) return 1
	if (s ~ /^beta/) return 2
	if (s ~ /^pre/) return 3
	if (s ~ /^rc/) return 4
	if (s ~ /^p/) return 6
	return 5
}
function suffix_num(s) { sub(/^[a-z]+/, "", s); return s + 0 }
# vercmp: -1, 0, 1 (PMS ordering, without the leading-zero string rule)
function vercmp(a, b,   ra, rb, na, nb, sa, sb, nsa, nsb, ca, cb, la, lb, i, x, y, ka, kb) {
	ra = 0; rb = 0
	if (match(a, /-r[0-9]+$/)) { ra = substr(a, RSTART + 2) + 0; a = substr(a, 1, RSTART - 1) }
	if (match(b, /-r[0-9]+$/)) { rb = substr(b, RSTART + 2) + 0; b = substr(b, 1, RSTART - 1) }
	nsa = split(a, sa, "_"); nsb = split(b, sb, "_")
	la = ""; lb = ""
	if (match(sa[1], /[a-z]$/)) { la = substr(sa[1], RSTART); sa[1] = substr(sa[1], 1, RSTART - 1) }
	if (match(sb[1], /[a-z]$/)) { lb = substr(sb[1], RSTART); sb[1] = substr(sb[1], 1, RSTART - 1) }
	na = split(sa[1], ca, "."); nb = split(sb[1], cb, ".")
	for (i = 1; i <= na || i <= nb; i++) {
		if (i > na) return -1
		if (i > nb) return 1
		if (ca[i] + 0 < cb[i] + 0) return -1
		if (ca[i] + 0 > cb[i] + 0) return 1
	}
	if (la < lb) return -1
	if (la > lb) return 1
	for (i = 2; i <= nsa || i <= nsb; i++) {
		ka = (i <= nsa) ? suffix_rank(sa[i]) : 5
		kb = (i <= nsb) ? suffix_rank(sb[i]) : 5
		if (ka < kb) return -1
		if (ka > kb) return 1
		x = (i <= nsa) ? suffix_num(sa[i]) : 0
		y = (i <= nsb) ? suffix_num(sb[i]) : 0
		if (x < y) return -1
		if (x > y) return 1
	}
	if (ra < rb) return -1
	if (ra > rb) return 1
	return 0
}

# --- atoms -----------------------------------------------------------------------------------
# parse_atom sets PA_OP PA_CP PA_VER PA_GLOB PA_SLOT PA_USE; fails on anything it cannot read.
function parse_atom(a,   s, m) {
	s = a; PA_OP = ""; PA_VER = ""; PA_GLOB = 0; PA_SLOT = ""; PA_USE = ""
	if (s ~ /^!/) fail("blockers (" a ") are not modelled by the zentoo test stage3")
	if (match(s, /\[[^]]*\]$/)) { PA_USE = substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, 1, RSTART - 1) }
	if (match(s, /:[^:\/]*(\/[^:]*)?$/)) {
		m = substr(s, RSTART + 1); s = substr(s, 1, RSTART - 1)
		sub(/=$/, "", m); sub(/\/.*/, "", m)
		if (m != "*") PA_SLOT = m
	}
	if (match(s, /^(>=|<=|=|~|>|<)/)) {
		PA_OP = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
		if (PA_OP == "=" && s ~ /\*$/) { PA_GLOB = 1; s = substr(s, 1, length(s) - 1) }
		if (!split_cpv(s)) fail("invalid atom '" a "': an operator needs a version")
		PA_CP = SC_CP; PA_VER = SC_PV
	} else PA_CP = s
	if (PA_CP !~ /^[A-Za-z0-9][A-Za-z0-9+_.-]*\/[A-Za-z0-9_][A-Za-z0-9+_-]*$/)
		fail("invalid atom '" a "'")
	if (PA_OP == "" && split_cpv(PA_CP)) fail("invalid atom '" a "': a version needs an operator (=" a ")")
	return 1
}
function atom_cp(a) { parse_atom(a); return PA_CP }
function atom_match(a, cpv, slot,   c, v) {
	parse_atom(a)
	if (!split_cpv(cpv) || SC_CP != PA_CP) return 0
	if (PA_SLOT != "" && PA_SLOT != slot_main(slot)) return 0
	if (PA_OP == "") return 1
	v = SC_PV
	if (PA_OP == "=" && PA_GLOB) return index(v, PA_VER) == 1
	if (PA_OP == "~") { sub(/-r[0-9]+$/, "", v); return v == PA_VER }
	c = vercmp(v, PA_VER)
	if (PA_OP == "=") return c == 0
	if (PA_OP == ">=") return c >= 0
	if (PA_OP == ">") return c > 0
	if (PA_OP == "<=") return c <= 0
	if (PA_OP == "<") return c < 0
	return 0
}
function slot_main(s) { sub(/\/.*/, "", s); return s }

# --- USE ---------------------------------------------------------------------------------------
function apply_use(tokens,   n, t, i, f) {
	n = split(tokens, t, " ")
	for (i = 1; i <= n; i++) {
		f = t[i]
		if (f == "-*") { for (f in ON) ON[f] = 0; continue }
		if (f ~ /^-/) ON[substr(f, 2)] = 0
		else ON[f] = 1
	}
}
function sort_words(s,   n, t, i, j, x, out) {
	n = split(s, t, " ")
	for (i = 2; i <= n; i++) { x = t[i]; for (j = i - 1; j >= 1 && t[j] > x; j--) t[j + 1] = t[j]; t[j + 1] = x }
	out = ""
	for (i = 1; i <= n; i++) if (i == 1 || t[i] != t[i - 1]) out = out (out == "" ? "" : " ") t[i]
	return out
}
function iuse_names(iuse,   n, t, i, out) {
	n = split(iuse, t, " "); out = ""
	for (i = 1; i <= n; i++) { sub(/^[+-]/, "", t[i]); out = out " " t[i] }
	return sort_words(out)
}
# effective USE of cpv (slot) with the given IUSE: enabled flags within IUSE, sorted.
function eff_use(cpv, slot, iuse,   n, t, i, f, k, pre, m, v, j, out) {
	delete ON; delete INI
	n = split(iuse, t, " ")
	for (i = 1; i <= n; i++) {
		f = t[i]
		if (f ~ /^\+/) { f = substr(f, 2); ON[f] = 1 } else { sub(/^-/, "", f); ON[f] = 0 }
		INI[f] = 1
	}
	apply_use(CONF["USE_PROFILE"])
	for (k in CONF) if (k ~ /^CPU_FLAGS_/) {
		pre = tolower(k) "_"
		for (f in INI) if (index(f, pre) == 1) ON[f] = 0
		m = split(CONF[k], v, " ")
		for (j = 1; j <= m; j++) ON[pre v[j]] = 1
	}
	apply_use(CONF["USE_CONF"])
	for (i = 1; i <= npu; i++) if (atom_match(PU_ATOM[i], cpv, slot)) apply_use(PU_FLAGS[i])
	apply_use(CONF["USE_ENV"])
	out = ""
	for (f in INI) if (ON[f]) out = out " " f
	return sort_words(out)
}
function use_display(use, iuse, olduse, oldiuse, show_changes,   n, t, i, on, off, f, mark, s) {
	n = split(iuse_names(iuse), t, " "); on = ""; off = ""; oldiuse = iuse_names(oldiuse)
	for (i = 1; i <= n; i++) {
		f = t[i]; mark = ""
		if (show_changes) {
			if (!has_word(oldiuse, f)) mark = "%"
			else if (has_word(use, f) != has_word(olduse, f)) mark = "*"
		}
		if (has_word(use, f)) on = on " " f mark
		else off = off " -" f mark
	}
	s = substr(on off, 2)
	return s == "" ? "" : "USE=\"" s "\""
}
function has_word(s, w) { return index(" " s " ", " " w " ") > 0 }

# --- visibility ------------------------------------------------------------------------------
function accepted(cpv, slot, kw,   acc, n, t, i, k) {
	acc = " " CONF["ACCEPT_KEYWORDS"] " "
	for (i = 1; i <= nak; i++) if (atom_match(AK_ATOM[i], cpv, slot)) acc = acc " " (AK_KW[i] == "" ? "~" CONF["ARCH"] : AK_KW[i]) " "
	n = split(kw, t, " ")
	for (i = 1; i <= n; i++) {
		k = t[i]
		if (index(acc, " " k " ") || index(acc, " ** ")) return 1
		if (k !~ /^~/ && index(acc, " * ")) return 1
		if (k ~ /^~/ && index(acc, " ~* ")) return 1
	}
	return n == 0 && index(acc, " ** ") ? 1 : 0
}
function masked(cpv, slot,   i) {
	for (i = 1; i <= nmask; i++) if (atom_match(MASK[i], cpv, slot)) return 1
	return 0
}
# best visible ebuild for atom; records why others were rejected in WHYNOT
function best_ebuild(atom,   cp, n, t, i, cpv, best) {
	cp = atom_cp(atom); best = ""; WHYNOT = ""
	n = split(ECPS[cp], t, " ")
	for (i = 1; i <= n; i++) {
		cpv = t[i]
		if (!atom_match(atom, cpv, E_SLOT[cpv])) continue
		if (masked(cpv, E_SLOT[cpv])) { WHYNOT = WHYNOT "\n- " cpv "::gentoo (masked by: package.mask)"; continue }
		if (!accepted(cpv, E_SLOT[cpv], E_KW[cpv])) {
			WHYNOT = WHYNOT "\n- " cpv "::gentoo (masked by: " (E_KW[cpv] == "" ? "missing" : E_KW[cpv]) " keyword)"
			continue
		}
		if (best == "" || vercmp(pv_of(cpv), pv_of(best)) > 0) best = cpv
	}
	return best
}
function best_installed(atom,   cp, n, t, i, cpv, best) {
	if (emptytree) return ""
	cp = atom_cp(atom); best = ""
	n = split(ICPS[cp], t, " ")
	for (i = 1; i <= n; i++) {
		cpv = t[i]
		if (!atom_match(atom, cpv, I_SLOT[cpv])) continue
		if (best == "" || vercmp(pv_of(cpv), pv_of(best)) > 0) best = cpv
	}
	return best
}
# the binpkg instance (index into B_*) to use for cpv, or 0. As Portage: the newest BUILD_TIME
# wins (then the highest BUILD_ID); with --getbinpkgonly a binhost's instance beats a local one;
# on a tie a local instance beats a binhost's, a binhost of higher priority a lower one.
function pick_binary(cpv,   n, t, i, b, best) {
	best = 0
	n = split(BCPV[cpv], t, " ")
	for (i = 1; i <= n; i++) {
		b = t[i]
		if (!binary_ok(b)) continue
		if (!best || better_binary(b, best)) best = b
	}
	return best
}
function better_binary(a, b) {
	if (getbinpkgonly && B_REMOTE[a] != B_REMOTE[b]) return B_REMOTE[a] + 0 > B_REMOTE[b] + 0
	if (B_TIME[a] + 0 != B_TIME[b] + 0) return B_TIME[a] + 0 > B_TIME[b] + 0
	if (B_ID[a] + 0 != B_ID[b] + 0) return B_ID[a] + 0 > B_ID[b] + 0
	if (B_REMOTE[a] != B_REMOTE[b]) return B_REMOTE[a] + 0 < B_REMOTE[b] + 0
	return B_PRIO[a] + 0 > B_PRIO[b] + 0
}
function binary_ok(b) {
	if (B_CHOST[b] != CONF["CHOST"]) return 0
	if (respect_use && B_USE[b] != eff_use(B_CPV[b], B_SLOT[b], B_IUSE[b])) return 0
	return 1
}
# With --use-ebuild-visibility, a binary package is visible only if the repository has its
# version's ebuild and that ebuild is visible (Portage's depgraph._equiv_ebuild_visible); the
# reason it is not ("ebuild not available", or the ebuild's mask) is added to WHYNOT.
function ebuild_visible(cpv) {
	if (!(cpv in E_SLOT)) { WHYNOT = WHYNOT "\n- " cpv "::gentoo (masked by: ebuild not available)"; return 0 }
	if (masked(cpv, E_SLOT[cpv])) { WHYNOT = WHYNOT "\n- " cpv "::gentoo (masked by: package.mask)"; return 0 }
	if (!accepted(cpv, E_SLOT[cpv], E_KW[cpv])) {
		WHYNOT = WHYNOT "\n- " cpv "::gentoo (masked by: " (E_KW[cpv] == "" ? "missing" : E_KW[cpv]) " keyword)"
		return 0
	}
	return 1
}
# The best binary cpv for atom (--usepkgonly; --usepkg when no ebuild matches); sets BEST_B;
# records ignored instances in IGNORED, those masked by their ebuild in WHYNOT. As Portage, the
# repository is not consulted unless use_ebuild_visibility: a binpkg of a version the
# repository no longer has is taken (the newest version wins).
function best_binary(atom,   cp, n, t, i, b, best, cpv, m, u, j) {
	cp = atom_cp(atom); best = 0; IGNORED = ""; WHYNOT = ""
	n = split(BCPS[cp], t, " ")
	for (i = 1; i <= n; i++) {
		cpv = t[i]
		if (!atom_match(atom, cpv, BSLOT[cpv])) continue
		if (masked(cpv, BSLOT[cpv]) || !accepted(cpv, BSLOT[cpv], BKW[cpv])) continue
		if (use_ebuild_visibility && !ebuild_visible(cpv)) continue
		b = pick_binary(cpv)
		if (!b) {
			m = split(BCPV[cpv], u, " ")
			for (j = 1; j <= m; j++) {
				if (B_CHOST[u[j]] != CONF["CHOST"]) IGNORED = IGNORED "\n  =" cpv "-" B_ID[u[j]] " (CHOST " B_CHOST[u[j]] ")"
				else IGNORED = IGNORED "\n  =" cpv "-" B_ID[u[j]] " USE=\"" B_USE[u[j]] "\", wanted USE=\"" eff_use(cpv, B_SLOT[u[j]], B_IUSE[u[j]]) "\""
			}
			continue
		}
		if (!best || vercmp(pv_of(cpv), pv_of(B_CPV[best])) > 0) best = b
	}
	BEST_B = best
	return best ? B_CPV[best] : ""
}

# --- dependency strings ----------------------------------------------------------------------
# dep_atoms: the atoms of a dependency string under the given USE, space-separated.
function dep_atoms(dep, use, owner,   n, t, i, out, depth, tok, f, neg, want, j, alt, pick, t2) {
	n = split(dep, t, " "); out = ""
	for (i = 1; i <= n; i++) {
		tok = t[i]
		if (tok == "(" || tok == ")") continue
		if (tok ~ /\?$/) {
			f = substr(tok, 1, length(tok) - 1); neg = 0
			if (f ~ /^!/) { neg = 1; f = substr(f, 2) }
			if (t[i + 1] != "(") fail(owner ": '" tok "' must be followed by '( ... )'")
			want = has_word(use, f); if (neg) want = !want
			if (!want) {
				depth = 0
				for (j = i + 1; j <= n; j++) { if (t[j] == "(") depth++; if (t[j] == ")") { depth--; if (!depth) break } }
				if (depth) fail(owner ": unbalanced parentheses in dependencies")
				i = j
			}
			continue
		}
		if (tok == "||") {
			if (t[i + 1] != "(") fail(owner ": '||' must be followed by '( ... )'")
			pick = ""; alt = ""
			for (j = i + 2; j <= n && t[j] != ")"; j++) {
				if (t[j] == "(" || t[j] ~ /\?$/ || t[j] == "||") fail(owner ": nested groups inside '|| ( )' are not modelled")
				alt = alt " " t[j]
				if (pick == "" && best_installed(t[j]) != "") pick = t[j]
			}
			if (j > n) fail(owner ": unbalanced parentheses in dependencies")
			if (pick == "") { split(substr(alt, 2), t2, " "); pick = t2[1] }
			out = out " " pick
			i = j
			continue
		}
		out = out " " tok
	}
	return substr(out, 2)
}

function check_usedep(atom, cpv, use, parent,   n, t, i, f) {
	parse_atom(atom)
	if (PA_USE == "") return
	n = split(PA_USE, t, ",")
	for (i = 1; i <= n; i++) {
		f = t[i]; sub(/\([+-]\)/, "", f)
		if (f ~ /[?=]$/) fail("USE dependency '" atom "' (conditional form) is not modelled")
		if (f ~ /^-/ ? has_word(use, substr(f, 2)) : !has_word(use, f))
			fail("emerge: there are no ebuilds built with USE flags to satisfy \"" atom "\".\n!!! One of the following packages is required to complete your request:\n- " cpv "::gentoo (Change USE: " (f ~ /^-/ ? f : "+" f) ")" parent)
	}
}

# --- the graph -------------------------------------------------------------------------------
function visit(atom, parent, depth,   cpv, cp, inst, best, act, b, frombin, whynot, kind, use, iuse, slot, key, deps, n, t, i, status, oldv, isarg, req, d) {
	if (depth > 100) fail("dependency chain deeper than 100 at " atom)
	cp = atom_cp(atom)
	req = parent == "" ? "" : " (dependency required by \"" parent "\")"
	isarg = ISARG[cp]
	inst = best_installed(atom)
	b = 0; frombin = usepkgonly
	if (usepkgonly) { best = best_binary(atom); b = BEST_B }
	else {
		best = best_ebuild(atom)
		# As Portage: with --usepkg, a binpkg whose ebuild is gone is taken when no ebuild
		# matches the atom at all (unless --use-ebuild-visibility).
		if (best == "" && usepkg && !use_ebuild_visibility) {
			whynot = WHYNOT
			best = best_binary(atom); b = BEST_B; frombin = best != ""
			WHYNOT = whynot
		}
	}
	if (best == "" && inst == "") {
		if (usepkgonly) {
			if (IGNORED != "") print "X\t!!! The following binary packages have been ignored due to non matching USE or CHOST:" IGNORED
			if (WHYNOT != "") fail("!!! All ebuilds that could satisfy \"" atom "\" have been masked.\n!!! One of the following masked packages is required to complete your request:" WHYNOT req)
			fail("emerge: there are no binary packages to satisfy \"" atom "\"." req)
		}
		if (WHYNOT != "") fail("!!! All ebuilds that could satisfy \"" atom "\" have been masked.\n!!! One of the following masked packages is required to complete your request:" WHYNOT req)
		fail("emerge: there are no ebuilds to satisfy \"" atom "\"." req)
	}
	if (inst == "") act = "merge"
	else if (best == "") act = "keep"
	else if (isarg && !update && !noreplace) act = "merge"
	else if (update && (isarg || deep)) {
		if (vercmp(pv_of(best), pv_of(inst)) > 0) act = "merge"
		else if (vercmp(pv_of(best), pv_of(inst)) == 0 && (newuse || changed_use) && use_changed(inst, best, b, frombin)) act = "merge"
		else act = "keep"
	} else act = "keep"

	if (act == "keep") { slot = I_SLOT[inst]; use = I_USE[inst]; iuse = I_IUSE[inst]; cpv = inst }
	else {
		cpv = best
		if (frombin) kind = "binary"
		else { b = usepkg ? pick_binary(best) : 0; kind = b ? "binary" : "ebuild" }
		if (kind == "binary") { slot = B_SLOT[b]; iuse = B_IUSE[b]; use = B_USE[b] }
		else { slot = E_SLOT[cpv]; iuse = E_IUSE[cpv]; use = eff_use(cpv, slot, iuse) }
	}
	key = cp ":" slot_main(slot)
	if (key in STATE) {
		if (NODE_CPV[key] != cpv) fail("!!! Multiple package instances within a single package slot have been pulled:\n" key "\n  " NODE_CPV[key] " pulled in by " NODE_BY[key] "\n  " cpv " pulled in by " (parent == "" ? "an argument" : parent))
		check_usedep(atom, cpv, NODE_USE[key], req)
		return
	}
	check_usedep(atom, cpv, use, req)
	STATE[key] = "visiting"; NODE_CPV[key] = cpv; NODE_USE[key] = use; NODE_BY[key] = (parent == "" ? "an argument" : parent)

	deps = ""
	if (!nodeps) {
		if (act == "merge" && kind == "ebuild")
			deps = E_DEP[cpv] " " E_BDEP[cpv] " " E_RDEP[cpv]
		else if (act == "merge")
			deps = B_RDEP[b] (with_bdeps ? " " B_DEP[b] " " B_BDEP[b] : "")
		else if (deep)
			deps = I_RDEP[cpv] (with_bdeps ? " " I_DEP[cpv] " " I_BDEP[cpv] : "")
		deps = dep_atoms(deps, use, cpv)
		n = split(deps, t, " ")
		for (i = 1; i <= n; i++) visit(t[i], cpv "::gentoo" (act == "merge" && kind == "binary" ? "[binary]" : ""), depth + 1)
	}
	STATE[key] = "done"
	if (act == "merge") {
		status = "N"; oldv = ""
		if (inst != "" || (d = best_installed(cp ":" slot_main(slot))) != "") {
			if (inst == "") inst = d
			oldv = pv_of(inst)
			i = vercmp(pv_of(cpv), oldv)
			status = i > 0 ? "U" : (i < 0 ? "D" : "R")
		}
		print "P|" kind "|" cpv "|" status "|" use "|" iuse "|" oldv "|" (kind == "binary" ? B_ID[b] : "") "|" \
			(kind == "binary" ? B_PATH[b] : "") "|" slot "|" \
			use_display(use, iuse, inst == "" ? "" : I_USE[inst], inst == "" ? "" : I_IUSE[inst], inst != "") "|" \
			(kind == "binary" && B_REMOTE[b] ? B_SIZE[b] "|" B_MD5[b] "|" B_SHA1[b] : "||")
	}
}
# --newuse: IUSE or the state of a flag differs; --changed-use: the state of a flag differs.
function use_changed(inst, best, b, frombin,   iuse, want, have) {
	iuse = frombin ? B_IUSE[b] : E_IUSE[best]
	want = eff_use(best, frombin ? B_SLOT[b] : E_SLOT[best], iuse)
	have = I_USE[inst]
	if (want != have) return 1
	if (newuse && iuse_names(iuse) != iuse_names(I_IUSE[inst])) return 1
	return 0
}

# --depclean: marks what atom needs among the installed packages.
function keep_closure(atom, depth,   inst, deps, n, t, i) {
	if (depth > 100) fail("dependency chain deeper than 100 at " atom)
	inst = best_installed(atom)
	if (inst == "" || (inst in KEPT)) return
	KEPT[inst] = 1
	deps = I_RDEP[inst] (with_bdeps ? " " I_DEP[inst] " " I_BDEP[inst] : "")
	deps = dep_atoms(deps, I_USE[inst], inst)
	n = split(deps, t, " ")
	for (i = 1; i <= n; i++) keep_closure(t[i], depth + 1)
}

BEGIN { FS = "\t"; npu = 0; nak = 0; nmask = 0; nt = 0; nb = 0 }
$1 == "C" { CONF[$2] = $3; next }
$1 == "E" {
	E_SLOT[$2] = $3; E_KW[$2] = $4; E_IUSE[$2] = $5; E_DEP[$2] = $6; E_RDEP[$2] = $7; E_BDEP[$2] = $8
	ECPS[cp_of($2)] = ECPS[cp_of($2)] " " $2; next
}
$1 == "I" {
	I_SLOT[$2] = $3; I_USE[$2] = sort_words($4); I_IUSE[$2] = $5; I_DEP[$2] = $6; I_RDEP[$2] = $7; I_BDEP[$2] = $8
	ICPS[cp_of($2)] = ICPS[cp_of($2)] " " $2; next
}
$1 == "B" {
	nb++; B_CPV[nb] = $2; B_ID[nb] = $3; B_USE[nb] = sort_words($4); B_IUSE[nb] = $5; B_CHOST[nb] = $6
	B_PATH[nb] = $7; B_SLOT[nb] = $8; B_DEP[nb] = $10; B_RDEP[nb] = $11; B_BDEP[nb] = $12
	B_TIME[nb] = $13; B_REMOTE[nb] = $14; B_PRIO[nb] = $15; B_SIZE[nb] = $16; B_MD5[nb] = $17; B_SHA1[nb] = $18
	if (!($2 in BSLOT)) BCPS[cp_of($2)] = BCPS[cp_of($2)] " " $2
	BSLOT[$2] = $8; BKW[$2] = $9
	BCPV[$2] = BCPV[$2] " " nb; next
}
$1 == "PU" { npu++; PU_ATOM[npu] = $2; PU_FLAGS[npu] = $3; next }
$1 == "AK" { nak++; AK_ATOM[nak] = $2; AK_KW[nak] = $3; next }
$1 == "M" { nmask++; MASK[nmask] = $2; next }
$1 == "T" { nt++; T_ATOM[nt] = $2; next }
END {
	if (failed) exit 1
	if (list_cp) { for (i = 1; i <= nt; i++) print "CP\t" atom_cp(T_ATOM[i]); exit 0 }
	for (i = 1; i <= npu; i++) parse_atom(PU_ATOM[i])
	for (i = 1; i <= nak; i++) parse_atom(AK_ATOM[i])
	for (i = 1; i <= nmask; i++) parse_atom(MASK[i])
	if (depclean) {
		for (i = 1; i <= nt; i++) keep_closure(T_ATOM[i], 0)
		for (c in I_SLOT) if (!(c in KEPT)) print "R|" c
		exit 0
	}
	for (i = 1; i <= nt; i++) ISARG[atom_cp(T_ATOM[i])] = 1
	for (i = 1; i <= nt; i++) visit(T_ATOM[i], "", 0)
}
