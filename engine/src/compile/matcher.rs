//! The tests a compiled rule runs against one field's values.
//!
//! Strings compare case-insensitively unless a rule says `cased`. An ASCII needle is
//! compared with ASCII case folding directly on the event's bytes (no lowercased copy); a
//! needle with non-ASCII letters lowercases the value first. Literal `contains` needles are
//! not tested here one by one: they go into the program's shared Aho-Corasick automata
//! (`compile::literals`), and a pattern carries the id of its needle there.

use super::on_demand::OnDemand;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::net::IpAddr;
use std::sync::Arc;

/// Where a string pattern must sit in the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anchor {
    Equals,
    Prefix,
    Suffix,
    Contains,
}

/// A string test on one value.
#[derive(Debug, Clone)]
pub enum StrPattern {
    /// A literal at a position. `text` is lowercased unless `cased`.
    Literal {
        anchor: Anchor,
        text: Box<str>,
        cased: bool,
        /// The needle's id in the shared automaton (case-insensitive ASCII `contains`).
        needle: Option<u32>,
    },
    /// `*`: any value, even empty, of a field that exists.
    Any,
    /// A wildcard pattern that is not a literal at a position.
    Glob(super::glob::Glob),
    /// A `re` value (shared by every rule with the same pattern).
    Regex(Arc<LazyRegex>),
}

impl StrPattern {
    /// Tests one value (for needle patterns, only when called without the automaton).
    #[inline]
    pub fn test(&self, value: &str) -> bool {
        match self {
            StrPattern::Literal {
                anchor,
                text,
                cased,
                ..
            } => literal_test(*anchor, text, *cased, value),
            StrPattern::Any => true,
            StrPattern::Glob(glob) => glob.is_match(value),
            StrPattern::Regex(re) => re.is_match(value),
        }
    }

    pub fn needle(&self) -> Option<u32> {
        match self {
            StrPattern::Literal { needle, .. } => *needle,
            _ => None,
        }
    }
}

/// Compiled regexes larger than this are refused (a rule error, not a crash or a stall).
pub const REGEX_SIZE_LIMIT: usize = 4 * 1024 * 1024;

/// A `re` value: its syntax is checked when the rule compiles, its program is built when a
/// record first reaches it (see `on_demand`), with `\d`, `\w` and `\s` read as PCRE reads
/// them (see `perl_classes`).
#[derive(Debug)]
pub struct LazyRegex(OnDemand<Box<str>, regex::Regex>);

impl LazyRegex {
    /// `pattern` if its syntax is valid, else why not.
    pub fn new(pattern: &str) -> Result<LazyRegex, String> {
        regex_syntax::Parser::new()
            .parse(pattern)
            .map_err(|e| invalid_regex(pattern, &e.to_string()))?;
        Ok(LazyRegex(OnDemand::new(pattern.into())))
    }

    pub fn pattern(&self) -> &str {
        self.0.spec()
    }

    /// Whether the regex matches `value`; never, if its program could not be built.
    #[inline]
    pub fn is_match(&self, value: &str) -> bool {
        self.build().is_ok_and(|re| re.is_match(value))
    }

    /// Builds the program now if no record has yet.
    pub fn build(&self) -> Result<&regex::Regex, &str> {
        self.0.get(|pattern| build_regex(pattern))
    }

    /// Why the program could not be built, if it was tried.
    pub fn failure(&self) -> Option<&str> {
        self.0.failure()
    }
}

fn build_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&super::perl_classes::ascii_perl_classes(pattern))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("regex `{pattern}` is too large (over {limit} bytes compiled)")
            }
            other => invalid_regex(pattern, &other.to_string()),
        })
}

fn invalid_regex(pattern: &str, error: &str) -> String {
    let last = error
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(error)
        .trim();
    format!("invalid regex `{pattern}`: {last}")
}

#[inline]
pub(crate) fn literal_test(anchor: Anchor, needle: &str, cased: bool, value: &str) -> bool {
    if cased {
        return match anchor {
            Anchor::Equals => value == needle,
            Anchor::Prefix => value.starts_with(needle),
            Anchor::Suffix => value.ends_with(needle),
            Anchor::Contains => memchr::memmem::find(value.as_bytes(), needle.as_bytes()).is_some(),
        };
    }
    if needle.is_ascii() {
        let (v, n) = (value.as_bytes(), needle.as_bytes());
        return match anchor {
            Anchor::Equals => v.len() == n.len() && v.eq_ignore_ascii_case(n),
            Anchor::Prefix => v.len() >= n.len() && v[..n.len()].eq_ignore_ascii_case(n),
            Anchor::Suffix => v.len() >= n.len() && v[v.len() - n.len()..].eq_ignore_ascii_case(n),
            Anchor::Contains => contains_ignore_ascii_case(v, n),
        };
    }
    let lower = value.to_lowercase();
    match anchor {
        Anchor::Equals => lower == needle,
        Anchor::Prefix => lower.starts_with(needle),
        Anchor::Suffix => lower.ends_with(needle),
        Anchor::Contains => lower.contains(needle),
    }
}

/// `needle` must be lowercase ASCII.
fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Compare {
    pub fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Compare::Gt => left > right,
            Compare::Gte => left >= right,
            Compare::Lt => left < right,
            Compare::Lte => left <= right,
            Compare::Eq => left == right,
        }
    }
}

/// A number as Sigma rules and Windows events write it: decimal, or hexadecimal with `0x`.
pub fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()? as f64
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        digits.parse::<f64>().ok()?
    };
    Some(if negative { -value } else { value })
}

