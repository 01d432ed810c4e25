//! Tokens of the OTTL grammar. Strings are unquoted with Go's escapes, as the Collector does.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Colon,
    Comma,
    Dot,
    Assign,
    Cmp(CmpOp),
    Math(char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A token and its byte offset in the statement.
pub(crate) type Spanned = (usize, Token);

pub(crate) fn tokenize(text: &str) -> Result<Vec<Spanned>, (usize, String)> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let simple = match c {
            b'(' => Some(Token::LParen),
            b')' => Some(Token::RParen),
            b'[' => Some(Token::LBracket),
            b']' => Some(Token::RBracket),
            b'{' => Some(Token::LBrace),
            b'}' => Some(Token::RBrace),
            b':' => Some(Token::Colon),
            b',' => Some(Token::Comma),
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => Some(Token::Dot),
            b'*' | b'/' => Some(Token::Math(c as char)),
            _ => None,
        };
        if let Some(token) = simple {
            tokens.push((start, token));
            i += 1;
            continue;
        }
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'=' | b'!' | b'<' | b'>' => {
                let next_is_eq = bytes.get(i + 1) == Some(&b'=');
                let token = match (c, next_is_eq) {
                    (b'=', true) => Token::Cmp(CmpOp::Eq),
                    (b'=', false) => Token::Assign,
                    (b'!', true) => Token::Cmp(CmpOp::Ne),
                    (b'<', true) => Token::Cmp(CmpOp::Le),
                    (b'<', false) => Token::Cmp(CmpOp::Lt),
                    (b'>', true) => Token::Cmp(CmpOp::Ge),
                    (b'>', false) => Token::Cmp(CmpOp::Gt),
                    _ => return Err((i, "`!` must be followed by `=`".into())),
                };
                i += if next_is_eq { 2 } else { 1 };
                tokens.push((start, token));
            }
            b'"' => {
                let (value, end) = unquote(text, i)?;
                tokens.push((start, Token::Str(value)));
                i = end;
            }
            b'0' if matches!(bytes.get(i + 1), Some(b'x' | b'X')) => {
                i += 2;
                let digits_start = i;
                while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                    i += 1;
                }
                let digits = &text[digits_start..i];
                if digits.is_empty() || digits.len() % 2 != 0 {
                    return Err((start, "a bytes literal needs an even number of hex digits".into()));
                }
                tokens.push((start, Token::Bytes(decode_hex(digits).expect("checked hex digits"))));
            }
            b'-' | b'+' | b'0'..=b'9' | b'.' => {
                let signed = matches!(c, b'-' | b'+');
                if signed && !bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit() || *b == b'.') {
                    tokens.push((start, Token::Math(c as char)));
                    i += 1;
                    continue;
                }
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                let literal = &text[start..i];
                let token = if literal.contains('.') {
                    literal.parse::<f64>().map(Token::Float).ok()
                } else {
                    literal.parse::<i64>().map(Token::Int).ok()
                };
                let token = token.ok_or((start, format!("invalid number `{literal}`")))?;
                tokens.push((start, token));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push((start, Token::Ident(text[start..i].to_string())));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err((i, format!("unexpected character `{ch}`")));
            }
        }
    }
    Ok(tokens)
}

pub(crate) fn decode_hex(digits: &str) -> Option<Vec<u8>> {
    if digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok()).collect()
}

/// Reads the string literal opening at `open`; returns its value and the offset after the closing quote.
fn unquote(text: &str, open: usize) -> Result<(String, usize), (usize, String)> {
    let mut out = String::new();
    let mut chars = text[open + 1..].char_indices();
    while let Some((at, c)) = chars.next() {
        let at = open + 1 + at;
        match c {
            '"' => return Ok((out, at + 1)),
            '\\' => {
                let (_, escape) = chars.next().ok_or((at, "unterminated string".to_string()))?;
                let simple = match escape {
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    'r' => Some('\r'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'v' => Some('\u{b}'),
                    '\\' => Some('\\'),
                    '"' => Some('"'),
                    '\'' => Some('\''),
                    _ => None,
                };
                if let Some(ch) = simple {
                    out.push(ch);
                    continue;
                }
                let width = match escape {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    other => return Err((at, format!("invalid escape `\\{other}` (write `\\\\{other}`)"))),
                };
                let mut code = 0u32;
                for _ in 0..width {
                    let digit = chars
                        .next()
                        .and_then(|(_, d)| d.to_digit(16))
                        .ok_or((at, format!("invalid `\\{escape}` escape")))?;
                    code = code * 16 + digit;
                }
                let ch = char::from_u32(code).ok_or((at, format!("invalid code point {code:#x}")))?;
                out.push(ch);
            }
            other => out.push(other),
        }
    }
    Err((open, "unterminated string".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_a_statement() {
        let tokens: Vec<Token> = tokenize(r#"set(attributes["a\"b"], -1.5) where x != 0x0aff"#)
            .unwrap()
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(
            tokens,
            vec![
                Token::Ident("set".into()),
                Token::LParen,
                Token::Ident("attributes".into()),
                Token::LBracket,
                Token::Str("a\"b".into()),
                Token::RBracket,
                Token::Comma,
                Token::Float(-1.5),
                Token::RParen,
                Token::Ident("where".into()),
                Token::Ident("x".into()),
                Token::Cmp(CmpOp::Ne),
                Token::Bytes(vec![0x0a, 0xff]),
            ]
        );
    }

    #[test]
    fn lexical_errors() {
        assert_eq!(tokenize(r#""abc"#).unwrap_err().1, "unterminated string");
        assert_eq!(tokenize(r#""\d""#).unwrap_err().1, "invalid escape `\\d` (write `\\\\d`)");
        assert_eq!(tokenize("0xabc").unwrap_err().1, "a bytes literal needs an even number of hex digits");
        assert_eq!(tokenize("a ! b").unwrap_err().1, "`!` must be followed by `=`");
        assert_eq!(tokenize("a # b").unwrap_err().1, "unexpected character `#`");
        assert_eq!(tokenize(r#""\u00e9\x41""#).unwrap()[0].1, Token::Str("éA".into()));
    }
}
