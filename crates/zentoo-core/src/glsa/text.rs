//! The text of GLSA elements, read as `portage.glsa.getText` reads it: which documents it
//! rejects decides which advisories `glsa-check` skips, so those rules are kept here.

use roxmltree::{Node, NodeType};

/// Elements below `node` (not `node` itself) named `name`, in document order: minidom's
/// `getElementsByTagName`.
pub(crate) fn elements_named<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.descendants()
        .skip(1)
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

/// The first element below `node` named `name`, or an error naming it.
pub(crate) fn first_named<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> Result<Node<'a, 'i>, String> {
    elements_named(node, name)
        .next()
        .ok_or_else(|| format!("no <{name}> element"))
}

/// `getText(node, "strip")`: all text below `node` (`<uri>`/`<mail>` as `text:link`), trimmed
/// of spaces, tabs and newlines, each run of two or more whitespace characters made one space.
pub(crate) fn strip_text(node: Node) -> Result<String, String> {
    let mut raw = String::new();
    collect_text(node, &mut raw)?;
    Ok(collapse_runs(raw.trim_matches([' ', '\n', '\t'])))
}

/// `getText(node, "keep")`'s recursion: text nodes as they are, a `<uri>` or `<mail>` as its
/// first child's text, `:` and its `link`; comments and processing instructions add nothing.
fn collect_text(node: Node, out: &mut String) -> Result<(), String> {
    if is_link(node) {
        out.push_str(&link_text(node)?);
        out.push(':');
        out.push_str(node.attribute("link").unwrap_or(""));
        return Ok(());
    }
    for child in node.children() {
        match child.node_type() {
            NodeType::Text => out.push_str(child.text().unwrap_or("")),
            NodeType::Element => collect_text(child, out)?,
            _ => {}
        }
    }
    Ok(())
}

fn is_link(node: Node) -> bool {
    node.is_element() && matches!(node.tag_name().name(), "uri" | "mail")
}

/// The data of a `<uri>`'s or `<mail>`'s first child, which glsa.py reads unconditionally (an
/// empty one, or one starting with an element, makes it raise).
pub(crate) fn link_text(node: Node) -> Result<String, String> {
    let name = node.tag_name().name();
    match node.first_child() {
        Some(child) if child.is_text() || child.is_comment() => {
            Ok(child.text().unwrap_or("").to_owned())
        }
        Some(child) if child.is_pi() => Ok(child.pi().and_then(|p| p.value).unwrap_or("").into()),
        _ => Err(format!("a <{name}> has no text")),
    }
}

/// Python's `re.sub(r"[\s]{2,}", " ", text)`.
fn collapse_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            run.push(c);
            continue;
        }
        flush_run(&mut run, &mut out);
        out.push(c);
    }
    flush_run(&mut run, &mut out);
    out
}

fn flush_run(run: &mut String, out: &mut String) {
    if run.chars().nth(1).is_some() {
        out.push(' ');
    } else {
        out.push_str(run);
    }
    run.clear();
}

/// Whether `node`'s own text (`descendants`: or its descendants' too) has a CDATA section.
/// roxmltree merges CDATA into text, but minidom keeps it apart, and glsa.py rejects one in a
/// formatted element and reads one in a version as nothing.
pub(crate) fn has_cdata(node: Node, descendants: bool) -> bool {
    let source = node.document().input_text();
    let range = node.range();
    let mut last = range.start;
    let mut outside = String::new();
    let skipped = node.descendants().skip(1).filter(|n| {
        let own = n.parent().is_some_and(|p| p == node);
        match n.node_type() {
            NodeType::Element => own && !descendants,
            NodeType::Comment | NodeType::PI => own || descendants,
            _ => false,
        }
    });
    for child in skipped {
        // Nodes from entity expansions lie in the DTD, outside `range`: not skipped.
        let child = child.range();
        if let Some(before) = source.get(last..child.start)
            && child.end <= range.end
        {
            outside.push_str(before);
            last = child.end;
        }
    }
    outside.push_str(source.get(last..range.end).unwrap_or(""));
    outside.contains("<![CDATA[")
}

