//! Just enough XML for the few fields read from STS and S3 answers: the text of the first element with a
//! given name. These documents are machine-written and flat where it matters; a full parser would cost size.

/// The unescaped text of the first `<name>...</name>` element, or `None`.
pub fn element(document: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = document.find(&open)? + open.len();
    let end = start + document[start..].find(&close)?;
    Some(unescape(document[start..end].trim()))
}

fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::element;

    #[test]
    fn reads_and_unescapes_the_first_element() {
        let doc = "<R><A> x&amp;y&#43;&#x2F;&lt; </A><A>second</A><B></B></R>";
        assert_eq!(element(doc, "A").as_deref(), Some("x&y+/<"));
        assert_eq!(element(doc, "B").as_deref(), Some(""));
        assert_eq!(element(doc, "C"), None);
        assert_eq!(element("<A>a &bogus; b", "A"), None);
        assert_eq!(element("<A>a &bogus; &amp b</A>", "A").as_deref(), Some("a &bogus; &amp b"));
    }
}
