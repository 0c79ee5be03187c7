//! A serde deserializer over the positioned YAML tree of [`super::yaml`].
//!
//! It exists so that one pass over a document reports *every* unknown field (with a "did you
//! mean") instead of stopping at the first, and so that the error that does stop
//! deserialization (a wrong type, a missing field) knows its field path and position.
//! Unknown fields are filtered out before serde sees them, which is why the raw types can keep
//! `deny_unknown_fields` for their schema while validation still collects everything.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    VariantAccess, Visitor,
};

use super::suggest::{expected_hint, similar};
use super::yaml::{Entry, Node, PathDisplay, Pos, Resolved, Seg, Value};

/// A problem found while deserializing, with where it is.
#[derive(Debug, Clone)]
pub struct Issue {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// Collects the problems that do not stop deserialization (unknown fields).
#[derive(Default)]
pub struct Ctx {
    issues: RefCell<Vec<Issue>>,
    /// Set when a wrong value was replaced by a placeholder: the result must not be used.
    substituted: Cell<bool>,
}

impl Ctx {
    /// The issues found, and whether the deserialized value contains placeholders.
    pub fn into_parts(self) -> (Vec<Issue>, bool) {
        (self.issues.into_inner(), self.substituted.get())
    }
}

/// The error that stops deserialization of one document.
#[derive(Debug)]
pub struct Error {
    message: String,
    hint: Option<String>,
    located: Option<(Vec<Seg>, Pos)>,
    missing_field: bool,
}

impl Error {
    /// Converts the error into an issue, prefixing the field path it happened at.
    pub fn into_issue(self, fallback: Pos) -> Issue {
        let (path, pos) = self.located.unwrap_or((Vec::new(), fallback));
        let message = if path.is_empty() {
            self.message
        } else {
            format!("{}: {}", PathDisplay(&path), self.message)
        };
        Issue {
            pos,
            message,
            hint: self.hint,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            message: msg.to_string(),
            hint: None,
            located: None,
            missing_field: false,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            message: format!("missing required field `{field}`"),
            hint: None,
            located: None,
            missing_field: true,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error {
            message: format!("unknown value `{variant}`"),
            hint: Some(expected_hint(variant, expected)),
            located: None,
            missing_field: false,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Error {
            message: format!("unknown field `{field}`"),
            hint: Some(expected_hint(field, expected)),
            located: None,
            missing_field: false,
        }
    }

    /// Never echoes string content: the field might be a secret.
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let found = describe(unexp);
        let expected = match exp.to_string().as_str() {
            "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number".to_string(),
            "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_string(),
            "f32" | "f64" => "a number".to_string(),
            "a boolean" => "`true` or `false`".to_string(),
            "a sequence" => "a list".to_string(),
            "a map" => "a mapping".to_string(),
            other if other.starts_with("struct ") => "a mapping".to_string(),
            other => other.to_string(),
        };
        Error::custom(format_args!("expected {expected}, found {found}"))
    }
}

fn describe(unexp: Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Str(_) | Unexpected::Char(_) => "a string".to_string(),
        Unexpected::Map => "a mapping".to_string(),
        Unexpected::Seq => "a list".to_string(),
        Unexpected::Unit | Unexpected::Option => "nothing".to_string(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, Copy)]
enum DeSeg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Deserializes one node. `key_pos` is the position of the mapping key that owns the node, so
/// that "missing field" points at `auth:` rather than at the first key inside it.
pub struct NodeDe<'a> {
    node: &'a Node,
    /// Borrowed from the tree, so descending costs no string copies; owned only on error.
    path: Vec<DeSeg<'a>>,
    key_pos: Option<Pos>,
    ctx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    pub fn root(node: &'a Node, ctx: &'a Ctx) -> Self {
        NodeDe {
            node,
            path: Vec::new(),
            key_pos: None,
            ctx,
        }
    }

    fn child(&self, node: &'a Node, seg: DeSeg<'a>, key_pos: Option<Pos>) -> NodeDe<'a> {
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend_from_slice(&self.path);
        path.push(seg);
        NodeDe {
            node,
            path,
            key_pos,
            ctx: self.ctx,
        }
    }

    fn owned_path(&self) -> Vec<Seg> {
        self.path
            .iter()
            .map(|seg| match seg {
                DeSeg::Key(k) => Seg::Key((*k).to_string()),
                DeSeg::Index(i) => Seg::Index(*i),
            })
            .collect()
    }

