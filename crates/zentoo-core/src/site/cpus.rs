//! `cpus.yaml`: the cpu profiles a tuple's first field can name.
//!
//! ```yaml
//! default: znver3            # optional: the cpu of 3-field tuples (else amd64)
//! znver3:
//!   arch: amd64              # required: amd64, arm64, x86, riscv, ppc64
//!   chost: x86_64-pc-linux-gnu   # optional: the arch's usual CHOST
//!   cflags: -O2 -pipe -march=znver3  # optional: -O2 -pipe
//!   cxxflags: ...            # optional: same as cflags
//!   cpu_flags: {X86: "aes avx avx2 sse4_2"}   # optional: CPU_FLAGS_* in make.conf
//! ```
//! `amd64` and `arm64` are built in. Every problem names its line; a bad entry stops only the
//! tuples that use it.

use super::SiteError;
use super::names::name_problem;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;

/// Path of the cpu profiles file in the tracked branch.
pub const CPUS_FILE: &str = "cpus.yaml";
/// The key that names the default cpu.
pub const DEFAULT_KEY: &str = "default";
/// The cpu of 3-field tuples when `cpus.yaml` names none.
pub const DEFAULT_CPU: &str = "amd64";
/// CFLAGS when a profile gives none.
pub const DEFAULT_CFLAGS: &str = "-O2 -pipe";

const KNOWN_KEYS: &[&str] = &["arch", "chost", "cflags", "cxxflags", "cpu_flags"];

/// A Gentoo arch zentoo can build for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    /// Gentoo's name (keywords, profiles): `amd64`, `arm64`, ...
    pub gentoo: &'static str,
    /// OCI / Kubernetes name (`kubernetes.io/arch`): `amd64`, `arm64`, `386`, ...
    pub oci: &'static str,
    /// OCI platform variant, if any.
    pub variant: Option<&'static str>,
    /// The usual CHOST.
    pub chost: &'static str,
}

/// The arches zentoo knows.
pub const ARCHES: &[Arch] = &[
    Arch {
        gentoo: "amd64",
        oci: "amd64",
        variant: None,
        chost: "x86_64-pc-linux-gnu",
    },
    Arch {
        gentoo: "arm64",
        oci: "arm64",
        variant: Some("v8"),
        chost: "aarch64-unknown-linux-gnu",
    },
    Arch {
        gentoo: "x86",
        oci: "386",
        variant: None,
        chost: "i686-pc-linux-gnu",
    },
    Arch {
        gentoo: "riscv",
        oci: "riscv64",
        variant: None,
        chost: "riscv64-unknown-linux-gnu",
    },
    Arch {
        gentoo: "ppc64",
        oci: "ppc64le",
        variant: None,
        chost: "powerpc64le-unknown-linux-gnu",
    },
];

/// The arch named `gentoo`, if zentoo knows it.
pub fn arch(gentoo: &str) -> Option<&'static Arch> {
    ARCHES.iter().find(|a| a.gentoo == gentoo)
}

/// A cpu profile in canonical form: every field explicit, so equal builds compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuProfile {
    /// Gentoo arch.
    pub arch: String,
    /// CHOST.
    pub chost: String,
    /// CFLAGS.
    pub cflags: String,
    /// CXXFLAGS.
    pub cxxflags: String,
    /// `CPU_FLAGS_<KEY>` values, e.g. `X86` -> `aes avx`.
    #[serde(default)]
    pub cpu_flags: BTreeMap<String, String>,
}

impl CpuProfile {
    fn builtin(arch: &Arch) -> Self {
        CpuProfile {
            arch: arch.gentoo.into(),
            chost: arch.chost.into(),
            cflags: DEFAULT_CFLAGS.into(),
            cxxflags: DEFAULT_CFLAGS.into(),
            cpu_flags: BTreeMap::new(),
        }
    }
}

/// The cpus of a site: built-in ones plus those of `cpus.yaml`.
#[derive(Clone, Debug)]
pub struct Cpus {
    /// Usable profiles by name.
    pub profiles: BTreeMap<String, CpuProfile>,
    /// Entries of cpus.yaml that have errors: name to where to look.
    pub broken: BTreeMap<String, String>,
    /// The default cpu, or why it is not known.
    pub default: Result<String, String>,
    /// Set when cpus.yaml could not be read at all: where to look.
    pub unreadable: Option<String>,
}

