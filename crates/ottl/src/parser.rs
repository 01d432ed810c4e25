//! The grammar: an editor invocation with an optional `where` clause, or a boolean expression alone.
//! Produces an untyped tree; `compile` resolves its paths and functions for one context.

use crate::lexer::{tokenize, CmpOp, Spanned, Token};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Key {
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueAst {
    Literal(Literal),
    List(Vec<ValueAst>),
    /// Dotted segments, then any `[key]` indexes.
    Path {
        segments: Vec<String>,
        keys: Vec<Key>,
    },
    Enum(String),
    Call(CallAst),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallAst {
    pub name: String,
    pub args: Vec<ArgAst>,
    pub keys: Vec<Key>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArgAst {
    pub name: Option<String>,
    pub value: ValueAst,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BoolAst {
    Or(Vec<BoolAst>),
    And(Vec<BoolAst>),
    Not(Box<BoolAst>),
    Compare(ValueAst, CmpOp, ValueAst),
    Literal(bool),
    Call(CallAst),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatementAst {
    pub editor: CallAst,
    pub condition: Option<BoolAst>,
}

pub(crate) type SyntaxError = (usize, String);

pub(crate) fn parse_statement(text: &str) -> Result<StatementAst, SyntaxError> {
    let mut parser = Parser::new(text)?;
    let editor = match parser.value()? {
        ValueAst::Call(call) if call.keys.is_empty() => call,
        _ => return Err((0, "a statement starts with an editor call such as `set(...)`".into())),
    };
    let condition = if parser.eat_keyword("where") { Some(parser.bool_expr()?) } else { None };
    parser.expect_end()?;
    Ok(StatementAst { editor, condition })
}

pub(crate) fn parse_condition(text: &str) -> Result<BoolAst, SyntaxError> {
    let mut parser = Parser::new(text)?;
    let condition = parser.bool_expr()?;
    parser.expect_end()?;
    Ok(condition)
}

/// How deeply parentheses, `not`, lists and calls may nest: far beyond what statements need, and low enough
/// that parsing (and compiling and evaluating the tree) cannot exhaust the stack.
const MAX_NESTING: usize = 64;

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
    len: usize,
    depth: usize,
}

impl Parser {
    fn new(text: &str) -> Result<Self, SyntaxError> {
        Ok(Parser { tokens: tokenize(text)?, pos: 0, len: text.len(), depth: 0 })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.len, |(at, _)| *at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        token
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err((self.offset(), message.into()))
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), SyntaxError> {
        if self.peek() == Some(&token) {
            self.pos += 1;
            Ok(())
        } else {
            self.error(format!("expected {what}{}", self.found()))
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => ", found the end".into(),
            Some(token) => format!(", found {}", describe(token)),
        }
    }

    fn expect_end(&self) -> Result<(), SyntaxError> {
        match self.peek() {
            None => Ok(()),
            Some(Token::Math(op)) => self.error(format!("arithmetic (`{op}`) is not supported")),
            Some(token) => self.error(format!("unexpected {}", describe(token))),
        }
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(word)) if word == keyword) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn bool_expr(&mut self) -> Result<BoolAst, SyntaxError> {
        let mut terms = vec![self.bool_term()?];
        while self.eat_keyword("or") {
            terms.push(self.bool_term()?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { BoolAst::Or(terms) })
    }

    fn bool_term(&mut self) -> Result<BoolAst, SyntaxError> {
        let mut factors = vec![self.bool_factor()?];
        while self.eat_keyword("and") {
            factors.push(self.bool_factor()?);
        }
        Ok(if factors.len() == 1 { factors.pop().expect("one factor") } else { BoolAst::And(factors) })
    }

    /// Runs `parse` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested<T>(&mut self, parse: impl FnOnce(&mut Self) -> Result<T, SyntaxError>) -> Result<T, SyntaxError> {
        if self.depth == MAX_NESTING {
            return self.error(format!("nested more than {MAX_NESTING} levels deep"));
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn bool_factor(&mut self) -> Result<BoolAst, SyntaxError> {
        self.nested(Self::bool_factor_inner)
    }

    fn bool_factor_inner(&mut self) -> Result<BoolAst, SyntaxError> {
        if self.eat_keyword("not") {
            return Ok(BoolAst::Not(Box::new(self.bool_factor()?)));
        }
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let inner = self.bool_expr()?;
            self.expect(Token::RParen, "`)`")?;
            return Ok(inner);
        }
        let start = self.offset();
        let left = self.value()?;
        if let Some(Token::Cmp(op)) = self.peek() {
            let op = *op;
            self.pos += 1;
            let right = self.value()?;
            return Ok(BoolAst::Compare(left, op, right));
        }
        match left {
            ValueAst::Literal(Literal::Bool(b)) => Ok(BoolAst::Literal(b)),
            ValueAst::Call(call) if is_converter_name(&call.name) => Ok(BoolAst::Call(call)),
            _ => match self.peek() {
                Some(Token::Math(op)) => self.error(format!("arithmetic (`{op}`) is not supported")),
                _ => Err((start, "expected a comparison, a boolean or a converter returning one".into())),
            },
        }
    }

    fn value(&mut self) -> Result<ValueAst, SyntaxError> {
        self.nested(Self::value_inner)
    }

    fn value_inner(&mut self) -> Result<ValueAst, SyntaxError> {
        let start = self.offset();
        match self.next() {
            Some(Token::Str(s)) => Ok(ValueAst::Literal(Literal::Str(s))),
            Some(Token::Int(i)) => Ok(ValueAst::Literal(Literal::Int(i))),
            Some(Token::Float(f)) => Ok(ValueAst::Literal(Literal::Float(f))),
            Some(Token::Bytes(b)) => Ok(ValueAst::Literal(Literal::Bytes(b))),
            Some(Token::LBracket) => {
                let mut items = Vec::new();
                if self.peek() != Some(&Token::RBracket) {
                    loop {
                        items.push(self.value()?);
                        if self.peek() != Some(&Token::Comma) {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                self.expect(Token::RBracket, "`]` or `,`")?;
                Ok(ValueAst::List(items))
            }
            Some(Token::LBrace) => Err((start, "map literals are not supported".into())),
            Some(Token::Ident(word)) => match word.as_str() {
                "nil" => Ok(ValueAst::Literal(Literal::Nil)),
                "true" => Ok(ValueAst::Literal(Literal::Bool(true))),
                "false" => Ok(ValueAst::Literal(Literal::Bool(false))),
                _ if self.peek() == Some(&Token::LParen) => self.call(word),
                _ if word.starts_with(|c: char| c.is_ascii_uppercase()) => Ok(ValueAst::Enum(word)),
                _ => self.path(word),
            },
            Some(token) => Err((start, format!("expected a value, found {}", describe(&token)))),
            None => Err((start, "expected a value, found the end".into())),
        }
    }

    fn call(&mut self, name: String) -> Result<ValueAst, SyntaxError> {
        self.expect(Token::LParen, "`(`")?;
        let mut args = Vec::new();
        if self.peek() != Some(&Token::RParen) {
            loop {
                let named = match (self.tokens.get(self.pos), self.tokens.get(self.pos + 1)) {
                    (Some((_, Token::Ident(arg))), Some((_, Token::Assign))) => Some(arg.clone()),
                    _ => None,
                };
                if named.is_some() {
                    self.pos += 2;
                } else if args.iter().any(|a: &ArgAst| a.name.is_some()) {
                    return self.error("positional arguments must come before named ones");
                }
                args.push(ArgAst { name: named, value: self.value()? });
                if self.peek() != Some(&Token::Comma) {
                    break;
                }
                self.pos += 1;
            }
        }
        self.expect(Token::RParen, "`)` or `,`")?;
        let keys = self.keys()?;
        Ok(ValueAst::Call(CallAst { name, args, keys }))
    }

    fn path(&mut self, first: String) -> Result<ValueAst, SyntaxError> {
        let mut segments = vec![first];
        while self.peek() == Some(&Token::Dot) {
            self.pos += 1;
            match self.next() {
                Some(Token::Ident(segment)) => segments.push(segment),
                _ => return Err((self.offset(), "expected a field name after `.`".into())),
            }
        }
        let keys = self.keys()?;
        Ok(ValueAst::Path { segments, keys })
    }

    fn keys(&mut self) -> Result<Vec<Key>, SyntaxError> {
        let mut keys = Vec::new();
        while self.peek() == Some(&Token::LBracket) {
            self.pos += 1;
            let key = match self.next() {
                Some(Token::Str(s)) => Key::Str(s),
                Some(Token::Int(i)) => Key::Int(i),
                _ => {
                    self.pos -= 1;
                    return self.error("a key must be a string or an integer literal");
                }
            };
            keys.push(key);
            self.expect(Token::RBracket, "`]`")?;
        }
        Ok(keys)
    }
}

pub(crate) fn is_converter_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
}

fn describe(token: &Token) -> String {
    match token {
        Token::Ident(word) => format!("`{word}`"),
        Token::Str(s) => format!("string {s:?}"),
        Token::Int(i) => format!("`{i}`"),
        Token::Float(f) => format!("`{f}`"),
        Token::Bytes(_) => "a bytes literal".into(),
        Token::LParen => "`(`".into(),
        Token::RParen => "`)`".into(),
        Token::LBracket => "`[`".into(),
        Token::RBracket => "`]`".into(),
        Token::LBrace => "`{`".into(),
        Token::RBrace => "`}`".into(),
        Token::Colon => "`:`".into(),
        Token::Comma => "`,`".into(),
        Token::Dot => "`.`".into(),
        Token::Assign => "`=`".into(),
        Token::Cmp(_) => "a comparison operator".into(),
        Token::Math(op) => format!("`{op}`"),
    }
}