    fn locate(&self, mut err: Error) -> Error {
        if err.located.is_none() {
            let pos = if err.missing_field {
                self.key_pos.unwrap_or(self.node.pos)
            } else {
                self.node.pos
            };
            err.located = Some((self.owned_path(), pos));
        }
        err
    }

    /// Records a value of the wrong type and lets deserialization go on with a placeholder, so
    /// that one wrong value does not hide the problems after it. The document is rejected anyway.
    fn mismatch(&self, exp: &dyn de::Expected) {
        let issue = self.invalid(exp).into_issue(self.node.pos);
        self.ctx.issues.borrow_mut().push(issue);
        self.ctx.substituted.set(true);
    }

    fn invalid(&self, exp: &dyn de::Expected) -> Error {
        let unexp = match &self.node.value {
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
            Value::Scalar { .. } => match self.node.resolve() {
                Some(Resolved::Null) => Unexpected::Unit,
                Some(Resolved::Bool(b)) => Unexpected::Bool(b),
                Some(Resolved::Int(i)) => Unexpected::Signed(i),
                Some(Resolved::UInt(u)) => Unexpected::Unsigned(u),
                Some(Resolved::Float(f)) => Unexpected::Float(f),
                _ => Unexpected::Str(""),
            },
        };
        self.locate(<Error as de::Error>::invalid_type(unexp, exp))
    }

    fn visit_map_entries<V: Visitor<'a>>(
        self,
        visitor: V,
        fields: Option<&'static [&'static str]>,
    ) -> Result<V::Value, Error> {
        static EMPTY: [Entry; 0] = [];
        let entries: &'a [Entry] = match &self.node.value {
            Value::Map(entries) => entries,
            _ if self.node.is_null() => &EMPTY,
            _ => return Err(self.invalid(&visitor)),
        };
        let access = MapDe {
            all: entries,
            entries: entries.iter(),
            pending: None,
            fields,
            parent: &self,
        };
        visitor.visit_map(access).map_err(|e| self.locate(e))
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::Seq(_) => return self.deserialize_seq(visitor),
            Value::Map(_) => return self.visit_map_entries(visitor, None),
            Value::Scalar { text, .. } => match self.node.resolve() {
                Some(Resolved::Null) => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => visitor.visit_i64(i),
                Some(Resolved::UInt(u)) => visitor.visit_u64(u),
                Some(Resolved::Float(f)) => visitor.visit_f64(f),
                _ => visitor.visit_str(text),
            },
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.node.resolve() {
            Some(Resolved::Bool(b)) => visitor.visit_bool(b).map_err(|e| self.locate(e)),
            _ => {
                self.mismatch(&visitor);
                visitor.visit_bool(false).map_err(|e| self.locate(e))
            }
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match self.node.resolve() {
            Some(Resolved::Int(i)) => visitor.visit_i64(i),
            Some(Resolved::UInt(u)) => visitor.visit_u64(u),
            _ => {
                self.mismatch(&visitor);
                visitor.visit_u64(0)
            }
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match self.node.resolve() {
            Some(Resolved::Int(i)) => visitor.visit_i64(i),
            Some(Resolved::UInt(u)) => visitor.visit_u64(u),
            Some(Resolved::Float(f)) => visitor.visit_f64(f),
            _ => {
                self.mismatch(&visitor);
                visitor.visit_f64(0.0)
            }
        };
        result.map_err(|e| self.locate(e))
    }

    /// Any non-null scalar is accepted as a string: `project: 1234` or `name: true` mean the
    /// text the user typed, and rejecting them would only be pedantic.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Scalar { text, .. } if !self.node.is_null() => {
                visitor.visit_str(text).map_err(|e| self.locate(e))
            }
            _ => {
                self.mismatch(&visitor);
                visitor.visit_str("").map_err(|e| self.locate(e))
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_none().map_err(|e| self.locate(e))
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            visitor.visit_unit().map_err(|e| self.locate(e))
        } else {
            Err(self.invalid(&visitor))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A null list (`types:` with nothing after it) is an empty list, as in Kubernetes.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        static EMPTY: [Node; 0] = [];
        let items: &'de [Node] = match &self.node.value {
            Value::Seq(items) => items,
            _ if self.node.is_null() => &EMPTY,
            _ => {
                self.mismatch(&visitor);
                &EMPTY
            }
        };
        let access = SeqDe {
            items: items.iter().enumerate(),
            parent: &self,
        };
        visitor.visit_seq(access).map_err(|e| self.locate(e))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_map_entries(visitor, None)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.visit_map_entries(visitor, Some(fields))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = match &self.node.value {
            Value::Scalar { text, .. } if !self.node.is_null() => {
                // An unknown value is reported here and replaced by the first variant, so the
                // rest of the document is still checked.
                let variant = match variants.first() {
                    Some(first) if !variants.contains(&text.as_str()) => {
                        let err = <Error as de::Error>::unknown_variant(text, variants);
                        let issue = self.locate(err).into_issue(self.node.pos);
                        self.ctx.issues.borrow_mut().push(issue);
                        self.ctx.substituted.set(true);
                        first
                    }
                    _ => text.as_str(),
                };
                visitor.visit_enum(EnumDe {
                    variant,
                    value: None,
                    parent: &self,
                })
            }
            Value::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                match entry.key.as_str() {
                    Some(variant) => visitor.visit_enum(EnumDe {
                        variant,
                        value: Some(entry),
                        parent: &self,
                    }),
                    None => return Err(self.invalid(&visitor)),
                }
            }
            _ => return Err(self.invalid(&visitor)),
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u128 f32 char bytes byte_buf
    }
}

