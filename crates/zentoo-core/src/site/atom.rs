//! Portage package atoms (PMS §8.3): enough of the grammar to catch typos in set files before
//! a build spends an hour finding them.

/// Why `atom` is not a Portage atom usable in a set, or `None` when it is.
pub fn atom_problem(atom: &str) -> Option<String> {
    check(atom).err()
}

fn check(atom: &str) -> Result<(), String> {
    if atom.starts_with('!') {
        return Err("blockers (`!atom`) have no meaning in a package set".into());
    }
    let op = [">=", "<=", "<", ">", "=", "~"]
        .into_iter()
        .find(|op| atom.starts_with(op));
    let rest = &atom[op.map_or(0, str::len)..];
    if let (Some(op), "") = (op, rest) {
        return Err(format!("`{op}` is an operator with no package after it"));
    }

    let (rest, use_deps) = match rest.find('[') {
        Some(i) => {
            let deps = rest[i + 1..]
                .strip_suffix(']')
                .ok_or("a USE dependency `[` has no closing `]` at the end of the atom")?;
            (&rest[..i], Some(deps))
        }
        None if rest.contains(']') => return Err("`]` without `[`".into()),
        None => (rest, None),
    };
    let (rest, repo) = match rest.find("::") {
        Some(i) => (&rest[..i], Some(&rest[i + 2..])),
        None => (rest, None),
    };
    let (cpv, slot) = match rest.find(':') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };

    let (category, pf) = cpv
        .split_once('/')
        .ok_or_else(|| format!("`{cpv}` is not `category/package`"))?;
    if pf.contains('/') {
        return Err(format!("`{cpv}` has more than one '/'"));
    }
    check_category(category)?;
    match op {
        Some(op) => {
            let pf = if op == "=" {
                pf.strip_suffix('*').unwrap_or(pf)
            } else {
                pf
            };
            let (pn, _version) = split_version(pf).ok_or_else(|| {
                format!("`{op}` needs a version: `{op}{category}/{pf}-1.0` is the form")
            })?;
            check_package(pn)?;
        }
        None => {
            if split_version(pf).is_some() {
                return Err(format!(
                    "`{cpv}` ends in a version but has no operator: write `={cpv}` or drop the version"
                ));
            }
            check_package(pf)?;
        }
    }
    if let Some(slot) = slot {
        check_slot(slot)?;
    }
    if let Some(repo) = repo
        && !valid_name(repo, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("`{repo}` is not a repository name"));
    }
    if let Some(deps) = use_deps {
        for dep in deps.split(',') {
            check_use_dep(dep)?;
        }
    }
    Ok(())
}

fn valid_name(s: &str, rest: impl Fn(char) -> bool) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => chars.all(rest),
        _ => false,
    }
}

fn check_category(c: &str) -> Result<(), String> {
    if valid_name(c, |c| c.is_ascii_alphanumeric() || "+_.-".contains(c)) {
        Ok(())
    } else {
        Err(format!("`{c}` is not a category name"))
    }
}

fn check_package(p: &str) -> Result<(), String> {
    if valid_name(p, |c| c.is_ascii_alphanumeric() || "+_-".contains(c)) && !p.ends_with('-') {
        Ok(())
    } else {
        Err(format!("`{p}` is not a package name"))
    }
}

fn check_slot(slot: &str) -> Result<(), String> {
    let s = slot.strip_suffix('=').unwrap_or(slot);
    if s.is_empty() || s == "*" {
        return Ok(());
    }
    let ok = s.split('/').count() <= 2
        && s.split('/')
            .all(|p| valid_name(p, |c| c.is_ascii_alphanumeric() || "+_.-".contains(c)));
    if ok {
        Ok(())
    } else {
        Err(format!("`:{slot}` is not a slot dependency"))
    }
}