/// The parts of a time the time modifiers extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl TimePart {
    pub fn parse(name: &str) -> Option<TimePart> {
        Some(match name {
            "minute" => TimePart::Minute,
            "hour" => TimePart::Hour,
            "day" => TimePart::Day,
            "week" => TimePart::Week,
            "month" => TimePart::Month,
            "year" => TimePart::Year,
            _ => return None,
        })
    }

    /// The part of `value` (a time) in time zone `tz`.
    pub fn extract(self, value: &str, tz: &TimeZone) -> Option<i64> {
        let ts = parse_time(value)?;
        let zoned = ts.to_zoned(tz.clone());
        Some(match self {
            TimePart::Minute => i64::from(zoned.minute()),
            TimePart::Hour => i64::from(zoned.hour()),
            TimePart::Day => i64::from(zoned.day()),
            TimePart::Week => i64::from(zoned.date().iso_week_date().week()),
            TimePart::Month => i64::from(zoned.month()),
            TimePart::Year => i64::from(zoned.year()),
        })
    }
}

/// A time as events write it: RFC 3339 with a zone, or a zone-less date and time taken as
/// UTC.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    civil.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an IPv4 or IPv6 network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("`{text}` has an invalid prefix length"))?,
        };
        Ok(Cidr { network, prefix })
    }

    /// Whether `value` is an address in this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`, as Windows logs them) count as IPv4.
    pub fn contains(&self, value: &str) -> bool {
        parse_ip(value).is_some_and(|addr| self.contains_addr(addr))
    }

    /// Whether `value` is an address in any of `networks`; the value is read once.
    pub fn any_contains(networks: &[Cidr], value: &str) -> bool {
        parse_ip(value).is_some_and(|addr| networks.iter().any(|n| n.contains_addr(addr)))
    }

    /// Whether an address read by `parse_ip` is in this network.
    fn contains_addr(&self, addr: IpAddr) -> bool {
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(a)),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                prefix_eq(u128::from(net), u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8, bits: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (a >> shift) == (b >> shift)
}

fn parse_ip(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    let value = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    // Drop an IPv6 zone (`fe80::1%eth0`).
    let value = value.split('%').next().unwrap_or(value);
    let addr: IpAddr = value.parse().ok()?;
    Some(match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(anchor: Anchor, text: &str, cased: bool) -> StrPattern {
        StrPattern::Literal {
            anchor,
            text: if cased {
                text.into()
            } else {
                text.to_lowercase().into()
            },
            cased,
            needle: None,
        }
    }

    #[test]
    fn literals_fold_case_unless_cased() {
        assert!(lit(Anchor::Equals, "Admin", false).test("ADMIN"));
        assert!(!lit(Anchor::Equals, "Admin", true).test("ADMIN"));
        assert!(lit(Anchor::Prefix, "C:\\Win", false).test("c:\\windows"));
        assert!(lit(Anchor::Suffix, "\\CMD.exe", false).test("C:\\x\\cmd.EXE"));
        assert!(!lit(Anchor::Suffix, "cmd.exe", false).test("md.exe"));
        assert!(lit(Anchor::Contains, "MIMI", false).test("xxmimikatz"));
        assert!(lit(Anchor::Contains, "", false).test(""));
        // Non-ASCII needles fold Unicode case.
        assert!(lit(Anchor::Equals, "ÄRGER", false).test("ärger"));
        assert!(lit(Anchor::Contains, "日本", false).test("x日本y"));
        // Multi-byte text against ASCII needles never panics on char boundaries.
        assert!(!lit(Anchor::Prefix, "ab", false).test("é"));
        assert!(!lit(Anchor::Suffix, "ab", false).test("éé"));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        assert_eq!(parse_number("1e3"), None);
        assert_eq!(parse_number("ten"), None);
        assert_eq!(parse_number(""), None);
        assert!(Compare::Gte.holds(10.0, 10.0));
        assert!(!Compare::Gt.holds(10.0, 10.0));
    }

    #[test]
    fn cidr_v4_v6_and_mapped() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3"));
        assert!(net.contains("::ffff:10.1.2.3"));
        assert!(!net.contains("11.0.0.1"));
        assert!(!net.contains("-"));
        assert!(!net.contains("fe80::1"));
        let v6 = Cidr::parse("fe80::/10").unwrap();
        assert!(v6.contains("fe80::1"));
        assert!(v6.contains("[fe80::1%eth0]"));
        assert!(!v6.contains("2001:db8::1"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8"));
        assert!(Cidr::parse("1.2.3.4").unwrap().contains("1.2.3.4"));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("banana/8").is_err());
    }

    #[test]
    fn time_parts_in_a_zone_with_dst() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(
            TimePart::Hour.extract("2024-05-01T23:30:00.1234567Z", &tokyo),
            Some(8)
        );
        assert_eq!(
            TimePart::Day.extract("2024-05-01T23:30:00Z", &tokyo),
            Some(2)
        );
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            TimePart::Hour.extract("2024-01-15T12:00:00Z", &berlin),
            Some(13)
        );
        assert_eq!(
            TimePart::Hour.extract("2024-07-15T12:00:00Z", &berlin),
            Some(14)
        );
        assert_eq!(
            TimePart::Week.extract("2024-01-01T00:00:00Z", &TimeZone::UTC),
            Some(1)
        );
        assert_eq!(
            TimePart::Minute.extract("2024-01-01 10:42:00", &TimeZone::UTC),
            Some(42)
        );
        assert_eq!(TimePart::Year.extract("yesterday", &TimeZone::UTC), None);
    }
}
