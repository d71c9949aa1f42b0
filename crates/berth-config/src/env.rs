//! `REGISTRY_*` environment overrides, with Distribution's rules: the variable name is
//! `REGISTRY_` plus the key path in upper case joined by `_`; the value is read as YAML;
//! variables apply in sorted name order, so `REGISTRY_STORAGE` (which replaces the whole
//! section) lands before `REGISTRY_STORAGE_DELETE_ENABLED` refines it.
//!
//! Overrides are applied to the YAML tree before it is checked, so a value from the
//! environment gets exactly the same checks and error messages as one from the file.

use serde_yaml::{Mapping, Value};

use crate::error::ConfigError;
use crate::schema::{Field, Kind, ROOT, auth_child, storage_child};
use crate::walk::{Origins, join, strip_tags};

pub(crate) const PREFIX: &str = "REGISTRY_";

/// Names the configuration file in registry:2 images rather than a key; never an override.
pub const CONFIG_PATH_VAR: &str = "REGISTRY_CONFIGURATION_PATH";

enum Outcome {
    Applied,
    /// Not applied; the text says why (the variable is named by the caller).
    Ignored(String),
}

pub(crate) fn apply(
    root: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
    warnings: &mut Vec<String>,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    // Byte order, as Go's sort of the environment: a parent sorts before its children.
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in vars {
        if name == CONFIG_PATH_VAR {
            continue;
        }
        if name == "REGISTRY_VERSION" {
            warnings.push(
                "environment variable REGISTRY_VERSION ignored: the configuration version \
                 comes from the file, as in Distribution"
                    .into(),
            );
            continue;
        }
        let segments: Vec<&str> = name[PREFIX.len()..].split('_').collect();
        if let Outcome::Ignored(why) = apply_one(root, &segments, &name, &value, origins)? {
            warnings.push(format!("environment variable {name} ignored: {why}"));
        }
    }
    Ok(())
}

fn matches_field(segment: &str, field: &Field) -> bool {
    // Distribution compares against the upper-cased field name, so only upper-case
    // variable names match.
    segment == field.name.to_ascii_uppercase() || field.env_alias == Some(segment)
}

fn is_text(kind: &Kind) -> bool {
    matches!(kind, Kind::Str | Kind::Text(_))
}

/// The variable's value as YAML. Where a string goes, the text is kept as written
/// ("0.10", "1e3" and "yes" stay themselves, as Go's decoder keeps them), and text that
/// is not valid YAML is still a fine string.
fn payload(raw: &str, kind: &Kind, var: &str) -> Result<Value, ConfigError> {
    match serde_yaml::from_str::<Value>(raw) {
        Ok(mut v) => {
            strip_tags(&mut v);
            if is_text(kind) && matches!(v, Value::Number(_) | Value::Bool(_)) {
                return Ok(Value::String(raw.trim().to_string()));
            }
            Ok(v)
        }
        Err(_) if is_text(kind) => Ok(Value::String(raw.to_string())),
        Err(e) => Err(ConfigError::Env {
            var: var.to_string(),
            problem: format!("the value {raw:?} is not valid YAML: {e}"),
        }),
    }
}

/// `storage: filesystem` and `auth: htpasswd` are shorthands for one-key mappings;
/// expand them so a variable can reach inside.
fn expand_shorthand(node: &mut Value, kind: &Kind) {
    if matches!(kind, Kind::Storage | Kind::Auth)
        && let Value::String(name) = node
    {
        let name = std::mem::take(name);
        *node = Value::Mapping(Mapping::from_iter([(Value::String(name), Value::Null)]));
    }
}

