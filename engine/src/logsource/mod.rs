//! Which events a rule sees: Sigma `logsource` to channels, event ids and field names.
//!
//! A rule only meets events of its channels, so Security 1102 (log cleared) and RDP client
//! 1102 (outgoing connection) never meet each other's rules. Syslog lines all have the
//! channel `syslog`; products other than Windows (linux, fortigate, cisco, ...) read it,
//! narrowed by the vendor or product the parser recognised. The mapping is data: a
//! built-in YAML (`mapping.yml`, the Sigma taxonomy and SigmaHQ's thor.yml) that a user
//! file can override entry by entry. A logsource resolves to one or more `Target`s; a category
//! like `process_creation` has two (Sysmon 1, and Security 4688 with renamed fields), and
//! the rule is compiled once per target.

use crate::rule::LogSource;
use crate::yaml::{self, Node, Pos};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

const BUILTIN: &str = include_str!("mapping.yml");

/// One place a rule's events come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The service this target reads, for messages (`sysmon`, `security`).
    pub service: Option<String>,
    /// Channels, or `None` for every channel.
    pub channels: Option<Vec<String>>,
    /// Conditions an event must also meet: field equals one of the values.
    pub conditions: Vec<(String, Vec<String>)>,
    /// Field renames: the rule's name to the name in this source's events.
    pub fields: BTreeMap<String, String>,
}

impl Target {
    pub fn field_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.fields.get(name).map_or(name, String::as_str)
    }
}

/// What a logsource resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Targets(Vec<Target>),
    /// The rule loads but no EVTX event can reach it; the reason says why.
    Idle(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CategorySource {
    service: String,
    conditions: Vec<(String, Vec<String>)>,
    fields: BTreeMap<String, String>,
}

/// The logsource mapping in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    services: BTreeMap<String, Vec<String>>,
    categories: BTreeMap<String, Vec<CategorySource>>,
    products: BTreeMap<String, CategorySource>,
}

/// A mapping file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line > 0 {
            write!(f, "{}: ", self.pos)?;
        }
        f.write_str(&self.message)
    }
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping::builtin()
    }
}

impl Mapping {
    /// The built-in Windows mapping.
    pub fn builtin() -> Mapping {
        let mut mapping = Mapping {
            services: BTreeMap::new(),
            categories: BTreeMap::new(),
            products: BTreeMap::new(),
        };
        mapping
            .merge_text(BUILTIN)
            .expect("the built-in mapping is valid");
        mapping
    }