impl Cpus {
    /// The profile for a tuple's cpu field (`None`: the default cpu), with the cpu's name.
    pub fn lookup(&self, name: Option<&str>) -> Result<(String, &CpuProfile), String> {
        let name = match name {
            Some(name) => name.to_string(),
            None => self.default.clone()?,
        };
        if let Some(profile) = self.profiles.get(&name) {
            return Ok((name, profile));
        }
        if let Some(why) = self.broken.get(&name) {
            return Err(format!("cpu `{name}` cannot be used: {why}"));
        }
        if let Some(why) = &self.unreadable {
            return Err(format!(
                "cpu `{name}` is unknown and {CPUS_FILE} could not be read ({why})"
            ));
        }
        let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
        Err(format!(
            "unknown cpu `{name}`: define it in {CPUS_FILE} (known: {})",
            known.join(", ")
        ))
    }
}

/// Reads cpus.yaml (`None`: the branch has none) into the site's cpus, with its errors.
pub fn parse_cpus(file: Option<(&str, &Result<String, String>)>) -> (Cpus, Vec<SiteError>) {
    let mut cpus = Cpus {
        profiles: ARCHES[..2]
            .iter()
            .map(|a| (a.gentoo.to_string(), CpuProfile::builtin(a)))
            .collect(),
        broken: BTreeMap::new(),
        default: Ok(DEFAULT_CPU.to_string()),
        unreadable: None,
    };
    let Some((path, text)) = file else {
        return (cpus, Vec::new());
    };
    let doc = match text {
        Ok(text) => parse_doc(text),
        Err(why) => Err((None, why.clone())),
    };
    let doc = match doc {
        Ok(doc) => doc,
        Err((line, why)) => {
            let e = SiteError::new(path, line, "cpus", why);
            cpus.unreadable = Some(e.to_string());
            cpus.default = Err(format!("the default cpu is unknown: {e}"));
            return (cpus, vec![e]);
        }
    };

    let mut errors = Vec::new();
    let mut default = None;
    for (key, node) in doc {
        let line = Some(line_of(&key.referenced));
        let name = key.value;
        if name == DEFAULT_KEY {
            match node {
                Node::Scalar(serde_json::Value::String(s)) => default = Some((s, line)),
                _ => errors.push(SiteError::new(
                    path,
                    line,
                    DEFAULT_KEY,
                    "`default` names a cpu: write `default: <cpu>`",
                )),
            }
            continue;
        }
        let entry_errors = match name_problem(&name) {
            Some(p) => vec![SiteError::new(path, line, &name, format!("cpu name {p}"))],
            None => match node {
                Node::Map(fields) => match profile(path, &name, fields) {
                    Ok(p) => {
                        cpus.profiles.insert(name.clone(), p);
                        vec![]
                    }
                    Err(errors) => errors,
                },
                Node::Scalar(_) => vec![SiteError::new(
                    path,
                    line,
                    &name,
                    "a cpu is a mapping: `name: {arch: amd64, cflags: \"...\"}`",
                )],
            },
        };
        if let Some(first) = entry_errors.first() {
            cpus.profiles.remove(&name);
            cpus.broken.insert(name, format!("see {first}"));
        }
        errors.extend(entry_errors);
    }
    if let Some((name, line)) = default {
        if cpus.profiles.contains_key(&name) || cpus.broken.contains_key(&name) {
            cpus.default = Ok(name);
        } else {
            let e = SiteError::new(
                path,
                line,
                DEFAULT_KEY,
                format!("`default` names unknown cpu `{name}`"),
            );
            cpus.default = Err(format!("the default cpu is unknown: {e}"));
            errors.push(e);
        }
    }
    (cpus, errors)
}

