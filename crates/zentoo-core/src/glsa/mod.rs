//! Gentoo Linux Security Advisories (GLSAs): reading `metadata/glsa/glsa-*.xml` and deciding
//! which installed packages they affect, exactly as Portage's `glsa-check -t` decides (the
//! `portage.glsa` module of Portage 3.0.83). Pure: no I/O; the caller reads the files and the
//! vdb.
//!
//! ```text
//! let advisory = Advisory::parse("glsa-202401-01.xml", &xml)?;
//! let findings = affected(&advisory, "amd64", &installed);
//! ```
//!
//! # glsa.py behaviours matched
//!
//! Reading ([`Advisory::parse`] fails where `Glsa.parse` raises, so where `glsa-check` skips
//! the advisory or dies on it):
//! - the `DOCTYPE`'s system id must be `http://www.gentoo.org/dtd/glsa.dtd` or `glsa-2.dtd`;
//! - for a file named `glsa-YYYYMM-NN.xml`, `<glsa id>` must equal `YYYYMM-NN`;
//! - `title`, `synopsis`, `product`, `announced`, `revised` (with an integer `count`),
//!   `affected`, `description`, `impact`, `workaround`, `resolution` and `references` must be
//!   present; elements are found anywhere below `<glsa>`, first in document order, as minidom's
//!   `getElementsByTagName` finds them;
//! - texts are read as `getText(…, "strip")` reads them: trimmed of spaces, tabs and newlines,
//!   runs of two or more whitespace characters made one space (a single newline stays), a
//!   `<uri>`/`<mail>` as `text:link`; an empty `<uri>` or `<mail>` is an error; the formatted
//!   elements (`description`, …) may hold only text, `<p>`, `<ul>`, `<ol>` and `<code>` (no
//!   comment, no CDATA section), and a CDATA section in a version reads as no text;
//! - `<package name>` must be a plain `category/package` (Portage's `Atom(name) == name.cp`);
//! - `range` must be one of `lt le eq gt ge rlt rle rgt rge` (glsa.py's `opMapping`), exactly;
//! - `arch` must match glsa.py's `ARCH_REGEX` (`*`, or lowercase keywords, digits, `-`, `_` and
//!   spaces); glsa.py checks it in `isVulnerable`, on every system, so it is checked here;
//! - a `slot` attribute is stripped; empty or `*` means any slot; otherwise it is an atom's
//!   slot part: `1`, `1/2` (sub-slot too), `1=` (operator ignored), `=` (any slot);
//! - the version must make a valid atom: a PMS version, with a trailing `*` only for `eq`
//!   (Portage's `=cat/pkg-1.2*`). Versions that Portage would read as something else (a build
//!   id `1.0-1`, USE deps, `::repo`) are errors here; they are not used in GLSAs.
//! - `auto` and `<product type>` are read but, as in glsa-check, change nothing in testing.
//!
//! Matching ([`affected`]):
//! - a `<package>` counts only when its `arch` is exactly `*` or lists the system's keyword
//!   (`"* amd64"` is rejected by the regex; `*` followed by a character-referenced newline
//!   counts only as a keyword named `*`);
//! - each `<package>` is decided on its own (several with one name are several paths): an
//!   installed version is affected when it matches one of its `vulnerable` ranges and none of
//!   the same `<package>`'s `unaffected` ranges (`getMinUpgrade`'s set difference; whether an
//!   upgrade exists in the repository does not change `-t`'s answer);
//! - `lt le gt ge` compare with `vercmp`, `eq` is `vercmp` equality (`1.0 == 1.00 == 1.0-r0`),
//!   and `eq` with `*` is Portage's `=*` prefix match on the version text (leading zeros of the
//!   first component dropped, boundaries between parts respected: `1*` matches `1.5`, `1b`,
//!   `1-r3` but not `10`);
//! - `rlt rle rgt rge` (`revisionMatch`): the installed version without revision must equal the
//!   range's version without revision as text (Portage's `~`: `1.0` does not match `1.00-r1`),
//!   then the revisions compare as integers (no revision is 0);
//! - a range's slot restricts by the installed `SLOT` (`_match_slot`), sub-slot too when given;
//!   an installed `SLOT` that is no slot name reads as `0`;
//! - installed versions that are not versions are ignored, as the vdb listing ignores them.
//!
//! Where glsa-check crashes instead of answering, this module errs or answers as the code
//! means:
//! - a version or slot that makes no valid atom is a parse error for the whole advisory;
//!   glsa-check raises `InvalidAtom` only when it gets to evaluate that range (its arch
//!   matches and no earlier range of the advisory already matched);
//! - a revision range with a `slot` makes `revisionMatch` call `pkgsplit("cat/pkg-1.0-r2:0")`,
//!   which returns `None`, and glsa-check dies with a `TypeError` as soon as an installed
//!   package of that version and slot exists; here the slot restricts and revisions compare;
//! - an installed revision with a leading zero (`-r01`) makes `revisionMatch`'s
//!   `eval("01 >= 2")` raise `SyntaxError`; here revisions compare as integers.

mod advisory;
mod matching;
mod text;
pub mod version;

pub use advisory::{
    Advisory, AffectedPackage, ParseError, RangeOp, Reference, Severity, VersionRange,
};
pub use matching::{Finding, Installed, affected, affected_by_any};
pub use version::Version;