/// `getText(node, "xml")` made plain text: paragraphs, list items (`- item`, `1. item`) and
/// code blocks, one per line. Any child other than text, `<p>`, `<ul>`, `<ol>` and `<code>`
/// (another element, a comment, a processing instruction) is an error, as in glsa.py.
pub(crate) fn formatted_text(node: Node) -> Result<String, String> {
    let name = node.tag_name().name();
    if has_cdata(node, false) {
        return Err(format!(
            "<{name}> contains a CDATA section, which glsa.py rejects"
        ));
    }
    let mut blocks = Vec::new();
    for child in node.children() {
        match child.node_type() {
            NodeType::Text => {}
            NodeType::Element => match child.tag_name().name() {
                "p" => blocks.push(paragraph(child)?),
                "ul" => blocks.extend(list_items(child, |_| "-".to_owned())?),
                "ol" => blocks.extend(list_items(child, |i| format!("{}.", i + 1))?),
                "code" => {
                    let mut code = String::new();
                    collect_text(child, &mut code)?;
                    blocks.push(code.trim().to_owned());
                }
                other => {
                    return Err(format!(
                        "<{name}> contains <{other}>, which glsa.py rejects"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "<{name}> contains a comment or processing instruction, which glsa.py rejects"
                ));
            }
        }
    }
    Ok(blocks.join("\n"))
}

/// A `<p>`: its text, with each `<uri>`/`<mail>` as `text (link)`; other elements are skipped,
/// as glsa.py skips them.
fn paragraph(p: Node) -> Result<String, String> {
    let mut text = String::new();
    for child in p.children() {
        if child.is_text() {
            text.push_str(child.text().unwrap_or(""));
        } else if is_link(child) {
            text.push_str(&link_text(child)?);
            if let Some(link) = child.attribute("link") {
                text.push_str(&format!(" ({link})"));
            }
        }
    }
    Ok(collapse_whitespace(&text))
}

fn list_items(list: Node, marker: impl Fn(usize) -> String) -> Result<Vec<String>, String> {
    list.children()
        .filter(Node::is_element)
        .enumerate()
        .map(|(i, li)| Ok(format!("{} {}", marker(i), strip_text(li)?)))
        .collect()
}

/// Every whitespace run made one space, ends trimmed.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_doc<T>(xml: &str, f: impl FnOnce(Node) -> T) -> T {
        let doc = roxmltree::Document::parse(xml).unwrap();
        f(doc.root_element())
    }

    #[test]
    fn strip_keeps_single_whitespace_and_collapses_runs() {
        let got = with_doc(
            "<t>\n\t a  b\nc\t\td <uri link=\"L\">x</uri> </t>",
            strip_text,
        );
        assert_eq!(got.unwrap(), "a b\nc d x:L");
    }

    #[test]
    fn an_empty_uri_is_an_error() {
        let got = with_doc("<t>see <uri link=\"L\"/></t>", strip_text);
        assert_eq!(got.unwrap_err(), "a <uri> has no text");
    }

    #[test]
    fn formatted_text_lists_and_rejections() {
        let xml = "<d><p>Upgrade  <uri link=\"https://x\">here</uri>.</p>\
                   <ul><li>one</li><li>two</li></ul><ol><li>first</li></ol>\
                   <code>\n  # emerge foo\n</code></d>";
        let got = with_doc(xml, formatted_text).unwrap();
        assert_eq!(
            got,
            "Upgrade here (https://x).\n- one\n- two\n1. first\n# emerge foo"
        );
        let bad = with_doc("<d><p>x</p><b>y</b></d>", formatted_text);
        assert_eq!(bad.unwrap_err(), "<d> contains <b>, which glsa.py rejects");
        let comment = with_doc("<d><!-- c --><p>x</p></d>", formatted_text);
        assert!(comment.unwrap_err().contains("comment"));
    }
}