fn profile(
    path: &str,
    name: &str,
    fields: Vec<(Spanned<String>, Spanned<serde_json::Value>)>,
) -> Result<CpuProfile, Vec<SiteError>> {
    let mut errors = Vec::new();
    let mut strings: BTreeMap<&str, (String, u32)> = BTreeMap::new();
    let mut cpu_flags = BTreeMap::new();
    let key_line = fields.first().map(|(k, _)| line_of(&k.referenced));
    for (key, value) in &fields {
        let line = line_of(&value.referenced);
        let field = format!("{name}.{}", key.value);
        let mut err = |msg: String| errors.push(SiteError::new(path, Some(line), &field, msg));
        match (key.value.as_str(), &value.value) {
            ("cpu_flags", serde_json::Value::Object(map)) => {
                for (k, v) in map {
                    match v.as_str() {
                        _ if k.is_empty()
                            || !k.chars().all(|c| {
                                c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
                            }) =>
                        {
                            err(format!(
                                "`{k}` is not a CPU_FLAGS_* suffix: use upper case, e.g. X86 or ARM"
                            ))
                        }
                        Some(v)
                            if v.split_whitespace().all(|f| {
                                f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            }) =>
                        {
                            cpu_flags.insert(
                                k.clone(),
                                v.split_whitespace().collect::<Vec<_>>().join(" "),
                            );
                        }
                        Some(v) => err(format!(
                            "`{v}`: CPU_FLAGS_{k} is a list of flags (letters, digits, '_')"
                        )),
                        None => err(format!("CPU_FLAGS_{k} must be a string of flags")),
                    }
                }
            }
            ("cpu_flags", _) => err("cpu_flags is a mapping like `{X86: \"aes avx\"}`".into()),
            (k @ ("arch" | "chost" | "cflags" | "cxxflags"), serde_json::Value::String(s)) => {
                match flag_problem(s) {
                    Some(p) => err(p),
                    None => {
                        strings.insert(k, (s.trim().to_string(), line));
                    }
                }
            }
            (k @ ("arch" | "chost" | "cflags" | "cxxflags"), _) => {
                err(format!("{k} must be a string (quote it)"))
            }
            (k, _) => err(format!(
                "unknown key `{k}` (known: {})",
                KNOWN_KEYS.join(", ")
            )),
        }
    }
    let arch = match strings.get("arch") {
        None => {
            errors.push(SiteError::new(
                path,
                key_line,
                name,
                format!("cpu `{name}` needs an `arch` (one of {})", arch_list()),
            ));
            None
        }
        Some((a, line)) => match arch(a) {
            Some(a) => Some(a),
            None => {
                errors.push(SiteError::new(
                    path,
                    Some(*line),
                    format!("{name}.arch"),
                    format!("unknown arch `{a}` (one of {})", arch_list()),
                ));
                None
            }
        },
    };
    if let Some((chost, line)) = strings.get("chost") {
        let ok = chost.split('-').count() >= 2
            && chost.split('-').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            });
        if !ok {
            errors.push(SiteError::new(
                path,
                Some(*line),
                format!("{name}.chost"),
                format!("`{chost}` is not a CHOST like x86_64-pc-linux-gnu"),
            ));
        }
    }
    match (arch, errors.is_empty()) {
        (Some(arch), true) => {
            let get = |k: &str| strings.get(k).map(|(s, _)| s.clone());
            let cflags = get("cflags").unwrap_or_else(|| DEFAULT_CFLAGS.into());
            Ok(CpuProfile {
                arch: arch.gentoo.into(),
                chost: get("chost").unwrap_or_else(|| arch.chost.into()),
                cxxflags: get("cxxflags").unwrap_or_else(|| cflags.clone()),
                cflags,
                cpu_flags,
            })
        }
        _ => Err(errors),
    }
}

fn line_of(location: &serde_saphyr::Location) -> u32 {
    u32::try_from(location.line()).unwrap_or(u32::MAX)
}

fn arch_list() -> String {
    ARCHES
        .iter()
        .map(|a| a.gentoo)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Flags go into make.conf, which bash sources: refuse what could break out of the quotes.
fn flag_problem(s: &str) -> Option<String> {
    let bad: Vec<char> = s
        .chars()
        .filter(|c| "\"'`$\\;\n\r".contains(*c) || c.is_control())
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "`{}` holds {:?}, which make.conf cannot carry safely",
            s.escape_debug(),
            bad
        )
    })
}

/// A top-level value of cpus.yaml.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<serde_json::Value>)>),
    Scalar(serde_json::Value),
}

/// cpus.yaml as ordered (key, value) pairs with their locations.
struct Doc(Vec<(Spanned<String>, Node)>);

/// A problem with the line it is on, when known.
type Located = (Option<u32>, String);

/// Events aliases in cpus.yaml may replay in all: a hundred profiles of a few fields each.
const MAX_ALIAS_EVENTS: usize = 10_000;

