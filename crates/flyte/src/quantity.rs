//! Kubernetes resource quantities (`500m`, `2`, `4Gi`, `1.5e9`), checked when a config is read.
//!
//! Flyte passes them through as strings and Kubernetes rejects a bad one only when the pods are
//! created, long after registration; checking here turns a stuck job into an error at the
//! command line.
//!
//! It is also the grammar of the byte sizes the command line takes (`--memory-limit 4Gi`), which
//! only translate Dask's spellings of the units into it, so a size means the same in a flag and
//! in a pod spec.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid Kubernetes quantity, kept as written (Flyte and Kubernetes both carry the string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity(String);

/// Why a quantity is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a Kubernetes quantity: use a number with an optional suffix, e.g. 500m, 2, \
     1.5, 512Mi, 4Gi, 10G or 1e9"
)]
pub struct QuantityError(String);

const SUFFIXES: &[(&str, f64)] = &[
    ("Ki", 1024.0),
    ("Mi", 1048576.0),
    ("Gi", 1073741824.0),
    ("Ti", 1099511627776.0),
    ("Pi", 1125899906842624.0),
    ("Ei", 1152921504606846976.0),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
];

impl Quantity {
    /// Parses `text` with the grammar of Kubernetes' `resource.Quantity`.
    ///
    /// # Errors
    ///
    /// When `text` is not a signed decimal number followed by an optional SI suffix or a
    /// decimal exponent.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        Self::value_of(text)
            .map(|_| Quantity(text.to_string()))
            .ok_or_else(|| QuantityError(text.to_string()))
    }

    /// The quantity as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The numeric value (cores for CPU, bytes for memory).
    pub fn value(&self) -> f64 {
        Self::value_of(&self.0).expect("checked when parsed")
    }

    fn value_of(text: &str) -> Option<f64> {
        let end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(end);
        let digits = number.strip_prefix(['+', '-']).unwrap_or(number);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        let number: f64 = number.parse().ok()?;
        let scale = if suffix.is_empty() {
            1.0
        } else if let Some(exponent) = suffix.strip_prefix(['e', 'E']) {
            let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if unsigned.is_empty() || !all_digits(unsigned) {
                return None;
            }
            10f64.powi(exponent.parse().ok()?)
        } else {
            SUFFIXES.iter().find(|(s, _)| *s == suffix)?.1
        };
        Some(number * scale)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Accepts a string or a number, as flytekit's `Resources(cpu=2)` does (`str(2)` is `"2"`).
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a Kubernetes quantity such as \"2\", \"500m\" or \"4Gi\"",
            )
        })? {
            Raw::Int(n) => n.to_string(),
            Raw::Float(x) => format!("{x:?}"),
            Raw::Text(s) => s,
        };
        Quantity::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kubernetes_quantities() {
        for (text, value) in [
            ("2", 2.0),
            ("500m", 0.5),
            ("1.5", 1.5),
            ("4Gi", 4.0 * 1073741824.0),
            ("17G", 17e9),
            ("1e3", 1000.0),
            ("+.5", 0.5),
            ("16Gi", 16.0 * 1073741824.0),
        ] {
            assert_eq!(Quantity::parse(text).unwrap().value(), value, "{text}");
        }
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for text in ["", "Gi", "4 Gi", "4GB", "four", "1.2.3", "1e", "4gi", "."] {
            let err = Quantity::parse(text).unwrap_err().to_string();
            assert!(
                err.contains("is not a Kubernetes quantity"),
                "{text}: {err}"
            );
        }
    }
}
