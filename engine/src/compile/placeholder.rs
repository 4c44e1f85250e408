//! Placeholder values for the `expand` modifier (`%Workstations%`), from a YAML file:
//!
//! ```yaml
//! Workstations: ['WS-*', 'PC-*']
//! DomainControllers: DC01
//! ```
//!
//! The spec says a tool that cannot fill a placeholder must reject the rule, so a
//! placeholder without values is a rule error that names it.

use crate::yaml::{self, Pos};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
}

impl Placeholders {
    pub fn load(path: &Path) -> Result<Placeholders, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Placeholders::parse(&text)
            .map_err(|(pos, message)| format!("{}:{}: {message}", path.display(), pos))
    }

    pub fn parse(text: &str) -> Result<Placeholders, (Pos, String)> {
        let mut values = BTreeMap::new();
        for doc in yaml::parse_documents(text).map_err(|e| (e.pos, e.message))? {
            let entries = doc.as_map().ok_or((
                doc.pos,
                "a placeholder file is a mapping of names to values".to_string(),
            ))?;
            for (key, value) in entries {
                let list = value.strings().ok_or((
                    value.pos,
                    format!("placeholder `{}` must be a value or a list", key.text),
                ))?;
                values.insert(
                    key.text.clone(),
                    list.into_iter().map(str::to_string).collect(),
                );
            }
        }
        Ok(Placeholders { values })
    }

    /// Every text `%name%` placeholders in `text` expand to (each combination, in order).
    /// `\%` is a literal percent sign.
    pub fn expand(&self, text: &str, limit: usize) -> Result<Vec<String>, String> {
        let mut results = vec![String::new()];
        let mut rest = text;
        while !rest.is_empty() {
            let (literal, after) = split_at_placeholder(rest);
            let literal = literal.replace("\\%", "%");
            results.iter_mut().for_each(|r| r.push_str(&literal));
            rest = after;
            if rest.is_empty() {
                break;
            }
            // `rest` starts with `%name%`.
            let end = rest[1..].find('%').map(|i| i + 1).unwrap_or(rest.len() - 1);
            let name = &rest[1..end];
            let values = self
                .values
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    format!(
                        "placeholder %{name}% has no values (give them with --placeholders FILE)"
                    )
                })?;
            if results.len() * values.len() > limit {
                return Err(format!("placeholders expand into more than {limit} values"));
            }
            results = results
                .iter()
                .flat_map(|r| values.iter().map(move |v| format!("{r}{v}")))
                .collect();
            rest = &rest[end + 1..];
        }
        Ok(results)
    }
}

/// Splits `text` before its first `%name%`; a lone `%` or `\%` stays literal.
fn split_at_placeholder(text: &str) -> (&str, &str) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'%') => i += 2,
            b'%' => {
                let closing = text[i + 1..].find('%');
                match closing {
                    Some(len)
                        if len > 0 && !text[i + 1..i + 1 + len].contains(char::is_whitespace) =>
                    {
                        return (&text[..i], &text[i..]);
                    }
                    _ => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    (text, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_every_combination() {
        let p = Placeholders::parse("ws: ['A-*', B]\nport: 3389\n").unwrap();
        assert_eq!(
            p.expand("%ws%:%port%", 100).unwrap(),
            ["A-*:3389", "B:3389"]
        );
        assert_eq!(p.expand("100% sure", 100).unwrap(), ["100% sure"]);
        assert_eq!(p.expand("\\%ws\\%", 100).unwrap(), ["%ws%"]);
        let err = p.expand("%Workstations%", 100).unwrap_err();
        assert!(err.contains("%Workstations%"));
    }
}