struct SeqDe<'a, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    parent: &'p NodeDe<'a>,
}

impl<'a> SeqAccess<'a> for SeqDe<'a, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => seed
                .deserialize(self.parent.child(node, DeSeg::Index(i), None))
                .map(Some),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'p> {
    all: &'a [Entry],
    entries: std::slice::Iter<'a, Entry>,
    pending: Option<(&'a Entry, &'a str)>,
    /// The struct's field names; keys not in it are reported and skipped.
    fields: Option<&'static [&'static str]>,
    parent: &'p NodeDe<'a>,
}

impl<'a> MapAccess<'a> for MapDe<'a, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        for entry in self.entries.by_ref() {
            // Non-string keys are reported by the tree builder.
            let Some(key) = entry.key.as_str() else {
                continue;
            };
            // Duplicate keys are reported by the tree builder; the first one counts.
            let first = self.all.iter().find(|e| e.key.as_str() == Some(key));
            if first.is_some_and(|f| !std::ptr::eq(f, entry)) {
                continue;
            }
            if let Some(fields) = self.fields {
                if !fields.contains(&key) {
                    let at = if self.parent.path.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", PathDisplay(&self.parent.owned_path()))
                    };
                    let hint = match similar(key, fields.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => expected_hint(key, fields),
                    };
                    self.parent.ctx.issues.borrow_mut().push(Issue {
                        pos: entry.key.pos,
                        message: format!("{at}unknown field `{key}`"),
                        hint: Some(hint),
                    });
                    continue;
                }
            }
            self.pending = Some((entry, key));
            let key_de: de::value::StrDeserializer<'_, Error> = key.into_deserializer();
            return seed.deserialize(key_de).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.pending.take() {
            Some((entry, key)) => seed.deserialize(self.parent.child(
                &entry.value,
                DeSeg::Key(key),
                Some(entry.key.pos),
            )),
            None => Err(de::Error::custom("value requested before key")),
        }
    }
}

struct EnumDe<'a, 'p> {
    variant: &'a str,
    value: Option<&'a Entry>,
    parent: &'p NodeDe<'a>,
}

impl<'a> EnumAccess<'a> for EnumDe<'a, '_> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'a>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let key_de: de::value::StrDeserializer<'_, Error> = self.variant.into_deserializer();
        let value = seed.deserialize(key_de)?;
        Ok((value, self))
    }
}

impl<'a> EnumDe<'a, '_> {
    fn value_de(&self) -> Result<NodeDe<'a>, Error> {
        match self.value {
            Some(entry) => {
                Ok(self
                    .parent
                    .child(&entry.value, DeSeg::Key(self.variant), Some(entry.key.pos)))
            }
            None => Err(de::Error::custom(format_args!(
                "`{}` needs a value: write it as `{}: ...`",
                self.variant, self.variant
            ))),
        }
    }
}

impl<'a> VariantAccess<'a> for EnumDe<'a, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None => Ok(()),
            Some(_) => Err(de::Error::custom(format_args!(
                "`{}` takes no value: write it as a plain string",
                self.variant
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self.value_de()?)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self.value_de()?, visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self.value_de()?, "", fields, visitor)
    }
}
