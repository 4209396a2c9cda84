//! One GLSA document (`metadata/glsa/glsa-YYYYMM-NN.xml`, DTD `glsa.dtd`) read into an
//! [`Advisory`], accepting and rejecting what `portage.glsa.Glsa.parse` accepts and rejects.

use std::fmt;

use roxmltree::{Document, Node, ParsingOptions};
use serde::Serialize;

use super::text::{elements_named, first_named, formatted_text, has_cdata, link_text, strip_text};
use super::version::{Version, is_category_name, is_package_name, is_slot_name};

/// The DTDs glsa.py accepts in the `DOCTYPE`'s system id.
const DTDS: [&str; 2] = [
    "http://www.gentoo.org/dtd/glsa.dtd",
    "http://www.gentoo.org/dtd/glsa-2.dtd",
];

/// One security advisory.
#[derive(Clone, Debug, Serialize)]
pub struct Advisory {
    /// The `id` of `<glsa>`: `202401-01`.
    pub id: String,
    /// `<title>`.
    pub title: String,
    /// `<synopsis>`.
    pub synopsis: String,
    /// `<product>`'s text (often the package's name).
    pub product: String,
    /// `<product type>`: `ebuild`, `informational` or `infrastructure`.
    pub product_type: String,
    /// `<announced>`, as written (`2024-01-05`).
    pub announced: String,
    /// `<revised>`, as written.
    pub revised: String,
    /// `<revised count>`.
    pub revision_count: i64,
    /// `<bug>` numbers.
    pub bugs: Vec<String>,
    /// `<access>` (`local`, `remote`), empty when absent.
    pub access: String,
    /// `<impact type>`.
    pub severity: Severity,
    /// `<affected>`'s packages, in document order.
    pub packages: Vec<AffectedPackage>,
    /// `<background>` as plain text, empty when absent.
    pub background: String,
    /// `<description>` as plain text.
    pub description: String,
    /// `<impact>` as plain text.
    pub impact: String,
    /// `<workaround>` as plain text.
    pub workaround: String,
    /// `<resolution>` as plain text.
    pub resolution: String,
    /// `<references>`' links.
    pub references: Vec<Reference>,
}

/// How bad an advisory is: `<impact type>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Severity {
    /// `minimal`.
    Minimal,
    /// `low`.
    Low,
    /// `normal`.
    Normal,
    /// `high`.
    High,
    /// Anything else, as written (glsa.py does not check it).
    Other(String),
}

impl Severity {
    fn from_attr(value: &str) -> Severity {
        match value {
            "minimal" => Severity::Minimal,
            "low" => Severity::Low,
            "normal" => Severity::Normal,
            "high" => Severity::High,
            other => Severity::Other(other.to_owned()),
        }
    }

