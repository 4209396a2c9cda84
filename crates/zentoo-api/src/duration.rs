//! Durations in specs: Go-style text (`90s`, `5m`, `1h30m`, `500ms`) as the CRD stores it,
//! parsed once when the object is read. A spec whose text is not a duration still reads (so
//! the controller can say so in status); [`Duration::get`] names the field.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;

/// A duration as a spec writes it: the text, and its value when it is one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Duration {
    text: String,
    value: Option<std::time::Duration>,
}

/// A spec's duration text is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: `{text}` is not a duration like 30s, 5m, 1h or 500ms")]
pub struct DurationError {
    /// The field, e.g. `spec.source.interval`.
    pub field: &'static str,
    /// What it holds (shortened).
    pub text: String,
}

impl Duration {
    /// The duration written as `text`.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let value = parse(&text);
        Duration { text, value }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value; an error naming `field` when the text is not a duration.
    pub fn get(&self, field: &'static str) -> Result<std::time::Duration, DurationError> {
        self.value.ok_or_else(|| DurationError {
            field,
            text: self.text.chars().take(200).collect(),
        })
    }
}

impl From<&str> for Duration {
    fn from(text: &str) -> Self {
        Duration::new(text)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Duration::new)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

/// Parses a Go-style duration: `90s`, `5m`, `1h30m`, `500ms`; `None` when `text` is not one
/// (no sign, no fraction, at least one unit).
pub fn parse(text: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = ["ms", "s", "m", "h"]
            .iter()
            .find(|u| rest.starts_with(**u))
            .map(|u| (*u, u.len()))?;
        rest = &rest[len..];
        total = total.checked_add(match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60)?),
            _ => Duration::from_secs(value.checked_mul(3600)?),
        })?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse("5m"), Some(Std::from_secs(300)));
        assert_eq!(parse("1h30m"), Some(Std::from_secs(5400)));
        assert_eq!(parse("250ms"), Some(Std::from_millis(250)));
        for bad in ["", "5", "m", "5x", "-1s", "1.5h"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_duration_reads_and_writes_as_its_text_and_names_its_field_when_bad() {
        let good: Duration = serde_json::from_value(serde_json::json!("1h30m")).unwrap();
        assert_eq!(good.get("spec.x"), Ok(Std::from_secs(5400)));
        assert_eq!(
            serde_json::to_value(&good).unwrap(),
            serde_json::json!("1h30m")
        );
        let bad: Duration = serde_json::from_value(serde_json::json!("soon")).unwrap();
        assert_eq!(
            serde_json::to_value(&bad).unwrap(),
            serde_json::json!("soon")
        );
        let error = bad.get("spec.source.interval").unwrap_err();
        assert_eq!(
            error.to_string(),
            "spec.source.interval: `soon` is not a duration like 30s, 5m, 1h or 500ms"
        );
        let schema = serde_json::to_value(schemars::schema_for!(Duration)).unwrap();
        assert_eq!(schema["type"], "string");
    }
}