    /// Adds the entries of a mapping file, replacing built-in entries of the same name.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), MappingError> {
        let text = std::fs::read_to_string(path).map_err(|e| MappingError {
            pos: Pos::default(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        self.merge_text(&text)
    }

    pub fn merge_text(&mut self, text: &str) -> Result<(), MappingError> {
        let docs = yaml::parse_documents(text).map_err(|e| MappingError {
            pos: e.pos,
            message: e.message,
        })?;
        for doc in &docs {
            let entries = doc
                .as_map()
                .ok_or_else(|| error(doc, "a mapping file is a mapping"))?;
            for (key, value) in entries {
                match key.text.as_str() {
                    "services" => self.merge_services(value)?,
                    "categories" => self.merge_categories(value)?,
                    "products" => self.merge_products(value)?,
                    other => {
                        return Err(MappingError {
                            pos: key.pos,
                            message: format!(
                                "unknown key `{other}` (expected `services`, `categories` or `products`)"
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn merge_services(&mut self, node: &Node) -> Result<(), MappingError> {
        for (key, value) in node
            .as_map()
            .ok_or_else(|| error(node, "`services` is a mapping"))?
        {
            let channels = value
                .strings()
                .ok_or_else(|| error(value, "a service maps to a list of channels"))?;
            self.services.insert(
                key.text.clone(),
                channels.into_iter().map(str::to_string).collect(),
            );
        }
        Ok(())
    }

    fn merge_categories(&mut self, node: &Node) -> Result<(), MappingError> {
        for (key, value) in node
            .as_map()
            .ok_or_else(|| error(node, "`categories` is a mapping"))?
        {
            let items: Vec<&Node> = match &value.value {
                yaml::Value::Seq(items) => items.iter().collect(),
                yaml::Value::Map(_) => vec![value],
                _ => return Err(error(value, "a category maps to a list of sources")),
            };
            let mut sources = Vec::new();
            for item in items {
                sources.push(self.source(item)?);
            }
            self.categories.insert(key.text.clone(), sources);
        }
        Ok(())
    }

    fn merge_products(&mut self, node: &Node) -> Result<(), MappingError> {
        for (key, value) in node
            .as_map()
            .ok_or_else(|| error(node, "`products` is a mapping"))?
        {
            let source = self.source(value)?;
            self.products.insert(key.text.clone(), source);
        }
        Ok(())
    }

    /// One source: a known service, the conditions its events meet, field renames.
    fn source(&self, item: &Node) -> Result<CategorySource, MappingError> {
        let service = item
            .get("service")
            .and_then(Node::as_str)
            .ok_or_else(|| error(item, "a category source needs a `service`"))?;
        if !self.services.contains_key(service) {
            return Err(error(item, &format!("unknown service `{service}`")));
        }
        let mut conditions = Vec::new();
        if let Some(cond) = item.get("conditions") {
            for (field, values) in cond
                .as_map()
                .ok_or_else(|| error(cond, "`conditions` is a mapping"))?
            {
                let values = values
                    .strings()
                    .ok_or_else(|| error(values, "a condition is a value or a list"))?;
                conditions.push((
                    field.text.clone(),
                    values.into_iter().map(str::to_string).collect(),
                ));
            }
        }
        let mut fields = BTreeMap::new();
        if let Some(map) = item.get("fields") {
            for (from, to) in map
                .as_map()
                .ok_or_else(|| error(map, "`fields` is a mapping"))?
            {
                let to = to
                    .as_str()
                    .ok_or_else(|| error(to, "a field maps to a field name"))?;
                fields.insert(from.text.clone(), to.to_string());
            }
        }
        Ok(CategorySource {
            service: service.to_string(),
            conditions,
            fields,
        })
    }

    /// The targets of a rule's logsource.
    pub fn resolve(&self, logsource: &LogSource) -> Resolution {
        if let Some(product) = &logsource.product
            && product != "windows"
        {
            return self.resolve_product(product, logsource.category.as_deref());
        }
        match (&logsource.category, &logsource.service) {
            (Some(category), service) => {
                let Some(sources) = self.categories.get(category) else {
                    return Resolution::Idle(format!(
                        "no channel is known for category `{category}` (add one with --mapping)"
                    ));
                };
                let targets: Vec<Target> = sources
                    .iter()
                    .filter(|s| service.as_ref().is_none_or(|svc| *svc == s.service))
                    .map(|s| Target {
                        service: Some(s.service.clone()),
                        channels: self.services.get(&s.service).cloned(),
                        conditions: s.conditions.clone(),
                        fields: s.fields.clone(),
                    })
                    .collect();
                if targets.is_empty() {
                    Resolution::Idle(format!(
                        "category `{category}` has no source in service `{}`",
                        service.as_deref().unwrap_or("")
                    ))
                } else {
                    Resolution::Targets(targets)
                }
            }
            (None, Some(service)) => match self.services.get(service) {
                Some(channels) => Resolution::Targets(vec![Target {
                    service: Some(service.clone()),
                    channels: Some(channels.clone()),
                    conditions: Vec::new(),
                    fields: BTreeMap::new(),
                }]),
                None => Resolution::Idle(format!(
                    "no channel is known for service `{service}` (add one with --mapping)"
                )),
            },
            (None, None) => Resolution::Targets(vec![Target {
                service: None,
                channels: None,
                conditions: Vec::new(),
                fields: BTreeMap::new(),
            }]),
        }
    }

    /// A product other than Windows: its source, narrowed by the rule's category if it has
    /// one (`category: firewall` of `product: fortigate`). Its service is not narrowed
    /// further: a device's or host's syslog is one stream.
    fn resolve_product(&self, product: &str, category: Option<&str>) -> Resolution {
        let Some(source) = self.products.get(product) else {
            return Resolution::Idle(format!(
                "product `{product}` has no source tansa reads (add one with --mapping)"
            ));
        };
        let target = |from: &CategorySource, conditions: Vec<_>| Target {
            service: Some(from.service.clone()),
            channels: self.services.get(&from.service).cloned(),
            conditions,
            fields: from.fields.clone(),
        };
        let Some(category) = category else {
            return Resolution::Targets(vec![target(source, source.conditions.clone())]);
        };
        let targets: Vec<Target> = self
            .categories
            .get(category)
            .into_iter()
            .flatten()
            .filter(|s| s.service == source.service)
            .map(|from| {
                let both = from.conditions.iter().chain(&source.conditions);
                target(from, both.cloned().collect())
            })
            .collect();
        if targets.is_empty() {
            Resolution::Idle(format!(
                "category `{category}` has no source for product `{product}`"
            ))
        } else {
            Resolution::Targets(targets)
        }
    }

    /// Service names and their channels, for documentation and `rules list`.
    pub fn services(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.services
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

fn error(node: &Node, message: &str) -> MappingError {
    MappingError {
        pos: node.pos,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource {
            product: product.map(Into::into),
            category: category.map(Into::into),
            service: service.map(Into::into),
            pos: Pos::default(),
        }
    }

    #[test]
    fn services_categories_and_products() {
        let mapping = Mapping::builtin();
        let Resolution::Targets(t) = mapping.resolve(&ls(Some("windows"), None, Some("security")))
        else {
            panic!()
        };
        assert_eq!(
            t[0].channels.as_deref(),
            Some(&["Security".to_string()][..])
        );

        let Resolution::Targets(t) =
            mapping.resolve(&ls(Some("windows"), Some("process_creation"), None))
        else {
            panic!()
        };
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].field_name("Image"), "NewProcessName");
        assert_eq!(
            t[1].conditions,
            [("EventID".to_string(), vec!["4688".to_string()])]
        );

        let Resolution::Targets(t) = mapping.resolve(&ls(
            Some("windows"),
            None,
            Some("terminalservices-rdpclient"),
        )) else {
            panic!()
        };
        assert_eq!(
            t[0].channels.as_ref().unwrap()[0],
            "Microsoft-Windows-TerminalServices-RDPClient/Operational"
        );

        // Other products read syslog, narrowed by what the parser recognised.
        let Resolution::Targets(t) = mapping.resolve(&ls(Some("linux"), None, Some("auth"))) else {
            panic!()
        };
        assert_eq!(t[0].channels.as_ref().unwrap(), &["syslog"]);
        assert!(t[0].conditions.is_empty());
        let Resolution::Targets(t) =
            mapping.resolve(&ls(Some("fortigate"), Some("firewall"), None))
        else {
            panic!()
        };
        assert_eq!(
            t[0].conditions,
            [("product".to_string(), vec!["fortigate".to_string()])]
        );
        let Resolution::Targets(t) = mapping.resolve(&ls(None, Some("firewall"), None)) else {
            panic!()
        };
        assert_eq!(t[0].channels.as_ref().unwrap(), &["syslog"]);
        assert!(matches!(
            mapping.resolve(&ls(Some("zeek"), None, Some("dns"))),
            Resolution::Idle(_)
        ));
        assert!(matches!(
            mapping.resolve(&ls(Some("linux"), Some("process_creation"), None)),
            Resolution::Idle(_)
        ));
        assert!(matches!(
            mapping.resolve(&ls(Some("windows"), Some("file_access"), None)),
            Resolution::Idle(_)
        ));
        let Resolution::Targets(t) = mapping.resolve(&ls(Some("windows"), None, None)) else {
            panic!()
        };
        assert_eq!(t[0].channels, None);
    }

    #[test]
    fn a_file_overrides_entries() {
        let mut mapping = Mapping::builtin();
        mapping
            .merge_text("services:\n  security: [Security, ForwardedEvents]\n")
            .unwrap();
        let Resolution::Targets(t) = mapping.resolve(&ls(None, None, Some("security"))) else {
            panic!()
        };
        assert_eq!(t[0].channels.as_ref().unwrap().len(), 2);
        let err = mapping
            .merge_text("categories:\n  x:\n    - service: nope\n")
            .unwrap_err();
        assert!(err.message.contains("nope"));
        assert_eq!(err.pos.line, 3);
    }
}