    /// The word in the document: `high`.
    pub fn as_str(&self) -> &str {
        match self {
            Severity::Minimal => "minimal",
            Severity::Low => "low",
            Severity::Normal => "normal",
            Severity::High => "high",
            Severity::Other(other) => other,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One `<uri>` of `<references>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The text: usually a CVE id.
    pub text: String,
    /// The `link` attribute, empty when absent.
    pub link: String,
}

/// One `<package>` of `<affected>`: a package's vulnerable and unaffected versions on some
/// architectures.
#[derive(Clone, Debug, Serialize)]
pub struct AffectedPackage {
    /// `category/package`.
    pub name: String,
    /// The `arch` attribute as written: `*` or a space-separated list of keywords.
    pub arch: String,
    /// `auto="yes"`: glsa-check may fix it by itself (it does not change `-t`'s answer).
    pub auto: bool,
    /// `<vulnerable>` ranges.
    pub vulnerable: Vec<VersionRange>,
    /// `<unaffected>` ranges: the versions that fix it.
    pub unaffected: Vec<VersionRange>,
}

impl AffectedPackage {
    /// The category (`dev-libs` of `dev-libs/openssl`).
    pub fn category(&self) -> &str {
        self.name.split_once('/').map_or("", |(c, _)| c)
    }

    /// The package name without category (`openssl`).
    pub fn package(&self) -> &str {
        self.name.split_once('/').map_or("", |(_, p)| p)
    }

    /// Whether this entry covers systems of architecture keyword `arch` (`amd64`): `arch="*"`
    /// covers all, otherwise the keyword must be in the list.
    pub fn applies_to_arch(&self, arch: &str) -> bool {
        self.arch == "*" || self.arch.split_whitespace().any(|a| a == arch)
    }
}

/// The `range` attribute of `<vulnerable>` and `<unaffected>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeOp {
    /// `lt`: `<`.
    Lt,
    /// `le`: `<=`.
    Le,
    /// `eq`: `=`, or a prefix match (`=1.2*`) when the version ends in `*`.
    Eq,
    /// `gt`: `>`.
    Gt,
    /// `ge`: `>=`.
    Ge,
    /// `rlt`: same version without revision, lower revision.
    Rlt,
    /// `rle`: same version without revision, revision lower or equal.
    Rle,
    /// `rgt`: same version without revision, higher revision.
    Rgt,
    /// `rge`: same version without revision, revision higher or equal.
    Rge,
}

impl RangeOp {
    const ALL: [RangeOp; 9] = [
        RangeOp::Lt,
        RangeOp::Le,
        RangeOp::Eq,
        RangeOp::Gt,
        RangeOp::Ge,
        RangeOp::Rlt,
        RangeOp::Rle,
        RangeOp::Rgt,
        RangeOp::Rge,
    ];

    /// The attribute value: `ge`.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::Lt => "lt",
            RangeOp::Le => "le",
            RangeOp::Eq => "eq",
            RangeOp::Gt => "gt",
            RangeOp::Ge => "ge",
            RangeOp::Rlt => "rlt",
            RangeOp::Rle => "rle",
            RangeOp::Rgt => "rgt",
            RangeOp::Rge => "rge",
        }
    }

    /// glsa.py's operator for it (without its padding space): `>=`, `>=~`, `<~`.
    pub fn symbol(self) -> &'static str {
        match self {
            RangeOp::Lt => "<",
            RangeOp::Le => "<=",
            RangeOp::Eq => "=",
            RangeOp::Gt => ">",
            RangeOp::Ge => ">=",
            RangeOp::Rlt => "<~",
            RangeOp::Rle => "<=~",
            RangeOp::Rgt => ">~",
            RangeOp::Rge => ">=~",
        }
    }

    /// Whether it compares only revisions within one version (`r*`).
    pub fn is_revision(self) -> bool {
        matches!(
            self,
            RangeOp::Rlt | RangeOp::Rle | RangeOp::Rgt | RangeOp::Rge
        )
    }

    fn from_attr(value: &str) -> Option<RangeOp> {
        RangeOp::ALL.into_iter().find(|op| op.as_str() == value)
    }
}

/// One `<vulnerable>` or `<unaffected>`: a range of versions, perhaps in one slot.
#[derive(Clone, Debug, Serialize)]
pub struct VersionRange {
    range: RangeOp,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    slot: Option<String>,
    /// The version, without a trailing `*`.
    #[serde(skip)]
    pub(crate) pattern: Version,
    /// `eq` with a trailing `*`: a prefix match.
    #[serde(skip)]
    pub(crate) glob: bool,
    #[serde(skip)]
    pub(crate) slot_dep: SlotDep,
}

impl VersionRange {
    /// The comparison.
    pub fn range(&self) -> RangeOp {
        self.range
    }

    /// The version as written in the document (`1.2.3`, `1.2*`, `1.0-r2`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The `slot` attribute, if it restricts anything (not absent, empty or `*`).
    pub fn slot(&self) -> Option<&str> {
        self.slot.as_deref()
    }
}

/// Portage's spelling: `>=1.2.3:1.2`, `=1.2*`, `>=~1.0-r2`.
impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.range.symbol(), self.version)?;
        match &self.slot {
            Some(slot) => write!(f, ":{slot}"),
            None => Ok(()),
        }
    }
}

/// What a `slot` attribute asks of an installed package, as a Portage atom's slot part:
/// `1`, `1/2` (sub-slot too), `1=`; `=` alone restricts nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SlotDep {
    pub(crate) slot: Option<String>,
    pub(crate) sub_slot: Option<String>,
}

