//! Checks a YAML tree against the schema: names unknown and unsupported keys, refuses
//! values of the wrong type with the key path, and canonicalises what Go's YAML decoder
//! would have accepted (numbers where strings go, "yes" for true, a lone string for a
//! list) so the typed layer sees one shape.

use serde_yaml::{Mapping, Value};

use crate::duration::{DURATION_HELP, parse_go_duration};
use crate::error::ConfigError;
use crate::schema::{
    AUTH_TYPES, Checked, Field, Kind, STORAGE_DRIVERS, Support, auth_child, is_storage_special,
    storage_child,
};

/// Which `REGISTRY_*` variable set which key path, so errors can blame the variable.
#[derive(Default)]
pub(crate) struct Origins(Vec<(String, String)>);

impl Origins {
    pub(crate) fn record(&mut self, path: &str, var: &str) {
        self.0.push((path.to_string(), var.to_string()));
    }

    /// The variable that set `path` or the closest section above it.
    pub(crate) fn lookup(&self, path: &str) -> Option<String> {
        self.0
            .iter()
            .filter(|(p, _)| {
                path == p
                    || path
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .max_by_key(|(p, _)| p.len())
            .map(|(_, var)| var.clone())
    }
}

pub(crate) struct Walker<'a> {
    pub warnings: &'a mut Vec<String>,
    pub origins: &'a Origins,
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// How a value reads in an error message.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// YAML 1.1 booleans, which Go's yaml.v2 (and so every registry:2 config) accepts.
pub(crate) fn parse_bool_word(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Some(true),
        "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// Removes YAML tags (`!!str 5`), which carry nothing berth needs.
pub(crate) fn strip_tags(v: &mut Value) {
    match v {
        Value::Tagged(t) => {
            let inner = std::mem::replace(&mut t.value, Value::Null);
            *v = inner;
            strip_tags(v);
        }
        Value::Sequence(s) => s.iter_mut().for_each(strip_tags),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| strip_tags(v)),
        _ => {}
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggestion<'f>(key: &str, names: impl Iterator<Item = &'f str>) -> String {
    let lower = key.to_ascii_lowercase();
    let best = names
        .map(|n| {
            // A truncated name ("rootdir") is as likely a slip as a typo.
            let truncated = lower.len() >= 4 && n.starts_with(lower.as_str());
            (if truncated { 1 } else { distance(&lower, n) }, n)
        })
        .filter(|(d, n)| *d == 0 || (*d <= 2 && *d < n.len() / 2 + 1))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, name)) => format!(" (did you mean {name}?)"),
        None => String::new(),
    }
}

