use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Options or labels: ordered key/value pairs with unique keys (libnetwork's
/// `map[string]string`, without its random order).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Options(Vec<(String, String)>);

impl Options {
    /// No options.
    pub fn new() -> Self {
        Options(Vec::new())
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`, replacing its value if it was set; keeps the first position.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs, by value.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }

    /// The value of `key` parsed as `T`; an `invalid-parameter` error naming the key and
    /// the value when it does not parse.
    pub fn parse<T>(&self, key: &str) -> crate::Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(key)
            .map(|v| {
                v.parse::<T>().map_err(|e| {
                    Error::invalid_parameter(format!("option `{key}`: invalid value `{v}`: {e}"))
                })
            })
            .transpose()
    }

    /// The value of `key` as a boolean, with Go's `strconv.ParseBool` spellings that
    /// Docker accepts (`true`, `false`, `1`, `0`, `t`, `f`, in any case).
    pub fn bool(&self, key: &str) -> crate::Result<Option<bool>> {
        self.get(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "1" | "t" | "true" => Ok(true),
                "0" | "f" | "false" => Ok(false),
                _ => Err(Error::invalid_parameter(format!(
                    "option `{key}`: invalid value `{v}`: expected true or false"
                ))),
            })
            .transpose()
    }

    /// Fails with an `invalid-parameter` error naming the first key not in `known`, so a
    /// typo is an error rather than a silent default.
    pub fn deny_unknown(&self, known: &[&str]) -> crate::Result<()> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some((k, _)) => Err(Error::invalid_parameter(format!(
                "unknown option `{k}`; known options: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))),
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Options {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut out = Options::new();
        for (k, v) in iter {
            out.insert(k, v);
        }
        out
    }
}

impl From<Vec<(String, String)>> for Options {
    fn from(pairs: Vec<(String, String)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Options {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_replaces_and_keeps_order() {
        let mut o: Options = [("a", "1"), ("b", "2")].into_iter().collect();
        o.insert("a", "3");
        assert_eq!(o.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(o.remove("a").as_deref(), Some("3"));
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn typed_parsing_names_key_and_value() {
        let o: Options = [("mtu", "abc"), ("ok", "1500"), ("flag", "T")]
            .into_iter()
            .collect();
        assert_eq!(o.parse::<u32>("ok").unwrap(), Some(1500));
        assert_eq!(o.parse::<u32>("missing").unwrap(), None);
        let err = o.parse::<u32>("mtu").unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::InvalidParameter);
        assert!(
            err.message.contains("`mtu`") && err.message.contains("`abc`"),
            "{err}"
        );
        assert_eq!(o.bool("flag").unwrap(), Some(true));
        assert!(o.bool("ok").is_err());
    }

    #[test]
    fn deny_unknown_names_the_typo() {
        let o: Options = [("parent", "eth0"), ("macvlan_mod", "bridge")]
            .into_iter()
            .collect();
        let err = o.deny_unknown(&["parent", "macvlan_mode"]).unwrap_err();
        assert!(err.message.contains("`macvlan_mod`"), "{err}");
        assert!(o.deny_unknown(&["parent", "macvlan_mod"]).is_ok());
    }
}
