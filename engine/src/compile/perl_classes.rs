//! `\d`, `\w` and `\s` in a rule's regex mean what they mean in PCRE and RE2: ASCII digits,
//! ASCII word characters and ASCII whitespace.
//!
//! Sigma calls its regexes a PCRE subset, and the backends SigmaHQ's rules are written for
//! (PCRE, RE2 behind KQL) read these classes as ASCII. Rust's `regex` reads them as Unicode
//! unless told otherwise, which both changes what a rule matches (`\d` would take `１`,
//! `\w` would take `é` and `検`) and costs memory: SigmaHQ's `-k\s\w{1,64}` compiles to
//! 3.6 MB with a Unicode `\w` and to 13 KB with an ASCII one. Everything else stays Unicode:
//! `.` is one character, and case-insensitive letters fold as `regex` folds them.
//!
//! The rewrite works on the parsed pattern, so escaped backslashes and classes inside
//! brackets are told apart exactly: `\w` becomes `[[:word:]]`, and `[\w-]` becomes
//! `[[:word:]-]`. `regex`'s `[:name:]` classes are always ASCII.

use regex_syntax::ast::{self, Ast, ClassPerl, ClassPerlKind, ClassSetItem, Visitor};
use std::borrow::Cow;

/// `pattern` with its Perl classes written as ASCII classes. A pattern that does not parse
/// is returned as it is (building it reports the error).
pub fn ascii_perl_classes(pattern: &str) -> Cow<'_, str> {
    let Ok(parsed) = ast::parse::Parser::new().parse(pattern) else {
        return Cow::Borrowed(pattern);
    };
    let Ok(mut classes) = ast::visit(&parsed, PerlClasses::default());
    if classes.is_empty() {
        return Cow::Borrowed(pattern);
    }
    classes.sort_by_key(|(class, _)| class.span.start.offset);
    let mut out = String::with_capacity(pattern.len() + 12 * classes.len());
    let mut copied = 0;
    for (class, in_brackets) in classes {
        out.push_str(&pattern[copied..class.span.start.offset]);
        let name = match class.kind {
            ClassPerlKind::Digit => "digit",
            ClassPerlKind::Space => "space",
            ClassPerlKind::Word => "word",
        };
        let negated = if class.negated { "^" } else { "" };
        if in_brackets {
            out.push_str(&format!("[:{negated}{name}:]"));
        } else {
            out.push_str(&format!("[[:{negated}{name}:]]"));
        }
        copied = class.span.end.offset;
    }
    out.push_str(&pattern[copied..]);
    Cow::Owned(out)
}

/// The Perl classes of a pattern, each with whether it stands inside brackets.
#[derive(Default)]
struct PerlClasses(Vec<(ClassPerl, bool)>);

impl Visitor for PerlClasses {
    type Output = Vec<(ClassPerl, bool)>;
    type Err = std::convert::Infallible;

    fn finish(self) -> Result<Self::Output, Self::Err> {
        Ok(self.0)
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), Self::Err> {
        if let Ast::ClassPerl(class) = ast {
            self.0.push(((**class).clone(), false));
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), Self::Err> {
        if let ClassSetItem::Perl(class) = item {
            self.0.push((class.clone(), true));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(&ascii_perl_classes(pattern))
            .expect("valid")
            .is_match(value)
    }

    #[test]
    fn classes_outside_and_inside_brackets_become_ascii_classes() {
        assert_eq!(
            ascii_perl_classes(r"-k\s\w{1,64}(?:\s?(?:-p|-s))?"),
            r"-k[[:space:]][[:word:]]{1,64}(?:[[:space:]]?(?:-p|-s))?"
        );
        assert_eq!(
            ascii_perl_classes(r"\w+`[\w+|\s]\D[^\W\d]"),
            r"[[:word:]]+`[[:word:]+|[:space:]][[:^digit:]][^[:^word:][:digit:]]"
        );
    }

    #[test]
    fn escaped_backslashes_and_other_escapes_are_left_alone() {
        assert_eq!(
            ascii_perl_classes(r"C:\\windows\\\d"),
            r"C:\\windows\\[[:digit:]]"
        );
        assert_eq!(ascii_perl_classes(r"\bcmd\.exe\b\x41"), r"\bcmd\.exe\b\x41");
        assert!(matches!(ascii_perl_classes(r"plain"), Cow::Borrowed(_)));
        assert_eq!(ascii_perl_classes(r"(unclosed\d"), r"(unclosed\d");
    }

    #[test]
    fn the_classes_match_ascii_only_and_the_rest_stays_unicode() {
        assert!(matches(r"^\d+$", "0123456789"));
        assert!(
            !matches(r"^\d+$", "１２３"),
            "full-width digits are not \\d in PCRE"
        );
        assert!(matches(r"^\w+$", "Abc_09"));
        assert!(!matches(r"^\w+$", "é"));
        assert!(!matches(r"^\w+$", "検査"));
        assert!(
            matches(r"^\W$", "検"),
            "a non-ASCII character is not a word character"
        );
        assert!(matches(r"^a\sb$", "a\tb"));
        assert!(
            !matches(r"^a\sb$", "a\u{3000}b"),
            "an ideographic space is not \\s"
        );
        assert!(matches(r"^.$", "検"), "`.` is still one character");
        assert!(matches(r"(?i)^é\w$", "Éa"), "letters still fold as Unicode");
    }
}