impl SlotDep {
    /// Reads the part after `:` the way `Atom` does (`_get_slot_dep_re`).
    fn parse(text: &str) -> Option<SlotDep> {
        let (names, operator) = match text.strip_suffix(['=', '*']) {
            Some(names) => (names, text.chars().last()),
            None => (text, None),
        };
        if names.is_empty() {
            // `:=` restricts nothing; `:*` never gets here (glsa.py drops it).
            return (operator == Some('=')).then(SlotDep::default);
        }
        if operator == Some('*') {
            return None;
        }
        let (slot, sub_slot) = match names.split_once('/') {
            Some((slot, sub)) => (slot, Some(sub)),
            None => (names, None),
        };
        let valid = is_slot_name(slot) && sub_slot.is_none_or(is_slot_name);
        valid.then(|| SlotDep {
            slot: Some(slot.to_owned()),
            sub_slot: sub_slot.map(str::to_owned),
        })
    }
}

/// Why a document is not an advisory glsa-check would test: the file and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ParseError {
    /// The file name given to [`Advisory::parse`].
    pub file: String,
    /// What is wrong, naming the element or attribute.
    pub message: String,
}

impl Advisory {
    /// Reads one GLSA document. `file` names it in errors; when it is
    /// `…/glsa-YYYYMM-NN.xml`, the `<glsa id>` must be `YYYYMM-NN`, as glsa-check requires.
    ///
    /// Errors are the documents glsa-check skips as invalid or fails on: no glsa DOCTYPE, a
    /// missing required element or attribute, an unknown `range`, a package name that is not
    /// `category/package`, a malformed `arch` list, a version or slot that makes no Portage atom.
    pub fn parse(file: &str, xml: &str) -> Result<Advisory, ParseError> {
        read_document(file, xml).map_err(|message| ParseError {
            file: file.to_owned(),
            message,
        })
    }
}

fn read_document(file: &str, xml: &str) -> Result<Advisory, String> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options)
        .map_err(|e| format!("not well-formed XML: {e}"))?;
    check_doctype(&xml[..doc.root_element().range().start])?;
    let root = doc
        .descendants()
        .find(|n| n.has_tag_name("glsa"))
        .ok_or("no <glsa> element")?;
    let id = read_id(file, root)?;
    let text = |name| first_named(root, name).and_then(strip_text);
    let formatted = |name| first_named(root, name).and_then(formatted_text);
    let (revised, revision_count) = read_revised(root)?;
    let product = first_named(root, "product")?;
    let impact = first_named(root, "impact")?;
    Ok(Advisory {
        id,
        title: text("title")?,
        synopsis: text("synopsis")?,
        product: strip_text(product)?,
        product_type: product.attribute("type").unwrap_or("").to_owned(),
        announced: text("announced")?,
        revised,
        revision_count,
        bugs: elements_named(root, "bug")
            .map(strip_text)
            .collect::<Result<_, _>>()?,
        access: optional(root, "access", strip_text)?,
        severity: Severity::from_attr(impact.attribute("type").unwrap_or("")),
        packages: read_packages(first_named(root, "affected")?)?,
        background: optional(root, "background", formatted_text)?,
        description: formatted("description")?,
        impact: formatted_text(impact)?,
        workaround: formatted("workaround")?,
        resolution: formatted("resolution")?,
        references: read_references(first_named(root, "references")?)?,
    })
}

/// The first `name` below `root` read with `read`, or empty when there is none.
fn optional(
    root: Node,
    name: &'static str,
    read: fn(Node) -> Result<String, String>,
) -> Result<String, String> {
    elements_named(root, name)
        .next()
        .map_or(Ok(String::new()), read)
}

/// glsa.py wants a `DOCTYPE` whose system id is one of the two GLSA DTDs.
fn check_doctype(prolog: &str) -> Result<(), String> {
    let wanted = format!("<!DOCTYPE glsa SYSTEM \"{}\">", DTDS[0]);
    match doctype_system_id(prolog) {
        None => Err(format!("no DOCTYPE: glsa-check wants {wanted}")),
        Some(Some(id)) if DTDS.contains(&id) => Ok(()),
        Some(id) => Err(format!(
            "DOCTYPE's system id is {}, not glsa.dtd: glsa-check wants {wanted}",
            id.map_or("missing".to_owned(), |id| format!("\"{id}\""))
        )),
    }
}