fn apply_one(
    root: &mut Value,
    segments: &[&str],
    var: &str,
    raw: &str,
    origins: &mut Origins,
) -> Result<Outcome, ConfigError> {
    let mut node = root;
    let mut kind: &Kind = &ROOT;
    let mut path = String::new();
    for (i, &segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let not_a_section = |path: &str| {
            Outcome::Ignored(format!("{path} is a single value or a list, not a section"))
        };
        match kind {
            Kind::Struct(fields) => {
                let Some(field) = fields.iter().find(|f| matches_field(segment, f)) else {
                    let shown = join(&path, &segment.to_ascii_lowercase());
                    return Ok(Outcome::Ignored(format!(
                        "{shown} is not a configuration key{}",
                        kube_hint(var)
                    )));
                };
                if node.is_null() {
                    *node = Value::Mapping(Mapping::new());
                }
                let Value::Mapping(map) = node else {
                    return Ok(not_a_section(&path));
                };
                path = join(&path, field.name);
                let key = Value::String(field.name.to_string());
                if last {
                    map.insert(key, payload(raw, &field.kind, var)?);
                    origins.record(&path, var);
                    return Ok(Outcome::Applied);
                }
                node = map.entry(key).or_insert(Value::Null);
                kind = &field.kind;
            }
            Kind::Map(_) | Kind::Any | Kind::Storage | Kind::Auth
                if !matches!(node, Value::Sequence(_)) =>
            {
                expand_shorthand(node, kind);
                if node.is_null() {
                    *node = Value::Mapping(Mapping::new());
                }
                let Value::Mapping(map) = node else {
                    return Ok(not_a_section(&path));
                };
                // Existing keys match case-insensitively; new ones are created in lower
                // case, as Distribution does.
                let existing = map
                    .keys()
                    .find(|k| k.as_str().is_some_and(|s| s.to_uppercase() == segment))
                    .cloned();
                let key_text = existing
                    .as_ref()
                    .and_then(Value::as_str)
                    .map_or_else(|| segment.to_ascii_lowercase(), str::to_string);
                let child: &Kind = match kind {
                    Kind::Map(inner) => inner,
                    Kind::Storage => storage_child(&key_text).map_or(&Kind::Any, |f| &f.kind),
                    Kind::Auth => auth_child(&key_text).map_or(&Kind::Any, |f| &f.kind),
                    _ => &Kind::Any,
                };
                path = join(&path, &key_text);
                let key = existing.unwrap_or(Value::String(key_text));
                if last {
                    map.insert(key, payload(raw, child, var)?);
                    origins.record(&path, var);
                    return Ok(Outcome::Applied);
                }
                node = map.entry(key).or_insert(Value::Null);
                kind = child;
            }
            Kind::List(_) | Kind::StrList | Kind::Any => {
                let index: usize = segment.parse().map_err(|_| ConfigError::Env {
                    var: var.to_string(),
                    problem: format!("{segment:?} is not a list index (0, 1, ...) for {path}"),
                })?;
                if node.is_null() {
                    *node = Value::Sequence(Vec::new());
                }
                if matches!(kind, Kind::StrList)
                    && matches!(node, Value::String(_) | Value::Number(_) | Value::Bool(_))
                {
                    *node = Value::Sequence(vec![std::mem::take(node)]);
                }
                let Value::Sequence(items) = node else {
                    return Ok(not_a_section(&path));
                };
                if index > items.len() {
                    return Err(ConfigError::Env {
                        var: var.to_string(),
                        problem: format!(
                            "index {index} is past the end of {path}, which has {} entries; \
                             add list entries in order",
                            items.len()
                        ),
                    });
                }
                if index == items.len() {
                    items.push(Value::Null);
                }
                let child: &Kind = match kind {
                    Kind::List(inner) => inner,
                    Kind::StrList => &Kind::Str,
                    _ => &Kind::Any,
                };
                path = format!("{path}[{index}]");
                if last {
                    items[index] = payload(raw, child, var)?;
                    origins.record(&path, var);
                    return Ok(Outcome::Applied);
                }
                node = &mut items[index];
                kind = child;
            }
            _ => return Ok(not_a_section(&path)),
        }
    }
    // Only reached for "REGISTRY_" followed by nothing.
    Ok(Outcome::Ignored("it names no configuration key".into()))
}

/// Kubernetes injects REGISTRY_PORT, REGISTRY_SERVICE_HOST, ... for a Service named
/// "registry"; say so, since the warning is otherwise puzzling.
fn kube_hint(var: &str) -> &'static str {
    let rest = &var[PREFIX.len()..];
    if rest == "PORT" || rest.starts_with("PORT_") || rest.starts_with("SERVICE_") {
        " (this looks like a variable Kubernetes sets for a Service named \"registry\"; \
         enableServiceLinks: false in the pod spec removes it)"
    } else {
        ""
    }
}