fn check_use_dep(dep: &str) -> Result<(), String> {
    let d = dep.strip_prefix('!').unwrap_or(dep);
    let d = d.strip_prefix('-').unwrap_or(d);
    let d = d.strip_suffix(['=', '?']).unwrap_or(d);
    let d = d
        .strip_suffix("(+)")
        .or_else(|| d.strip_suffix("(-)"))
        .unwrap_or(d);
    let mut chars = d.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+_@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("`{dep}` is not a USE dependency"))
    }
}

/// Splits `pkg-1.2.3_rc1-r2` into (`pkg`, `1.2.3_rc1-r2`) when it ends in a valid version.
fn split_version(pf: &str) -> Option<(&str, &str)> {
    let mut candidates = pf.rmatch_indices('-').map(|(i, _)| i);
    let last = candidates.next()?;
    if is_revision(&pf[last + 1..]) {
        let before = candidates.next()?;
        let version = &pf[before + 1..last];
        return is_version(version).then(|| (&pf[..before], &pf[before + 1..]));
    }
    is_version(&pf[last + 1..]).then(|| (&pf[..last], &pf[last + 1..]))
}

fn is_revision(s: &str) -> bool {
    s.strip_prefix('r')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// PMS version without the revision: `1.2.3a_beta4_p1`.
fn is_version(s: &str) -> bool {
    let mut rest = s;
    loop {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    if rest.starts_with(|c: char| c.is_ascii_lowercase()) {
        rest = &rest[1..];
    }
    while let Some(r) = rest.strip_prefix('_') {
        let suffix = ["alpha", "beta", "pre", "rc", "p"]
            .into_iter()
            .find(|s| r.starts_with(s));
        let Some(suffix) = suffix else { return false };
        let r = &r[suffix.len()..];
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        rest = &r[digits..];
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_atoms_people_write() {
        for a in [
            "app-editors/nano",
            "dev-lang/python:3.12",
            ">=sys-libs/glibc-2.39-r1",
            "=dev-qt/qtbase-6.7*",
            "~app-misc/hello-2.12.1",
            "<dev-libs/openssl-3.2.0_beta1_p2",
            "dev-libs/foo:0/2.1=",
            "dev-libs/foo:=",
            "x11-libs/gtk+:3[wayland,-X,introspection(+)?,!doc=]",
            "sci-physics/root::hep-overlay",
            "dev-util/cmake:*::gentoo[ncurses]",
            "media-libs/libsdl2",
            "dev-perl/Locale-gettext",
        ] {
            assert_eq!(atom_problem(a), None, "{a}");
        }
    }

    #[test]
    fn rejects_typos_with_a_reason() {
        for (a, why) in [
            ("nano", "category/package"),
            ("app-editors/nano/x", "more than one"),
            (">=app-misc/hello", "needs a version"),
            ("app-misc/hello-2.12", "has no operator"),
            ("!app-misc/hello", "blockers"),
            ("app-misc/hello[foo", "closing"),
            ("app-misc/hello]", "without"),
            ("app-misc/hel$lo", "package name"),
            ("-cat/pkg", "category"),
            ("cat/pkg:a/b/c", "slot"),
            ("cat/pkg[fo o]", "USE dependency"),
            ("cat/pkg::re po", "repository"),
        ] {
            let p = atom_problem(a).unwrap_or_else(|| panic!("{a} accepted"));
            assert!(p.contains(why), "{a}: {p}");
        }
    }

    #[test]
    fn versions_follow_pms() {
        for v in [
            "1",
            "1.2.3",
            "1.2a",
            "2_rc1",
            "1.0_alpha_p3",
            "0.1_pre20260101",
        ] {
            assert!(is_version(v), "{v}");
        }
        for v in ["", "a", "1.", ".1", "1_foo", "1ab", "1-2"] {
            assert!(!is_version(v), "{v}");
        }
        assert_eq!(split_version("foo-bar-1.0-r3"), Some(("foo-bar", "1.0-r3")));
        assert_eq!(split_version("foo-r3"), None);
    }
}
