//! The `tuples` file: one system to build per line, `[<cpu>-]<portage>-<buildhooks>-<set>`.

use super::SiteError;
use super::names::name_problem;

/// The buildhooks field that means "no buildhooks".
pub const NO_BUILDHOOKS: &str = "none";

/// One parsed tuple line. Names are checked for their characters only; whether they exist is
/// decided when the site is planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuple {
    /// 1-based line in the tuples file.
    pub line: u32,
    /// The tuple as written, without comments and surrounding spaces: the image's name.
    pub name: String,
    /// The cpu field, when the tuple has four fields.
    pub cpu: Option<String>,
    /// The portage config name (branch `<prefix><portage>`).
    pub portage: String,
    /// The buildhooks name, `None` for `none`.
    pub buildhooks: Option<String>,
    /// The package set name (file `sets/<set>`).
    pub set: String,
}

/// Text of `line` with any `#` comment and surrounding whitespace removed.
pub fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("").trim()
}

/// Parses a tuples file. Every bad line yields errors naming `file`, its line and the field;
/// good lines are returned whatever the bad ones hold.
pub fn parse_tuples(file: &str, text: &str) -> (Vec<Tuple>, Vec<SiteError>) {
    let mut tuples = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let body = strip_comment(raw);
        if body.is_empty() {
            continue;
        }
        match parse_tuple(body) {
            Ok(t) => tuples.push(Tuple { line, ..t }),
            Err(problems) => errors.extend(problems.into_iter().map(|(field, message)| {
                SiteError::new(file, Some(line), field, message).for_tuple(body)
            })),
        }
    }
    (tuples, errors)
}

/// Parses one tuple (comment already removed). Errors are `(field, message)` pairs.
fn parse_tuple(body: &str) -> Result<Tuple, Vec<(&'static str, String)>> {
    if body.chars().any(char::is_whitespace) {
        return Err(vec![(
            "tuple",
            format!("`{body}` holds spaces: write one tuple per line, fields joined by '-'"),
        )]);
    }
    let fields: Vec<&str> = body.split('-').collect();
    let (cpu, rest) = match fields.len() {
        3 => (None, &fields[..]),
        4 => (Some(fields[0]), &fields[1..]),
        n => {
            return Err(vec![(
                "tuple",
                format!(
                    "`{body}` has {n} field{}; expected `[<cpu>-]<portage>-<buildhooks>-<set>` \
                     (3 or 4 fields; names hold no '-')",
                    if n == 1 { "" } else { "s" }
                ),
            )]);
        }
    };
    let named = [
        ("cpu", cpu),
        ("portage", Some(rest[0])),
        ("buildhooks", Some(rest[1])),
        ("set", Some(rest[2])),
    ];
    let problems: Vec<(&'static str, String)> = named
        .iter()
        .filter_map(|(field, value)| {
            let value = (*value)?;
            name_problem(value).map(|p| (*field, format!("{field} name {p}")))
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Tuple {
        line: 0,
        name: body.to_string(),
        cpu: cpu.map(str::to_string),
        portage: rest[0].to_string(),
        buildhooks: (rest[1] != NO_BUILDHOOKS).then(|| rest[1].to_string()),
        set: rest[2].to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Tuple {
        let (t, e) = parse_tuples("tuples", text);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(t.len(), 1);
        t.into_iter().next().unwrap()
    }

    fn errors(text: &str) -> Vec<SiteError> {
        let (t, e) = parse_tuples("tuples", text);
        assert!(t.is_empty(), "{t:?}");
        e
    }

    #[test]
    fn three_fields_have_no_cpu() {
        let t = one("desktop-none-kde");
        assert_eq!(t.cpu, None);
        assert_eq!(t.portage, "desktop");
        assert_eq!(t.buildhooks, None);
        assert_eq!(t.set, "kde");
        assert_eq!(t.name, "desktop-none-kde");
    }

    #[test]
    fn four_fields_start_with_the_cpu() {
        let t = one("znver3-server-nodocs-web");
        assert_eq!(t.cpu.as_deref(), Some("znver3"));
        assert_eq!(t.buildhooks.as_deref(), Some("nodocs"));
    }

    #[test]
    fn comments_blank_lines_and_spaces_are_ignored() {
        let (t, e) = parse_tuples(
            "tuples",
            "# header\n\n   a-none-b   # trailing\n\t\n  #x-y-z\nc-d-e\n",
        );
        assert!(e.is_empty());
        assert_eq!(
            t.iter()
                .map(|t| (t.line, t.name.as_str()))
                .collect::<Vec<_>>(),
            [(3, "a-none-b"), (6, "c-d-e")]
        );
    }

    #[test]
    fn wrong_field_count_names_the_line() {
        for (text, n) in [("a-b", 2), ("a", 1), ("a-b-c-d-e", 5)] {
            let e = errors(&format!("\n{text}\n"));
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].line, Some(2));
            assert_eq!(e[0].field, "tuple");
            assert!(
                e[0].message.contains(&format!("{n} field")),
                "{}",
                e[0].message
            );
        }
    }

    #[test]
    fn bad_characters_name_each_field() {
        let e = errors("zn/ver-desk$top-none-k de");
        assert_eq!(e[0].field, "tuple"); // spaces are reported first, as one problem
        let e = errors("zn/ver-desk$top-none-kde");
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["cpu", "portage"]);
        assert!(e[1].message.contains("'$'"));
        assert_eq!(e[1].tuple.as_deref(), Some("zn/ver-desk$top-none-kde"));
    }

    #[test]
    fn empty_fields_are_errors() {
        let e = errors("desktop--kde");
        assert_eq!(e[0].field, "buildhooks");
        assert!(e[0].message.contains("empty"));
    }
}
