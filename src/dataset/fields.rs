//! Forgiving field types for the record structs.
//!
//! serde's own errors for a wrong type ("invalid type: null, expected a string") do not say
//! which field was wrong, and the lint output is only useful if it does. These types accept any
//! JSON value, remember what they got, and let the decoder phrase the error with the field's
//! name. Unwanted values are skipped with `IgnoredAny`, so nothing is built for them.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The kind of a JSON value, for messages such as `field "output" is null, expected a string`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        })
    }
}

/// A value that can stand for a JSON value of the wrong kind.
trait Mismatch {
    fn mismatch(kind: Kind) -> Self;
}

/// Implements the `Visitor` methods for the kinds a type does not accept, so each visitor only
/// spells out what it wants.
macro_rules! mismatch {
    ($($kind:ident),*) => { $(mismatch!(@$kind);)* };
    (@null) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Mismatch::mismatch(Kind::Null))
        }
    };
    (@bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Mismatch::mismatch(Kind::Bool))
        }
    };
    (@number) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Mismatch::mismatch(Kind::Number))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Mismatch::mismatch(Kind::Number))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Mismatch::mismatch(Kind::Number))
        }
    };
    (@string) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Mismatch::mismatch(Kind::String))
        }
    };
    (@array) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Mismatch::mismatch(Kind::Array))
        }
    };
    (@object) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Mismatch::mismatch(Kind::Object))
        }
    };
}

/// A string field, borrowed from the record when it has no escapes.
#[derive(Debug, Default)]
pub(super) enum Text<'a> {
    #[default]
    Missing,
    Str(Cow<'a, str>),
    Wrong(Kind),
}

impl Mismatch for Text<'_> {
    fn mismatch(kind: Kind) -> Self {
        Self::Wrong(kind)
    }
}

impl<'a> Text<'a> {
    pub fn required(self, name: &str) -> Result<Cow<'a, str>, String> {
        match self {
            Self::Str(text) => Ok(text),
            Self::Missing => Err(format!("missing field \"{name}\"")),
            Self::Wrong(kind) => Err(format!("field \"{name}\" is {kind}, expected a string")),
        }
    }

    /// Absent and null are the same for an optional field.
    pub fn optional(self, name: &str) -> Result<Option<Cow<'a, str>>, String> {
        match self {
            Self::Missing | Self::Wrong(Kind::Null) => Ok(None),
            other => other.required(name).map(Some),
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<Text<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text::Str(Cow::Owned(v)))
            }
            mismatch!(null, bool, number, array, object);
        }
        deserializer.deserialize_any(TextVisitor(PhantomData))
    }
}

/// A record id: datasets use strings or numbers, and a number is kept as written in decimal.
/// Other kinds are ignored rather than failing an otherwise good record.
#[derive(Debug, Default)]
pub(super) struct Id(pub Option<String>);

impl Mismatch for Id {
    fn mismatch(_: Kind) -> Self {
        Self(None)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl<'de> Visitor<'de> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Id(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Id(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Id(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Id(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Id(Some(v.to_string())))
            }
            mismatch!(null, bool, array, object);
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// A JSON value expected to be an object deserialized as `T`, or a bare string, which is a record
/// of its own in the `text` format.
#[derive(Debug)]
pub(super) enum Node<'a, T> {
    Map(T),
    Str(Cow<'a, str>),
    Wrong(Kind),
}

impl<T> Mismatch for Node<'_, T> {
    fn mismatch(kind: Kind) -> Self {
        Self::Wrong(kind)
    }
}

impl<T> Node<'_, T> {
    /// The object, or the kind found instead.
    pub fn object(self) -> Result<T, Kind> {
        match self {
            Self::Map(value) => Ok(value),
            Self::Str(_) => Err(Kind::String),
            Self::Wrong(kind) => Err(kind),
        }
    }
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for Node<'a, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor<'a, T>(PhantomData<Node<'a, T>>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for NodeVisitor<'a, T> {
            type Value = Node<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Node::Map)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Node::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Node::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Node::Str(Cow::Owned(v)))
            }
            mismatch!(null, bool, number, array);
        }
        deserializer.deserialize_any(NodeVisitor(PhantomData))
    }
}

/// An array field such as `"conversations"`.
#[derive(Debug, Default)]
pub(super) enum List<T> {
    #[default]
    Missing,
    Items(Vec<T>),
    Wrong(Kind),
}

impl<T> Mismatch for List<T> {
    fn mismatch(kind: Kind) -> Self {
        Self::Wrong(kind)
    }
}

impl<T> List<T> {
    pub fn required(self, name: &str) -> Result<Vec<T>, String> {
        match self {
            Self::Items(items) => Ok(items),
            Self::Missing => Err(format!("missing field \"{name}\"")),
            Self::Wrong(kind) => Err(format!("field \"{name}\" is {kind}, expected an array")),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List::Items(items))
            }
            mismatch!(null, bool, number, string, object);
        }
        deserializer.deserialize_any(ListVisitor(PhantomData))
    }
}

/// A chat message's `content`: a string, or OpenAI-style parts whose text parts are joined.
#[derive(Debug, Default)]
pub(super) enum Content<'a> {
    #[default]
    Missing,
    Text(Cow<'a, str>),
    /// Allowed by `OpenAI` for assistant messages that only call tools.
    Null,
    Wrong(Kind),
    /// A part that claims to be text but has no usable `text`.
    BadPart(String),
}

impl Mismatch for Content<'_> {
    fn mismatch(kind: Kind) -> Self {
        if kind == Kind::Null {
            Self::Null
        } else {
            Self::Wrong(kind)
        }
    }
}

impl<'a> Content<'a> {
    pub fn required(self) -> Result<Cow<'a, str>, String> {
        match self {
            Self::Text(text) => Ok(text),
            Self::Null => Ok(Cow::Borrowed("")),
            Self::Missing => Err("missing field \"content\"".to_owned()),
            Self::Wrong(kind) => Err(format!(
                "field \"content\" is {kind}, expected a string or an array of parts"
            )),
            Self::BadPart(reason) => Err(reason),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(expecting = "a content part object")]
struct Part<'a> {
    #[serde(default, borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(default, borrow)]
    text: Text<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor<'a>(PhantomData<Content<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for ContentVisitor<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v)))
            }
            /// Text parts are concatenated without a separator, as chat templates render them.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut joined = String::new();
                let mut problem = None;
                let mut index = 0;
                while let Some(part) = seq.next_element::<Node<'a, Part<'a>>>()? {
                    if problem.is_none() {
                        problem = join_part(&mut joined, part, index).err();
                    }
                    index += 1;
                }
                Ok(problem.map_or(Content::Text(Cow::Owned(joined)), Content::BadPart))
            }
            mismatch!(null, bool, number, object);
        }
        deserializer.deserialize_any(ContentVisitor(PhantomData))
    }
}

/// Appends a text part; parts of other types (images, audio) carry no transcript.
fn join_part(joined: &mut String, part: Node<'_, Part<'_>>, index: usize) -> Result<(), String> {
    let part = part
        .object()
        .map_err(|kind| format!("content part {index} is {kind}, expected an object"))?;
    let is_text = match part.kind.optional("type") {
        Ok(kind) => kind.is_none_or(|kind| kind == "text"),
        Err(reason) => return Err(format!("content part {index}: {reason}")),
    };
    if is_text {
        let text = part
            .text
            .required("text")
            .map_err(|reason| format!("content part {index}: {reason}"))?;
        joined.push_str(&text);
    }
    Ok(())
}