impl Walker<'_> {
    fn err(&self, path: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: None,
            key: path.to_string(),
            problem: problem.into(),
            env: self.origins.lookup(path),
        }
    }

    fn expected(&self, path: &str, what: &str, found: &Value) -> ConfigError {
        self.err(path, format!("expected {what}, found {}", describe(found)))
    }

    pub(crate) fn walk(
        &mut self,
        v: &mut Value,
        kind: &Kind,
        path: &str,
    ) -> Result<(), ConfigError> {
        match kind {
            Kind::Any => Ok(()),
            Kind::Str => match v {
                Value::String(_) => Ok(()),
                Value::Number(_) | Value::Bool(_) => {
                    *v = Value::String(describe(v));
                    Ok(())
                }
                _ => Err(self.expected(path, "a string", v)),
            },
            Kind::Bool => match v {
                Value::Bool(_) => Ok(()),
                Value::String(s) => match parse_bool_word(s) {
                    Some(b) => {
                        *v = Value::Bool(b);
                        Ok(())
                    }
                    None => Err(self.expected(path, "true or false", v)),
                },
                _ => Err(self.expected(path, "true or false", v)),
            },
            Kind::Int | Kind::UInt => {
                let unsigned = matches!(kind, Kind::UInt);
                let n = match v {
                    Value::Number(n) => n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)),
                    Value::String(s) => s.trim().parse::<i128>().ok(),
                    _ => None,
                };
                let what = if unsigned {
                    "a whole number of zero or more"
                } else {
                    "a whole number"
                };
                match n {
                    Some(n) if unsigned && n < 0 => Err(self.expected(path, what, v)),
                    Some(n) => {
                        *v = match (i64::try_from(n), u64::try_from(n)) {
                            (Ok(i), _) => Value::from(i),
                            (_, Ok(u)) => Value::from(u),
                            _ => return Err(self.err(path, format!("{n} is too large"))),
                        };
                        Ok(())
                    }
                    None => Err(self.expected(path, what, v)),
                }
            }
            Kind::Duration => match v {
                Value::String(s) => parse_go_duration(s)
                    .map(|_| ())
                    .map_err(|e| self.err(path, e)),
                Value::Number(n) => match n.as_u64() {
                    Some(0) => Ok(()),
                    Some(ns) => {
                        self.warnings.push(format!(
                            "{path}: {ns} has no unit and is read as {ns} nanoseconds, as \
                             Distribution does; write a unit, e.g. {ns}s"
                        ));
                        Ok(())
                    }
                    None => Err(self.expected(path, DURATION_HELP, v)),
                },
                _ => Err(self.expected(path, DURATION_HELP, v)),
            },
            Kind::Text(check) => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => describe(v),
                    _ => return Err(self.expected(path, "a string", v)),
                };
                match check(&text) {
                    Checked::Ok(canonical) => {
                        *v = Value::String(canonical);
                        Ok(())
                    }
                    Checked::Warn(canonical, warning) => {
                        *v = Value::String(canonical);
                        self.warnings.push(warning);
                        Ok(())
                    }
                    Checked::Err(problem) => Err(self.err(path, problem)),
                }
            }
            Kind::StrList => {
                if matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    *v = Value::Sequence(vec![std::mem::take(v)]);
                }
                let Value::Sequence(items) = v else {
                    return Err(self.expected(path, "a list of strings", v));
                };
                for (i, item) in items.iter_mut().enumerate() {
                    self.walk(item, &Kind::Str, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            Kind::List(inner) => {
                let Value::Sequence(items) = v else {
                    return Err(self.expected(path, "a list", v));
                };
                for (i, item) in items.iter_mut().enumerate() {
                    let p = format!("{path}[{i}]");
                    if item.is_null() {
                        continue;
                    }
                    self.walk(item, inner, &p)?;
                }
                Ok(())
            }
            Kind::Map(inner) => {
                let Value::Mapping(m) = v else {
                    return Err(self.expected(path, "a mapping", v));
                };
                for (k, item) in m.iter_mut() {
                    let key = self.key_text(k, path)?;
                    if !item.is_null() {
                        self.walk(item, inner, &join(path, &key))?;
                    }
                }
                Ok(())
            }
            Kind::Struct(fields) => {
                let Value::Mapping(m) = v else {
                    return Err(self.expected(path, "a section (a mapping of keys)", v));
                };
                self.fields(m, fields, path)
            }
            Kind::Storage => self.storage(v, path),
            Kind::Auth => self.auth(v, path),
        }
    }

    fn key_text(&self, k: &Value, path: &str) -> Result<String, ConfigError> {
        match k {
            Value::String(s) => Ok(s.clone()),
            Value::Number(_) | Value::Bool(_) => Ok(describe(k)),
            _ => Err(self.err(
                path,
                format!("has a key that is {}, not a name", describe(k)),
            )),
        }
    }

    /// Walks a section's keys: unknown ones are warned about, null scalars removed (they
    /// mean "default", as in Go), null sections replaced by empty ones.
    fn fields(&mut self, m: &mut Mapping, known: &[Field], path: &str) -> Result<(), ConfigError> {
        let mut drop = Vec::new();
        for (k, item) in m.iter_mut() {
            let key = self.key_text(k, path)?;
            let p = join(path, &key);
            let Some(field) = known.iter().find(|f| f.name == key) else {
                let hint = suggestion(&key, known.iter().map(|f| f.name));
                self.warnings.push(format!("unknown key {p} ignored{hint}"));
                continue;
            };
            if !self.entry(item, field, &p)? {
                drop.push(k.clone());
            }
        }
        m.retain(|k, _| !drop.contains(k));
        Ok(())
    }

    /// One known key. Returns false when the key should be dropped.
    fn entry(&mut self, v: &mut Value, field: &Field, path: &str) -> Result<bool, ConfigError> {
        if !v.is_null() {
            match field.support {
                Support::Yes => {}
                Support::No(why) => self
                    .warnings
                    .push(format!("{path}: not supported yet, ignored ({why})")),
                Support::Deprecated(instead) => self.warnings.push(format!(
                    "{path}: deprecated by Distribution, use {instead} instead"
                )),
            }
        }
        if v.is_null() {
            match field.kind {
                Kind::Struct(_) | Kind::Map(_) => *v = Value::Mapping(Mapping::new()),
                Kind::List(_) | Kind::StrList => *v = Value::Sequence(Vec::new()),
                Kind::Storage | Kind::Auth => return Ok(true),
                _ => return Ok(false),
            }
        }
        self.walk(v, &field.kind, path)?;
        Ok(true)
    }

    /// `storage`: a driver name, or a mapping of exactly one driver plus special keys.
    fn storage(&mut self, v: &mut Value, path: &str) -> Result<(), ConfigError> {
        if let Value::String(name) = v {
            let name = std::mem::take(name);
            *v = Value::Mapping(Mapping::from_iter([(Value::String(name), Value::Null)]));
        }
        let m = match v {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            _ => {
                return Err(self.expected(
                    path,
                    "a storage driver name or a mapping such as {filesystem: {rootdirectory: /var/lib/registry}}",
                    v,
                ));
            }
        };
        let mut drivers = Vec::new();
        for (k, item) in m.iter_mut() {
            let key = self.key_text(k, path)?;
            let p = join(path, &key);
            if !is_storage_special(&key) {
                drivers.push(key.clone());
            }
            match storage_child(&key) {
                Some(field) => {
                    if item.is_null() {
                        *item = Value::Mapping(Mapping::new());
                    }
                    self.entry(item, field, &p)?;
                }
                None => {
                    // Drivers berth does not know take free-form parameters.
                    if item.is_null() {
                        *item = Value::Mapping(Mapping::new());
                    }
                    if !item.is_mapping() {
                        return Err(self.expected(
                            &p,
                            "the driver's parameters as a mapping",
                            item,
                        ));
                    }
                }
            }
        }
        if drivers.len() > 1 {
            return Err(self.err(
                path,
                format!(
                    "more than one storage driver is configured ({}); keep exactly one (the \
                     other keys allowed here are delete, maintenance, cache, redirect, tag). \
                     To switch drivers from the environment, set REGISTRY_STORAGE to the new \
                     driver: it replaces the whole storage section",
                    drivers.join(", ")
                ),
            ));
        }
        if let Some(name) = drivers.first()
            && !STORAGE_DRIVERS.iter().any(|f| f.name == name)
        {
            self.warnings.push(format!(
                "{path}.{name}: the {name} storage driver is not supported yet (berth supports \
                 filesystem and inmemory)"
            ));
        }
        Ok(())
    }

    /// `auth`: an access-controller name, or a mapping with exactly one of them.
    fn auth(&mut self, v: &mut Value, path: &str) -> Result<(), ConfigError> {
        if let Value::String(name) = v {
            let name = std::mem::take(name);
            *v = Value::Mapping(Mapping::from_iter([(Value::String(name), Value::Null)]));
        }
        let m = match v {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            _ => return Err(self.expected(path, "an authentication type or a mapping", v)),
        };
        if m.len() > 1 {
            let names: Vec<String> = m.keys().map(describe).collect();
            return Err(self.err(
                path,
                format!(
                    "configure exactly one of htpasswd, token, silly, none; found {}",
                    names.join(", ")
                ),
            ));
        }
        for (k, item) in m.iter_mut() {
            let key = self.key_text(k, path)?;
            let p = join(path, &key);
            if item.is_null() {
                *item = Value::Mapping(Mapping::new());
            }
            match auth_child(&key) {
                Some(field) => {
                    self.entry(item, field, &p)?;
                }
                None => {
                    let hint = suggestion(&key, AUTH_TYPES.iter().map(|f| f.name));
                    self.warnings.push(format!(
                        "{p}: unknown authentication type{hint}; Distribution knows htpasswd, \
                         token, silly"
                    ));
                }
            }
        }
        Ok(())
    }
}
