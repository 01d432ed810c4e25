//! Glob patterns of `replace_match` and `replace_all_matches` (gobwas/glob without separators), compiled
//! to an anchored regex once at parse time.

use regex::Regex;

/// `*` any run, `?` any one character, `[abc]`/`[a-z]`/`[!abc]` classes, `{a,b}` alternatives, `\` escapes.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let mut out = String::from("(?s)^");
    let mut chars = pattern.chars();
    let mut alternatives = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                let escaped = chars.next().ok_or("pattern ends with `\\`")?;
                out.push_str(&regex::escape(&escaped.to_string()));
            }
            '[' => {
                out.push('[');
                let mut first = true;
                let mut closed = false;
                for c in chars.by_ref() {
                    match c {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '!' if first => out.push('^'),
                        '-' => out.push('-'),
                        other => out.push_str(&regex::escape(&other.to_string())),
                    }
                    first = false;
                }
                if !closed {
                    return Err("unclosed `[`".into());
                }
                out.push(']');
            }
            '{' => {
                alternatives += 1;
                out.push_str("(?:");
            }
            ',' if alternatives > 0 => out.push('|'),
            '}' if alternatives > 0 => {
                alternatives -= 1;
                out.push(')');
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    if alternatives > 0 {
        return Err("unclosed `{`".into());
    }
    out.push('$');
    Regex::new(&out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::compile;

    #[test]
    fn glob_matching() {
        for (pattern, input, expected) in [
            ("hello*", "hello world", true),
            ("hello*", "say hello", false),
            ("*", "", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[ab]x", "bx", true),
            ("[!ab]x", "bx", false),
            ("[a-c]x", "cx", true),
            ("{GET,POST} /*", "POST /users", true),
            ("{GET,POST} /*", "PUT /users", false),
            ("a.b", "axb", false),
            ("\\*", "*", true),
            ("/user/*/list", "/user/123/list", true),
        ] {
            assert_eq!(compile(pattern).unwrap().is_match(input), expected, "{pattern} vs {input}");
        }
        assert_eq!(compile("[ab").unwrap_err(), "unclosed `[`");
        assert_eq!(compile("{a,b").unwrap_err(), "unclosed `{`");
    }
}
