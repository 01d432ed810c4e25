//! The outer shape of a Telemetry/Logs API body, read without building a JSON tree for it.
//!
//! Function log lines are the receiver's hot path. Parsed as a `serde_json::Value`, each event cost a map and
//! five strings (`type`, `time` and the three key names), all dropped a moment later. Here the keys are matched
//! in place, `type` and `time` are borrowed from the body (owned only when they hold escapes), and only `record`
//! becomes a `Value`. The leniency is the tree's: any element may be anything, any field any type.

use std::{borrow::Cow, fmt};

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// One element of a batch.
pub(super) enum Item<'a> {
    Event(Envelope<'a>),
    /// Anything but a JSON object.
    NotAnObject,
}

/// An event's envelope: its known fields, and how many others it had. A key given twice keeps its last value.
#[derive(Default)]
pub(super) struct Envelope<'a> {
    pub kind: Text<'a>,
    pub time: Text<'a>,
    pub record: Option<Value>,
    pub unknown_fields: usize,
}

/// A field that should hold a string.
#[derive(Default)]
pub(super) enum Text<'a> {
    /// Not given, or `null`.
    #[default]
    Absent,
    Str(Cow<'a, str>),
    /// Any other JSON value.
    Other,
}

/// A body's items: a JSON array, or one bare object (some local emulators send that) as a batch of one.
/// `None` when the body is neither, or is not JSON at all.
pub(super) fn parse_items(body: &[u8]) -> Option<Vec<Item<'_>>> {
    serde_json::from_slice::<Batch>(body).ok().map(|batch| batch.0)
}

struct Batch<'a>(Vec<Item<'a>>);

impl<'de> Deserialize<'de> for Batch<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BatchVisitor;
        impl<'de> Visitor<'de> for BatchVisitor {
            type Value = Batch<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of events or one event")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Batch(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Ok(Batch(vec![Item::Event(read_envelope(map)?)]))
            }
        }
        deserializer.deserialize_any(BatchVisitor)
    }
}

fn read_envelope<'de, A: MapAccess<'de>>(mut map: A) -> Result<Envelope<'de>, A::Error> {
    let mut envelope = Envelope::default();
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Type => envelope.kind = map.next_value()?,
            Key::Time => envelope.time = map.next_value()?,
            Key::Record => envelope.record = Some(map.next_value()?),
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
                envelope.unknown_fields += 1;
            }
        }
    }
    Ok(envelope)
}

/// An envelope's key, matched without copying it.
enum Key {
    Type,
    Time,
    Record,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, name: &str) -> Result<Key, E> {
                Ok(match name {
                    "type" => Key::Type,
                    "time" => Key::Time,
                    "record" => Key::Record,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

/// What a value that is neither a string, null nor an object gives: `$other`; an array's elements are read and
/// dropped.
macro_rules! other_values {
    ($other:expr) => {
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item<'de>;
    other_values!(Item::NotAnObject);
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Item::NotAnObject)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Item::NotAnObject)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Item::Event(read_envelope(map)?))
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    other_values!(Text::Other);
    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Borrowed(text)))
    }
    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Owned(text)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Text::Absent)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(field: &Text) -> String {
        match field {
            Text::Absent => "absent".into(),
            Text::Str(Cow::Borrowed(text)) => format!("borrowed {text}"),
            Text::Str(Cow::Owned(text)) => format!("owned {text}"),
            Text::Other => "other".into(),
        }
    }

    /// Each item as `kind | time | record | unknown fields`, or `not an object`.
    fn items(body: &str) -> Option<Vec<String>> {
        let items = parse_items(body.as_bytes())?;
        let describe = |item: &Item| match item {
            Item::NotAnObject => "not an object".to_string(),
            Item::Event(e) => {
                let record = e.record.as_ref().map_or("absent".to_string(), Value::to_string);
                format!("{} | {} | {record} | {}", text(&e.kind), text(&e.time), e.unknown_fields)
            }
        };
        Some(items.iter().map(describe).collect())
    }

    #[test]
    fn strings_are_borrowed_unless_they_hold_escapes() {
        let body = r#"[{"type":"function","time":"2022-10-12T00:00:15.064Z","record":"a\nb"},
                       {"type":"fun\u0063tion","time":"2022-10-12T00:00:15.064\u005a","record":"x"}]"#;
        assert_eq!(
            items(body).unwrap(),
            [
                r#"borrowed function | borrowed 2022-10-12T00:00:15.064Z | "a\nb" | 0"#,
                r#"owned function | owned 2022-10-12T00:00:15.064Z | "x" | 0"#,
            ]
        );
    }

    #[test]
    fn any_value_in_any_field_is_read_and_kept_apart() {
        let body = r#"[{"type":7,"time":null,"record":null},
                       {"type":["function"],"time":{"at":"2022-10-12T00:00:15Z"},"record":{"k":[1,{"n":null}]}},
                       {"type":true,"time":1.5,"extra":{"a":[1,2]},"more":[[],{}],"flag":false,"none":null,"n":-1},
                       {}]"#;
        assert_eq!(
            items(body).unwrap(),
            [
                "other | absent | null | 0",
                r#"other | other | {"k":[1,{"n":null}]} | 0"#,
                "other | other | absent | 5",
                "absent | absent | absent | 0",
            ]
        );
    }

    #[test]
    fn elements_that_are_not_objects_are_read_whole_and_the_batch_goes_on() {
        let body =
            r#"[1, -2, 3.5, "s\"q", true, null, [], [{"type":"function","record":"hidden"}], {"type":"function"}]"#;
        let described = items(body).unwrap();
        assert_eq!(described[..8], ["not an object"; 8]);
        assert_eq!(described[8], "borrowed function | absent | absent | 0");
    }

    #[test]
    fn a_key_given_twice_keeps_its_last_value() {
        let body = r#"{"type":"extension","record":"first","type":"function","record":"second","x":1,"x":2}"#;
        assert_eq!(items(body).unwrap(), [r#"borrowed function | absent | "second" | 2"#]);
    }

    #[test]
    fn only_arrays_and_objects_are_batches() {
        for body in ["", "  ", "not json", "42", "\"[]\"", "null", "true", "[1, 2", "[{}] x", "{\"type\":"] {
            assert!(items(body).is_none(), "{body:?}");
        }
        assert_eq!(items(" [ ] ").unwrap(), Vec::<String>::new());
    }
}
