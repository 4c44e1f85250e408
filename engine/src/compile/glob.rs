//! Sigma wildcard values that are not a plain prefix, suffix or substring: `a*b`,
//! `*\\temp\\*.exe`, `prog?.exe`.
//!
//! A regex would do, but SigmaHQ has hundreds of such values and building a regex costs
//! ~150 µs each (most of rule compilation); this matcher costs nothing to build and is
//! linear in practice. The pattern is split at `*` into segments that may hold `?`. The
//! first segment must start the value, the last must end it, and every other segment is
//! matched at its leftmost occurrence after the previous one, which is always a correct
//! choice for `*`-separated segments.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Char(char),
    /// `?`: exactly one character.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// Segments between `*`s; the first is anchored at the start unless `open_start`, the
    /// last at the end unless `open_end`.
    segments: Vec<Vec<Piece>>,
    open_start: bool,
    open_end: bool,
    cased: bool,
}

impl Glob {
    /// Builds a glob from parts of a Sigma string. Literals are lowercased unless `cased`.
    pub fn new(parts: &[crate::rule::sigma_string::Part], cased: bool) -> Glob {
        use crate::rule::sigma_string::Part;
        let mut segments = vec![Vec::new()];
        let open_start = parts.first() == Some(&Part::Many);
        let open_end = parts.last() == Some(&Part::Many);
        for part in parts {
            match part {
                Part::Literal(text) => {
                    let text = if cased {
                        text.clone()
                    } else {
                        text.to_lowercase()
                    };
                    let segment = segments.last_mut().expect("never empty");
                    segment.extend(text.chars().map(Piece::Char));
                }
                Part::One => segments.last_mut().expect("never empty").push(Piece::Any),
                Part::Many => segments.push(Vec::new()),
            }
        }
        // `*` at either end leaves an empty segment there; drop them.
        if open_start {
            segments.remove(0);
        }
        if open_end {
            segments.pop();
        }
        Glob {
            segments,
            open_start,
            open_end,
            cased,
        }
    }

    /// The longest run of plain characters, which any matching value contains (lowercase
    /// unless cased): a gate for the rule.
    pub fn longest_literal(&self) -> Option<String> {
        self.segments
            .iter()
            .flat_map(|segment| {
                segment.split(|p| *p == Piece::Any).map(|run| {
                    run.iter()
                        .map(|p| match p {
                            Piece::Char(c) => *c,
                            Piece::Any => unreachable!("split on Any"),
                        })
                        .collect::<String>()
                })
            })
            .max_by_key(|run| run.chars().count())
            .filter(|run| !run.is_empty())
    }

    pub fn is_match(&self, value: &str) -> bool {
        // An ASCII value (nearly every one) is matched on its bytes, with no copy.
        if value.is_ascii() {
            return self.matches(value.as_bytes());
        }
        let folded;
        let value = if self.cased {
            value
        } else {
            folded = value.to_lowercase();
            &folded
        };
        self.matches(&value.chars().collect::<Vec<char>>())
    }

    /// Whether the characters `chars` match.
    fn matches<C: Copy + Into<char>>(&self, chars: &[C]) -> bool {
        let eq = |p: &Piece, c: C| match p {
            Piece::Any => true,
            Piece::Char(x) => {
                let c: char = c.into();
                *x == c || (!self.cased && c.is_ascii() && c.to_ascii_lowercase() == *x)
            }
        };
        let matches_at = |segment: &[Piece], at: usize| {
            at + segment.len() <= chars.len()
                && segment.iter().zip(&chars[at..]).all(|(p, &c)| eq(p, c))
        };
        let count = self.segments.len();
        if count == 0 {
            // Only `*`s (or nothing): the caller has handled `*` and ``; a lone `**` is `*`.
            return self.open_start || self.open_end || chars.is_empty();
        }
        let mut pos = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            let first = i == 0;
            let last = i == count - 1;
            if first && !self.open_start {
                if !matches_at(segment, 0) {
                    return false;
                }
                pos = segment.len();
                if last && !self.open_end {
                    return pos == chars.len();
                }
                continue;
            }
            if last && !self.open_end {
                let Some(at) = chars.len().checked_sub(segment.len()) else {
                    return false;
                };
                return at >= pos && matches_at(segment, at);
            }
            match (pos..=chars.len().saturating_sub(segment.len()))
                .find(|&at| matches_at(segment, at))
            {
                Some(at) => pos = at + segment.len(),
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::sigma_string::SigmaString;
    use proptest::prelude::*;

    fn glob(p: &str) -> Glob {
        Glob::new(&SigmaString::parse(p).parts, false)
    }

    #[test]
    fn shapes() {
        assert!(glob("a*b").is_match("axxb"));
        assert!(glob("a*b").is_match("ab"));
        assert!(!glob("a*b").is_match("axxbc"));
        assert!(glob("*\\\\temp\\\\*.exe").is_match("C:\\Temp\\x\\Evil.EXE"));
        assert!(!glob("*\\\\temp\\\\*.exe").is_match("C:\\Temp\\x\\Evil.dll"));
        assert!(glob("prog?.exe").is_match("PROG1.exe"));
        assert!(!glob("prog?.exe").is_match("prog.exe"));
        assert!(glob("prog?.exe").is_match("progé.exe"));
        assert!(glob("*a*b*c*").is_match("xaxbxcx"));
        assert!(!glob("*a*b*c*").is_match("xcxbxa"));
        assert!(glob("ab*ab").is_match("abab"));
        assert!(!glob("ab*ab").is_match("aba"));
        assert!(glob("?").is_match("x"));
        assert!(!glob("?").is_match(""));
        assert!(glob("ÄR*").is_match("ärger"));
        assert_eq!(
            glob("*\\\\Temp\\\\*.exe").longest_literal().as_deref(),
            Some("\\temp\\")
        );
        assert_eq!(glob("a?bcd*e").longest_literal().as_deref(), Some("bcd"));
        assert_eq!(glob("?*?").longest_literal(), None);
    }

    /// The reference: the same pattern as a regex.
    fn regex_for(p: &str) -> regex::Regex {
        let mut re = String::from("(?si)^");
        for part in SigmaString::parse(p).parts {
            match part {
                crate::rule::sigma_string::Part::Literal(t) => re.push_str(&regex::escape(&t)),
                crate::rule::sigma_string::Part::Many => re.push_str(".*"),
                crate::rule::sigma_string::Part::One => re.push('.'),
            }
        }
        re.push('$');
        regex::Regex::new(&re).unwrap()
    }

    proptest! {
        #[test]
        fn agrees_with_a_regex(pattern in "[abAB*?]{0,8}", value in "[abAB]{0,10}") {
            let expected = regex_for(&pattern).is_match(&value);
            prop_assert_eq!(glob(&pattern).is_match(&value), expected, "pattern {} value {}", pattern, value);
        }
    }
}