/// The `DOCTYPE` in the text before the root element: `None` without one, `Some(None)` for one
/// with no external id, else its system id.
fn doctype_system_id(prolog: &str) -> Option<Option<&str>> {
    let mut rest = prolog.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("<?") {
            rest = after.split_once("?>")?.1;
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->")?.1;
        } else {
            return rest.strip_prefix("<!DOCTYPE").map(external_system_id);
        }
    }
}

/// The system id of `NAME SYSTEM "sys"` or `NAME PUBLIC "pub" "sys"`.
fn external_system_id(decl: &str) -> Option<&str> {
    let decl = decl.trim_start();
    let after_name = decl.trim_start_matches(|c: char| !c.is_whitespace() && c != '[' && c != '>');
    let after_name = after_name.trim_start();
    let literals = if let Some(rest) = after_name.strip_prefix("SYSTEM") {
        rest
    } else {
        let (_public, rest) = quoted(after_name.strip_prefix("PUBLIC")?)?;
        rest
    };
    quoted(literals).map(|(literal, _)| literal)
}

/// A quoted literal at the start of `text` (after whitespace), and what follows it.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let quote = text.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    text[1..].split_once(quote)
}

/// The `<glsa id>`, which must match a `glsa-YYYYMM-NN.xml` file name.
fn read_id(file: &str, root: Node) -> Result<String, String> {
    let id = root.attribute("id").unwrap_or("");
    let base = file.rsplit('/').next().unwrap_or(file);
    let named = base
        .strip_prefix("glsa-")
        .and_then(|b| b.strip_suffix(".xml"))
        .filter(|named| looks_like_id(named));
    match named {
        Some(named) if named != id => Err(format!(
            "<glsa id=\"{id}\"> does not match the file name's {named}"
        )),
        _ if id.is_empty() => Err("<glsa> has no id attribute".to_owned()),
        _ => Ok(id.to_owned()),
    }
}

/// glsa.py's `re.match(r"\d{6}-\d{2}", id)`: the id starts with `YYYYMM-NN`.
fn looks_like_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() >= 9
        && b[..6].iter().all(u8::is_ascii_digit)
        && b[6] == b'-'
        && b[7..9].iter().all(u8::is_ascii_digit)
}

/// `<revised count="N">date</revised>`: the count must be an integer.
fn read_revised(root: Node) -> Result<(String, i64), String> {
    let revised = first_named(root, "revised")?;
    let count = revised.attribute("count").unwrap_or("");
    if count.is_empty() {
        return Err("<revised> has no count attribute".to_owned());
    }
    let number = count.trim();
    let digits = number.strip_prefix(['+', '-']).unwrap_or(number);
    let parsed = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| number.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| format!("<revised count=\"{count}\"> is not an integer"))?;
    Ok((strip_text(revised)?, parsed))
}

fn read_references(references: Node) -> Result<Vec<Reference>, String> {
    elements_named(references, "uri")
        .map(|uri| {
            Ok(Reference {
                text: link_text(uri)?.trim().to_owned(),
                link: uri.attribute("link").unwrap_or("").to_owned(),
            })
        })
        .collect()
}

fn read_packages(affected: Node) -> Result<Vec<AffectedPackage>, String> {
    elements_named(affected, "package")
        .map(read_package)
        .collect()
}

