//! Tolerant decoders for Calendly's JSON. Calendly documents some fields as nullable and sends
//! `null` for others it normally fills (calendly-api.md §0); `#[serde(default)]` alone accepts a
//! missing field but not an explicit `null`. And one odd item must never cost the whole page or
//! delivery: collections decode item by item, skipping (and logging) what does not fit.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// `null` or a missing field becomes `T::default()`.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A list whose items are decoded one by one: an item that does not decode is logged and
/// skipped; `null` or a value that is not a list is an empty list.
pub(crate) fn lenient_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let raw = serde_json::Value::deserialize(deserializer)?;
    let serde_json::Value::Array(items) = raw else {
        if !raw.is_null() {
            tracing::warn!(
                kind = json_kind(&raw),
                "Calendly sent a non-list where a list belongs; read as empty"
            );
        }
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .enumerate()
        .filter_map(|(index, item)| match serde_json::from_value(item) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(index, %error, item = std::any::type_name::<T>(), "skipped an item Calendly sent that could not be read");
                None
            }
        })
        .collect())
}

/// An optional object that is dropped (and logged) rather than failing its parent when its
/// shape is unexpected.
pub(crate) fn lenient_option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let raw = serde_json::Value::deserialize(deserializer)?;
    if raw.is_null() {
        return Ok(None);
    }
    match serde_json::from_value(raw) {
        Ok(value) => Ok(Some(value)),
        Err(error) => {
            tracing::warn!(%error, field = std::any::type_name::<T>(), "ignored a field Calendly sent that could not be read");
            Ok(None)
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Item {
        n: u32,
    }

    #[derive(Deserialize, Debug)]
    struct Holder {
        #[serde(default, deserialize_with = "null_default")]
        text: String,
        #[serde(default, deserialize_with = "lenient_vec")]
        items: Vec<Item>,
        #[serde(default, deserialize_with = "lenient_option")]
        one: Option<Item>,
    }

    #[test]
    fn an_explicit_null_reads_as_the_default() {
        let h: Holder = serde_json::from_str(r#"{"text":null,"items":null,"one":null}"#).unwrap();
        assert_eq!(h.text, "");
        assert!(h.items.is_empty());
        assert_eq!(h.one, None);
    }

    #[test]
    fn missing_fields_read_as_the_default() {
        let h: Holder = serde_json::from_str("{}").unwrap();
        assert_eq!(h.text, "");
        assert!(h.items.is_empty());
    }

    #[test]
    fn one_bad_item_is_skipped_and_the_rest_are_kept() {
        let h: Holder = serde_json::from_str(
            r#"{"items":[{"n":1},{"n":"two"},{"m":3},{"n":4}],"one":{"n":"x"}}"#,
        )
        .unwrap();
        assert_eq!(h.items, [Item { n: 1 }, Item { n: 4 }]);
        assert_eq!(
            h.one, None,
            "an unreadable optional object is dropped, not fatal"
        );
    }
}