fn parse_doc(text: &str) -> Result<Vec<(Spanned<String>, Node)>, Located> {
    let mut options = serde_saphyr::options::Options::default();
    options.with_snippet = false;
    // A cpus.yaml is a few profiles: aliases may be used, not blown up. The defaults (a
    // million replayed events) let an alias bomb take seconds before it is refused.
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    match serde_saphyr::from_str_with_options::<Option<Doc>>(text, options) {
        Ok(doc) => Ok(doc.map(|d| d.0).unwrap_or_default()),
        Err(e) => {
            let line = e.location().map(|l| line_of(&l));
            let message = e.to_string();
            let message = message.lines().next().unwrap_or("invalid YAML").to_string();
            Err((line, message))
        }
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of cpu names to profiles")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Node>()?));
                }
                Ok(Doc(entries))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a cpu profile mapping or a value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Spanned<serde_json::Value>>()?));
                }
                Ok(Node::Map(entries))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Scalar(v.into()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Scalar(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Scalar(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Scalar(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Scalar(v.into()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar(serde_json::Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar(serde_json::Value::Null))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Node::Scalar(serde_json::Value::Array(vec![])))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Cpus, Vec<SiteError>) {
        parse_cpus(Some((CPUS_FILE, &Ok(text.to_string()))))
    }

    #[test]
    fn builtins_exist_without_a_file() {
        let (cpus, errors) = parse_cpus(None);
        assert!(errors.is_empty());
        let (name, amd64) = cpus.lookup(None).unwrap();
        assert_eq!(name, "amd64");
        assert_eq!(amd64.chost, "x86_64-pc-linux-gnu");
        assert_eq!(
            cpus.lookup(Some("arm64")).unwrap().1.chost,
            "aarch64-unknown-linux-gnu"
        );
    }

    #[test]
    fn profiles_are_canonical() {
        let (cpus, errors) = parse(
            "default: znver3\nznver3:\n  arch: amd64\n  cflags: -O2 -pipe -march=znver3\n  cpu_flags: {X86: \"aes  avx\"}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let (name, p) = cpus.lookup(None).unwrap();
        assert_eq!(name, "znver3");
        assert_eq!(p.cxxflags, "-O2 -pipe -march=znver3");
        assert_eq!(p.chost, "x86_64-pc-linux-gnu");
        assert_eq!(p.cpu_flags["X86"], "aes avx");
    }

    #[test]
    fn aliases_are_followed_and_an_alias_bomb_is_refused() {
        let (cpus, errors) =
            parse("base: &base {arch: amd64, cflags: -O2 -pipe}\nzen: *base\nalso: *base\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cpus.lookup(Some("also")).unwrap().1.cflags, "-O2 -pipe");
        // Ten levels of ten: 10^9 scalars if expanded.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in "abcdefghi".chars().zip("bcdefghij".chars()) {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let (cpus, errors) = parse(&bomb);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, CPUS_FILE);
        assert!(cpus.unreadable.is_some());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_lines() {
        let (cpus, errors) = parse(
            "good:\n  arch: arm64\nbad:\n  arch: amd64\n  cflag: -O3\n  chost: 12\nworse:\n  arch: sparc\n",
        );
        let at: Vec<(Option<u32>, &str)> =
            errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            at,
            [
                (Some(5), "bad.cflag"),
                (Some(6), "bad.chost"),
                (Some(8), "worse.arch")
            ]
        );
        assert!(errors[0].message.contains("unknown key `cflag`"));
        assert!(cpus.lookup(Some("good")).is_ok());
        let why = cpus.lookup(Some("bad")).unwrap_err();
        assert!(why.contains("cpus.yaml:5"), "{why}");
    }

    #[test]
    fn missing_arch_and_shell_characters_are_refused() {
        let (_, errors) =
            parse("a:\n  cflags: -O2\nb:\n  arch: amd64\n  cflags: \"-O2 $(rm -rf /)\"\n");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].message.contains("needs an `arch`"));
        assert_eq!(errors[1].line, Some(5));
    }

    #[test]
    fn syntax_errors_make_the_default_unknown() {
        let (cpus, errors) = parse("a:\n  arch: [amd64\n");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].line.is_some(), "{errors:?}");
        assert!(cpus.lookup(None).is_err());
        assert!(cpus.lookup(Some("arm64")).is_ok(), "built-ins still work");
        assert!(
            cpus.lookup(Some("a"))
                .unwrap_err()
                .contains("could not be read")
        );
    }

    #[test]
    fn default_must_name_a_cpu() {
        let (cpus, errors) = parse("default: nosuch\n");
        assert_eq!(errors[0].field, "default");
        assert!(cpus.lookup(None).unwrap_err().contains("nosuch"));
        let (_, errors) = parse("default: [a]\n");
        assert_eq!(errors[0].field, "default");
    }

    #[test]
    fn empty_and_non_mapping_files() {
        assert!(parse("").1.is_empty());
        assert!(parse("# nothing\n").1.is_empty());
        assert_eq!(parse("- a\n- b\n").1.len(), 1);
        assert!(parse("x: 3\n").1[0].message.contains("mapping"));
    }
}