fn read_package(package: Node) -> Result<AffectedPackage, String> {
    let name = package.attribute("name").unwrap_or("");
    let valid_name = name
        .split_once('/')
        .is_some_and(|(c, p)| is_category_name(c) && is_package_name(p));
    if !valid_name {
        return Err(format!(
            "<package name=\"{name}\"> is not a category/package name"
        ));
    }
    let arch = package.attribute("arch").unwrap_or("");
    if !is_arch_list(arch) {
        return Err(format!(
            "<package name=\"{name}\" arch=\"{arch}\">: arch is neither \"*\" nor a space-separated list of keywords"
        ));
    }
    let ranges = |element| {
        elements_named(package, element)
            .map(|node| read_range(name, element, node))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(AffectedPackage {
        name: name.to_owned(),
        arch: arch.to_owned(),
        auto: package.attribute("auto") == Some("yes"),
        vulnerable: ranges("vulnerable")?,
        unaffected: ranges("unaffected")?,
    })
}

/// glsa.py's `ARCH_REGEX`, `^\*$|^[-_a-z0-9 ]+$` (where `$` also matches before a final
/// newline).
fn is_arch_list(arch: &str) -> bool {
    let arch = arch.strip_suffix('\n').unwrap_or(arch);
    arch == "*"
        || (!arch.is_empty()
            && arch
                .bytes()
                .all(|b| matches!(b, b'-' | b'_' | b'a'..=b'z' | b'0'..=b'9' | b' ')))
}

/// A `<vulnerable>` or `<unaffected>` of package `name`.
fn read_range(name: &str, element: &str, node: Node) -> Result<VersionRange, String> {
    let at = |what: String| format!("<{element}> of {name}: {what}");
    let range = node
        .attribute("range")
        .ok_or_else(|| format!("<{element}> of {name} has no range attribute"))?;
    let op = RangeOp::from_attr(range).ok_or_else(|| {
        let known: Vec<_> = RangeOp::ALL.iter().map(|op| op.as_str()).collect();
        at(format!(
            "range=\"{range}\" is not one of {}",
            known.join(" ")
        ))
    })?;
    if has_cdata(node, true) {
        return Err(at(
            "a CDATA section, which glsa.py reads as no text".to_owned()
        ));
    }
    let version = strip_text(node).map_err(at)?;
    let glob = op == RangeOp::Eq && version.ends_with('*');
    let exact = if glob {
        &version[..version.len() - 1]
    } else {
        &version
    };
    let pattern = Version::parse(exact).map_err(at)?;
    let slot = node.attribute("slot").unwrap_or("").trim();
    let slot = (!slot.is_empty() && slot != "*").then(|| slot.to_owned());
    let slot_dep = match &slot {
        Some(slot) => {
            SlotDep::parse(slot).ok_or_else(|| at(format!("slot=\"{slot}\" is not a slot")))?
        }
        None => SlotDep::default(),
    };
    Ok(VersionRange {
        range: op,
        version,
        slot,
        pattern,
        glob,
        slot_dep,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A DTD-conformant advisory: two packages, slotted ranges, an arch list, every element.
    pub(crate) const FULL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet href="/xsl/glsa.xsl" type="text/xsl"?>
<?xml-stylesheet href="/xsl/guide.xsl" type="text/xsl"?>
<!DOCTYPE glsa SYSTEM "http://www.gentoo.org/dtd/glsa.dtd">
<glsa id="202401-07">
    <title>Python, PyPy3: Multiple Vulnerabilities</title>
    <synopsis>Multiple vulnerabilities have been discovered in Python and PyPy3,
        the worst of which can lead to remote code execution.</synopsis>
    <product type="ebuild">python,pypy3</product>
    <announced>2024-01-12</announced>
    <revised count="2">2024-01-14</revised>
    <bug>884653</bug>
    <bug>901031</bug>
    <access>remote</access>
    <affected>
        <package name="dev-lang/python" auto="yes" arch="*">
            <unaffected range="ge" slot="3.11">3.11.4</unaffected>
            <unaffected range="ge" slot="3.10">3.10.12</unaffected>
            <vulnerable range="lt" slot="3.11">3.11.4</vulnerable>
            <vulnerable range="lt" slot="3.10">3.10.12</vulnerable>
        </package>
        <package name="dev-python/pypy3" auto="no" arch="amd64 arm64 x86">
            <unaffected range="ge">7.3.12</unaffected>
            <vulnerable range="lt">7.3.12</vulnerable>
        </package>
    </affected>
    <background>
        <p>Python is an interpreted, interactive, object-oriented language.</p>
    </background>
    <description>
        <p>Several vulnerabilities have been found. Please review the CVE identifiers
            referenced below for details.</p>
    </description>
    <impact type="high">
        <p>Please review the referenced CVE identifiers for details.</p>
    </impact>
    <workaround>
        <p>There is no known workaround at this time.</p>
    </workaround>
    <resolution>
        <p>All Python 3.11 users should upgrade to the latest version:</p>
        <code>
          # emerge --sync
          # emerge --ask --oneshot --verbose "&gt;=dev-lang/python-3.11.4:3.11"
        </code>
    </resolution>
    <references>
        <uri link="https://nvd.nist.gov/vuln/detail/CVE-2023-24329">CVE-2023-24329</uri>
        <uri link="https://nvd.nist.gov/vuln/detail/CVE-2023-40217">CVE-2023-40217</uri>
    </references>
    <metadata tag="requester" timestamp="2024-01-12T10:00:00Z">graaff</metadata>
</glsa>
"#;

    const FILE: &str = "metadata/glsa/glsa-202401-07.xml";

    fn parse(xml: &str) -> Result<Advisory, ParseError> {
        Advisory::parse(FILE, xml)
    }

    /// `FULL` with each `from` replaced by `to` (there must be one).
    fn edited(from: &str, to: &str) -> String {
        assert!(FULL.contains(from), "{from}");
        FULL.replace(from, to)
    }

    #[test]
    fn reads_every_field_of_a_full_advisory() {
        let a = parse(FULL).unwrap();
        assert_eq!(a.id, "202401-07");
        assert_eq!(a.title, "Python, PyPy3: Multiple Vulnerabilities");
        assert_eq!(
            a.synopsis,
            "Multiple vulnerabilities have been discovered in Python and PyPy3, \
             the worst of which can lead to remote code execution."
        );
        assert_eq!(
            (a.product.as_str(), a.product_type.as_str()),
            ("python,pypy3", "ebuild")
        );
        assert_eq!(
            (a.announced.as_str(), a.revised.as_str()),
            ("2024-01-12", "2024-01-14")
        );
        assert_eq!(a.revision_count, 2);
        assert_eq!(a.bugs, ["884653", "901031"]);
        assert_eq!(a.access, "remote");
        assert_eq!(a.severity, Severity::High);
        assert!(a.background.starts_with("Python is an interpreted"));
        assert!(a.description.contains("CVE identifiers referenced below"));
        assert_eq!(a.workaround, "There is no known workaround at this time.");
        assert!(
            a.resolution
                .starts_with("All Python 3.11 users should upgrade")
        );
        assert!(
            a.resolution.contains(
                "\"&gt;=dev-lang/python-3.11.4:3.11\""
                    .replace("&gt;", ">")
                    .as_str()
            )
        );
        assert_eq!(a.references.len(), 2);
        assert_eq!(a.references[1].text, "CVE-2023-40217");
        assert_eq!(
            a.references[1].link,
            "https://nvd.nist.gov/vuln/detail/CVE-2023-40217"
        );

        let [python, pypy] = &a.packages[..] else {
            panic!("two packages: {:?}", a.packages);
        };
        assert_eq!(
            (python.category(), python.package()),
            ("dev-lang", "python")
        );
        assert_eq!((python.arch.as_str(), python.auto), ("*", true));
        let spell =
            |ranges: &[VersionRange]| ranges.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(spell(&python.vulnerable), ["<3.11.4:3.11", "<3.10.12:3.10"]);
        assert_eq!(
            spell(&python.unaffected),
            [">=3.11.4:3.11", ">=3.10.12:3.10"]
        );
        assert_eq!(python.vulnerable[1].slot(), Some("3.10"));
        assert_eq!(python.vulnerable[1].range(), RangeOp::Lt);
        assert_eq!(python.vulnerable[1].version(), "3.10.12");
        assert_eq!(pypy.name, "dev-python/pypy3");
        assert_eq!((pypy.arch.as_str(), pypy.auto), ("amd64 arm64 x86", false));
        assert_eq!(spell(&pypy.vulnerable), ["<7.3.12"]);
        assert_eq!(pypy.vulnerable[0].slot(), None);
    }

    #[test]
    fn serializes_to_json_for_the_cli() {
        let json = serde_json::to_value(parse(FULL).unwrap()).unwrap();
        assert_eq!(json["severity"], "high");
        assert_eq!(
            json["packages"][0]["vulnerable"][0],
            serde_json::json!({"range": "lt", "version": "3.11.4", "slot": "3.11"})
        );
        assert_eq!(
            json["packages"][1]["unaffected"][0],
            serde_json::json!({"range": "ge", "version": "7.3.12"})
        );
        assert_eq!(json["packages"][1]["arch"], "amd64 arm64 x86");
    }

    /// Each edit of `FULL` makes a document glsa.py rejects (or fails on); the error names the
    /// file and what is wrong.
    #[test]
    fn malformed_documents_are_clear_errors() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"<vulnerable range="lt" slot="3.10">"#,
                r#"<vulnerable slot="3.10">"#,
                "<vulnerable> of dev-lang/python has no range attribute",
            ),
            (
                r#"<unaffected range="ge">7.3.12"#,
                r#"<unaffected range="GE">7.3.12"#,
                r#"<unaffected> of dev-python/pypy3: range="GE" is not one of lt le eq gt ge rlt rle rgt rge"#,
            ),
            (
                r#"name="dev-python/pypy3""#,
                r#"name="dev-python/pypy3-7""#,
                r#"<package name="dev-python/pypy3-7"> is not a category/package name"#,
            ),
            (
                r#"arch="amd64 arm64 x86""#,
                r#"arch="amd64,arm64""#,
                "arch is neither \"*\" nor a space-separated list of keywords",
            ),
            (r#"arch="*""#, r#"arch="* amd64""#, "arch is neither"),
            (r#" arch="*""#, "", "arch is neither"),
            (
                "<title>Python, PyPy3: Multiple Vulnerabilities</title>",
                "",
                "no <title> element",
            ),
            ("references>", "refs>", "no <references> element"),
            (
                "<!DOCTYPE glsa SYSTEM \"http://www.gentoo.org/dtd/glsa.dtd\">",
                "",
                "no DOCTYPE",
            ),
            (
                "http://www.gentoo.org/dtd/glsa.dtd",
                "https://www.gentoo.org/dtd/glsa.dtd",
                "system id is \"https://www.gentoo.org/dtd/glsa.dtd\", not glsa.dtd",
            ),
            (
                r#"<glsa id="202401-07">"#,
                r#"<glsa id="202401-08">"#,
                r#"<glsa id="202401-08"> does not match the file name's 202401-07"#,
            ),
            (
                r#"count="2""#,
                r#"count="two""#,
                r#"<revised count="two"> is not an integer"#,
            ),
            (r#" count="2""#, "", "<revised> has no count attribute"),
            (
                ">7.3.12</vulnerable>",
                ">7.3.12.</vulnerable>",
                "<vulnerable> of dev-python/pypy3: `7.3.12.` is not a version",
            ),
            (
                r#"<vulnerable range="lt">7.3.12"#,
                r#"<vulnerable range="lt">7.3*"#,
                "`7.3*` is not a version",
            ),
            (
                r#"<vulnerable range="lt" slot="3.10">"#,
                r#"<vulnerable range="lt" slot="3 10">"#,
                r#"<vulnerable> of dev-lang/python: slot="3 10" is not a slot"#,
            ),
            (
                "<p>There is no known",
                "<b>!</b><p>There is no known",
                "<workaround> contains <b>",
            ),
            (">CVE-2023-24329</uri>", "></uri>", "a <uri> has no text"),
            ("</glsa>", "", "not well-formed XML"),
            (
                "<p>There is no known",
                "<![CDATA[x]]><p>There is no known",
                "<workaround> contains a CDATA section",
            ),
            (
                ">7.3.12</vulnerable>",
                "><![CDATA[7.3.12]]></vulnerable>",
                "<vulnerable> of dev-python/pypy3: a CDATA section",
            ),
        ];
        for (from, to, message) in cases {
            let err = parse(&edited(from, to)).unwrap_err();
            assert_eq!(err.file, FILE);
            assert!(err.message.contains(message), "{to}: {err}");
            assert!(err.to_string().starts_with(&format!("{FILE}: ")));
        }
        let full = parse(&edited(
            r#"<vulnerable range="lt" slot="3.10">"#,
            r#"<vulnerable slot="3.10">"#,
        ));
        assert_eq!(
            full.unwrap_err().to_string(),
            "metadata/glsa/glsa-202401-07.xml: <vulnerable> of dev-lang/python has no range attribute"
        );
    }

    /// Documents glsa.py accepts although they look unusual.
    #[test]
    fn accepts_what_glsa_py_accepts() {
        let ok =
            |from: &str, to: &str| parse(&edited(from, to)).unwrap_or_else(|e| panic!("{to}: {e}"));
        ok("glsa.dtd", "glsa-2.dtd");
        ok("SYSTEM \"http", "PUBLIC \"-//Gentoo//GLSA//EN\" \"http");
        ok("<!DOCTYPE", "<!-- <!DOCTYPE x SYSTEM \"y\"> -->\n<!DOCTYPE");
        let a = ok("<access>remote</access>", "");
        assert_eq!(a.access, "");
        let a = ok(r#"<impact type="high">"#, r#"<impact type="critical">"#);
        assert_eq!(a.severity, Severity::Other("critical".into()));
        assert_eq!(a.severity.to_string(), "critical");
        let a = ok(r#"range="lt" slot="3.10""#, r#"range="lt" slot=" * ""#);
        assert_eq!(a.packages[0].vulnerable[1].slot(), None);
        let a = ok(r#"range="lt" slot="3.10""#, r#"range="lt" slot=" 3.10 ""#);
        assert_eq!(a.packages[0].vulnerable[1].slot(), Some("3.10"));
        let a = ok(">7.3.12</vulnerable>", ">\n   7.3.12\n  </vulnerable>");
        assert_eq!(a.packages[1].vulnerable[0].version(), "7.3.12");
        let a = ok(
            r#"<vulnerable range="lt">7.3.12"#,
            r#"<vulnerable range="eq">7.3*"#,
        );
        assert_eq!(a.packages[1].vulnerable[0].to_string(), "=7.3*");
        let a = ok(
            r#"<vulnerable range="lt">7.3.12"#,
            r#"<vulnerable range="rlt">7.3.12-r2"#,
        );
        assert_eq!(a.packages[1].vulnerable[0].to_string(), "<~7.3.12-r2");
        ok("# emerge --sync", "<![CDATA[# emerge --sync]]>");
        let a = ok(
            ">7.3.12</vulnerable>",
            ">7.3.12<!-- <![CDATA[ --></vulnerable>",
        );
        assert_eq!(a.packages[1].vulnerable[0].version(), "7.3.12");
        // Not a glsa-YYYYMM-NN.xml name: glsa-check reads it as a path and checks no id.
        assert_eq!(
            Advisory::parse("/tmp/test.xml", FULL).unwrap().id,
            "202401-07"
        );
    }

    #[test]
    fn arch_lists_as_arch_regex_reads_them() {
        for ok in ["*", "amd64", "amd64 x86 ", "arm64\n", "*\n", "x86-fbsd a_b"] {
            assert!(is_arch_list(ok), "{ok:?}");
        }
        for bad in [
            "",
            "AMD64",
            "amd64,x86",
            "* amd64",
            "amd64\t",
            "amd64\n\n",
            "**",
        ] {
            assert!(!is_arch_list(bad), "{bad:?}");
        }
    }

    #[test]
    fn slot_parts_as_atoms_read_them() {
        let dep = |s: &str| SlotDep::parse(s).map(|d| (d.slot, d.sub_slot));
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(dep("0"), Some((some("0"), None)));
        assert_eq!(dep("1/2"), Some((some("1"), some("2"))));
        assert_eq!(dep("1.2="), Some((some("1.2"), None)));
        assert_eq!(dep("="), Some((None, None)));
        assert_eq!(dep("1*"), None);
        assert_eq!(dep("+1"), None);
        assert_eq!(dep("1/2/3"), None);
        assert_eq!(dep("a b"), None);
    }

    #[test]
    fn finds_the_doctype_system_id() {
        let id = |prolog| doctype_system_id(prolog);
        assert_eq!(
            id("<?xml version=\"1.0\"?>\n<!DOCTYPE glsa SYSTEM 'x.dtd'>\n"),
            Some(Some("x.dtd"))
        );
        assert_eq!(
            id("<!DOCTYPE glsa PUBLIC \"p\" \"s\" [ ]>"),
            Some(Some("s"))
        );
        assert_eq!(id("<!DOCTYPE glsa [ <!ENTITY a \"b\"> ]>"), Some(None));
        assert_eq!(id("<?xml version=\"1.0\"?>\n"), None);
        assert_eq!(id("<!-- <!DOCTYPE glsa SYSTEM \"x\"> -->"), None);
    }
}
