//! The `condition` expression of a Sigma detection.
//!
//! Grammar (Sigma v2.1, precedence from loosest to tightest: `or`, `and`, `not`, `x of`,
//! parentheses), operators in lowercase as the spec and pySigma require:
//!
//! ```text
//! or    := and ("or" and)*
//! and   := not ("and" not)*
//! not   := "not" not | atom
//! atom  := "(" or ")" | ("1" | "any" | "all") "of" (pattern | "them") | identifier
//! ```
//!
//! `them` and patterns leave out identifiers that start with `_` unless the pattern itself
//! does. The obsolete aggregation syntax (`| count() by x > 5`, `near`) is refused with a
//! pointer to correlation rules, which replace it.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Ref(String),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    /// `1 of x*` (`all: false`) or `all of x*`; `them` is the pattern `*`.
    Of {
        all: bool,
        pattern: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// Character offset in the condition text.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
    Pipe,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ConditionError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push((at, Token::Open));
            }
            ')' => {
                chars.next();
                tokens.push((at, Token::Close));
            }
            '|' => {
                chars.next();
                tokens.push((at, Token::Pipe));
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '|') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push((at, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

/// Parses a condition string.
pub fn parse(text: &str) -> Result<Condition, ConditionError> {
    let tokens = tokenize(text)?;
    if let Some((at, _)) = tokens.iter().find(|(_, t)| *t == Token::Pipe) {
        return Err(ConditionError {
            offset: *at,
            message: "the aggregation syntax (`| count() ...`) is obsolete since Sigma 2.0; \
                      express it as a correlation rule (event_count / value_count)"
                .into(),
        });
    }
    if let Some((at, _)) = tokens
        .iter()
        .find(|(_, t)| *t == Token::Word("near".into()))
    {
        return Err(ConditionError {
            offset: *at,
            message:
                "`near` is obsolete since Sigma 2.0; express it as a temporal correlation rule"
                    .into(),
        });
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        len: text.len(),
    };
    let condition = parser.or()?;
    if let Some((at, token)) = parser.tokens.get(parser.pos) {
        let message = match token {
            Token::Word(w) if is_uppercase_operator(w) => format!(
                "`{w}`: operators are written in lowercase (`{}`)",
                w.to_lowercase()
            ),
            _ => format!("unexpected {} after a complete condition", describe(token)),
        };
        return Err(ConditionError {
            offset: *at,
            message,
        });
    }
    Ok(condition)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::Pipe => "`|`".into(),
        Token::Word(w) => format!("`{w}`"),
    }
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.pos) {
            Some((_, Token::Word(w))) => Some(w),
            _ => None,
        }
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.len, |(at, _)| *at)
    }

    fn error(&self, message: String) -> ConditionError {
        ConditionError {
            offset: self.offset(),
            message,
        }
    }

    fn or(&mut self) -> Result<Condition, ConditionError> {
        let mut terms = vec![self.and()?];
        while self.peek_word() == Some("or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Condition, ConditionError> {
        let mut terms = vec![self.not()?];
        while self.peek_word() == Some("and") {
            self.pos += 1;
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Condition::And(terms)
        })
    }

    fn not(&mut self) -> Result<Condition, ConditionError> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Condition, ConditionError> {
        let Some((_, token)) = self.tokens.get(self.pos).cloned() else {
            return Err(self.error("the condition ends where a selection was expected".into()));
        };
        match token {
            Token::Open => {
                self.pos += 1;
                let inner = self.or()?;
                match self.tokens.get(self.pos) {
                    Some((_, Token::Close)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error("`(` is not closed".into())),
                }
            }
            Token::Word(word) => {
                let quantifier = match word.as_str() {
                    "1" | "any" => Some(false),
                    "all" => Some(true),
                    _ => None,
                };
                if let Some(all) = quantifier
                    && matches!(self.tokens.get(self.pos + 1), Some((_, Token::Word(w))) if w == "of")
                {
                    self.pos += 2;
                    let pattern = match self.peek_word() {
                        Some("them") => "*".to_string(),
                        Some(p) if !is_keyword(p) => p.to_string(),
                        _ => {
                            return Err(self.error(format!(
                                "`{word} of` needs a selection pattern or `them`"
                            )));
                        }
                    };
                    self.pos += 1;
                    return Ok(Condition::Of { all, pattern });
                }
                if is_keyword(&word) {
                    return Err(self.error(format!("unexpected `{word}`")));
                }
                if is_uppercase_operator(&word) {
                    return Err(self.error(format!(
                        "`{word}`: operators are written in lowercase (`{}`)",
                        word.to_lowercase()
                    )));
                }
                self.pos += 1;
                Ok(Condition::Ref(word))
            }
            Token::Close => Err(self.error("unexpected `)`".into())),
            Token::Pipe => Err(self.error("unexpected `|`".into())),
        }
    }
}

fn is_uppercase_operator(word: &str) -> bool {
    !is_keyword(word)
        && ["and", "or", "not", "of"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
}

fn is_keyword(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "of" | "them")
}

/// Whether identifier `name` is covered by `pattern` (`*` matches any run of characters).
/// Names starting with `_` are covered only by patterns that start with `_`.
pub fn pattern_covers(pattern: &str, name: &str) -> bool {
    if name.starts_with('_') && !pattern.starts_with('_') {
        return false;
    }
    glob_match(pattern.as_bytes(), name.as_bytes())
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use Condition::*;

    fn r(s: &str) -> Condition {
        Ref(s.into())
    }

    #[test]
    fn precedence_of_not_and_or() {
        assert_eq!(
            parse("not a and b or c").unwrap(),
            Or(vec![And(vec![Not(Box::new(r("a"))), r("b")]), r("c")])
        );
        assert_eq!(
            parse("a or b and not c").unwrap(),
            Or(vec![r("a"), And(vec![r("b"), Not(Box::new(r("c")))])])
        );
        assert_eq!(
            parse("not (a or b)").unwrap(),
            Not(Box::new(Or(vec![r("a"), r("b")])))
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            parse("1 of selection_* and not all of filter*").unwrap(),
            And(vec![
                Of {
                    all: false,
                    pattern: "selection_*".into()
                },
                Not(Box::new(Of {
                    all: true,
                    pattern: "filter*".into()
                }))
            ])
        );
        assert_eq!(
            parse("all of them").unwrap(),
            Of {
                all: true,
                pattern: "*".into()
            }
        );
        assert_eq!(
            parse("any of sel*").unwrap(),
            Of {
                all: false,
                pattern: "sel*".into()
            }
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = parse("sel | count() by IpAddress > 5").unwrap_err();
        assert!(e.message.contains("correlation"), "{e:?}");
        assert_eq!(e.offset, 4);
        assert!(parse("a near b").unwrap_err().message.contains("temporal"));
        assert!(parse("a AND b").unwrap_err().message.contains("lowercase"));
        assert!(parse("(a or b").unwrap_err().message.contains("not closed"));
        assert!(parse("a b").is_err());
        assert!(parse("").is_err());
        assert!(parse("1 of").is_err());
        assert!(parse("a and").is_err());
    }

    #[test]
    fn patterns_skip_underscore_names() {
        assert!(pattern_covers("*", "selection"));
        assert!(!pattern_covers("*", "_filter"));
        assert!(pattern_covers("_*", "_filter"));
        assert!(pattern_covers("sel*_x", "selection_1_x"));
        assert!(!pattern_covers("sel*_x", "selection_1_y"));
        assert!(pattern_covers("a*b*c", "aXXbYYc"));
    }
}
