//! Typed reads that refuse to round: a document becomes a Rust value only if every number fits the field it lands in exactly.
//!
//! serde_json (with `arbitrary_precision`) already refuses an integer field
//! for `1.5`, `1e2` or `300` in a `u8`. What it does not refuse is rounding
//! into a float: `9007199254740993` or `1e400` into an `f64`. Here a float
//! field takes a number only if the float's shortest spelling is the same
//! number ([`f64_holds`]): `0.1` fits, `9007199254740993` does not.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::{Error, Value};

use super::number::{f32_holds, f64_holds};

/// `deserialize_f64`/`deserialize_f32`: a number is handed to the visitor
/// only if the float holds it exactly (its shortest spelling is the same
/// number); anything else is refused, never rounded.
macro_rules! exact_float {
    ($method:ident, $ty:ty, $holds:ident, $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0 {
                Value::Number(n) => {
                    let text = n.as_str();
                    let x: $ty = text.parse().map_err(|_| not_held(text, stringify!($ty)))?;
                    if !$holds(text, x) {
                        return Err(not_held(text, stringify!($ty)));
                    }
                    visitor.$visit(x)
                }
                other => other.$method(visitor),
            }
        }
    };
}

/// `serde_json::from_value`, except that a number a field cannot hold
/// exactly is an error instead of being rounded.
///
/// ```
/// use jlock_json::from_value_exact;
/// use serde_json::json;
///
/// assert_eq!(from_value_exact::<f64>(&json!(0.5)).unwrap(), 0.5);
/// let big: serde_json::Value = serde_json::from_str("9007199254740993").unwrap();
/// assert!(from_value_exact::<f64>(&big).is_err());
/// assert_eq!(from_value_exact::<u64>(&big).unwrap(), 9007199254740993);
/// ```
pub fn from_value_exact<T: DeserializeOwned>(value: &Value) -> Result<T, Error> {
    T::deserialize(Exact(value))
}

struct Exact<'a>(&'a Value);

fn not_held(text: &str, ty: &str) -> Error {
    de::Error::custom(format_args!(
        "the number {text} cannot be held exactly by an {ty} (it would be rounded)"
    ))
}

impl<'de> Exact<'de> {
    fn seq<V: Visitor<'de>>(items: &'de [Value], visitor: V) -> Result<V::Value, Error> {
        let mut seq = Seq(items.iter());
        let out = visitor.visit_seq(&mut seq)?;
        if seq.0.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(
                items.len(),
                &"fewer elements in array",
            ))
        }
    }

    fn map<V: Visitor<'de>>(
        map: &'de serde_json::Map<String, Value>,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut access = Map {
            iter: map.iter(),
            value: None,
        };
        let out = visitor.visit_map(&mut access)?;
        if access.iter.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(
                map.len(),
                &"fewer elements in map",
            ))
        }
    }
}

macro_rules! delegate {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.0.$method(visitor)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Exact<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => Exact::seq(items, visitor),
            Value::Object(map) => Exact::map(map, visitor),
            // serde_json hands a number that is not an integer to an untyped
            // visitor (`#[serde(flatten)]`, `untagged`) as an f64 only if it is
            // spelled as Rust would print it, and else as a private map that
            // only `Number` understands, so `1.50` or `1E2` would fail there.
            // An f64 that holds the number exactly serves them all.
            Value::Number(n) if n.as_str().contains(['.', 'e', 'E']) => {
                match n.as_str().parse::<f64>() {
                    Ok(x) if f64_holds(n.as_str(), x) => visitor.visit_f64(x),
                    _ => self.0.deserialize_any(visitor),
                }
            }
            other => other.deserialize_any(visitor),
        }
    }

    exact_float!(deserialize_f64, f64, f64_holds, visit_f64);
    exact_float!(deserialize_f32, f32, f32_holds, visit_f32);

    delegate! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_unit deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => Exact::seq(items, visitor),
            other => other.deserialize_seq(visitor),
        }
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
        match self.0 {
            Value::Object(map) => Exact::map(map, visitor),
            other => other.deserialize_map(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(map) => Exact::map(map, visitor),
            Value::Array(items) => Exact::seq(items, visitor),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(map) if map.len() == 1 => {
                let Some((key, value)) = map.iter().next() else {
                    return Err(de::Error::custom("an enum needs one key"));
                };
                visitor.visit_enum(Enum { key, value })
            }
            other => other.deserialize_enum(name, variants, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some(v) => seed.deserialize(Exact(v)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(Key(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Exact(v)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A map key: a string, also read as an integer or boolean for maps keyed by
/// those types, as serde_json does.
struct Key<'a>(&'a str);

macro_rules! key_parse {
    ($($method:ident => $visit:ident),*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                match self.0.parse() {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => Err(de::Error::invalid_value(de::Unexpected::Str(self.0), &visitor)),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Key<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.0)
    }

    key_parse! {
        deserialize_i8 => visit_i8, deserialize_i16 => visit_i16, deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64, deserialize_i128 => visit_i128, deserialize_u8 => visit_u8,
        deserialize_u16 => visit_u16, deserialize_u32 => visit_u32, deserialize_u64 => visit_u64,
        deserialize_u128 => visit_u128, deserialize_bool => visit_bool
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::value::BorrowedStrDeserializer::<Error>::new(self.0)
            .deserialize_enum(name, variants, visitor)
    }

    forward_to_deserialize_any! {
        f32 f64 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct Enum<'a> {
    key: &'a str,
    value: &'a Value,
}

impl<'de> EnumAccess<'de> for Enum<'de> {
    type Error = Error;
    type Variant = Variant<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Variant<'de>), Error> {
        let v = seed.deserialize(de::value::BorrowedStrDeserializer::<Error>::new(self.key))?;
        Ok((v, Variant(self.value)))
    }
}

struct Variant<'a>(&'a Value);

impl<'de> VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(Exact(self.0))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(Exact(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        Exact(self.0).deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        Exact(self.0).deserialize_struct("", fields, visitor)
    }
}

impl fmt::Debug for Exact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Exact").field(self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::{BTreeMap, HashMap};

    fn v(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Prices {
        id: u64,
        price: f64,
        ratio: Option<f32>,
        tags: Vec<String>,
        #[serde(default)]
        extra: BTreeMap<u32, i8>,
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        Plain,
        Sized(u8),
        Shaped { w: f64 },
    }

    #[test]
    fn exact_numbers_convert() {
        let doc = v(
            r#"{"id": 18446744073709551615, "price": 0.1, "ratio": 0.5, "tags": ["a"],
                        "extra": {"7": -1}, "kind": {"Shaped": {"w": 1E2}}, "ignored": [1e400]}"#,
        );
        let p: Prices = from_value_exact(&doc).unwrap();
        assert_eq!(p.id, u64::MAX);
        assert_eq!(p.price, 0.1);
        assert_eq!(p.ratio, Some(0.5));
        assert_eq!(p.extra[&7], -1);
        assert_eq!(p.kind, Kind::Shaped { w: 100.0 });
        let plain: Kind = from_value_exact(&v(r#""Plain""#)).unwrap();
        assert_eq!(plain, Kind::Plain);
        let sized: Kind = from_value_exact(&v(r#"{"Sized": 7}"#)).unwrap();
        assert_eq!(sized, Kind::Sized(7));
        let any: Value = from_value_exact(&v("[1e400, 0.9999999999999999]")).unwrap();
        assert_eq!(any.to_string(), "[1e+400,0.9999999999999999]");
        let map: HashMap<String, f64> = from_value_exact(&v(r#"{"a": 2.5}"#)).unwrap();
        assert_eq!(map["a"], 2.5);
    }

    #[test]
    fn rounding_is_refused() {
        for (doc, why) in [
            (
                r#"{"id": 1, "price": 9007199254740993, "ratio": null, "tags": [], "kind": "Plain"}"#,
                "f64",
            ),
            (
                r#"{"id": 1, "price": 1e400, "ratio": null, "tags": [], "kind": "Plain"}"#,
                "f64",
            ),
            (
                r#"{"id": 1, "price": 2.4e-324, "ratio": null, "tags": [], "kind": "Plain"}"#,
                "f64",
            ),
            (
                r#"{"id": 1, "price": 1, "ratio": 16777217, "tags": [], "kind": "Plain"}"#,
                "f32",
            ),
        ] {
            let e = from_value_exact::<Prices>(&v(doc)).unwrap_err();
            assert!(e.to_string().contains(why), "{doc}: {e}");
        }
        for doc in [
            r#"{"id": 18446744073709551616, "price": 1, "ratio": null, "tags": [], "kind": "Plain"}"#,
            r#"{"id": 1.5, "price": 1, "ratio": null, "tags": [], "kind": "Plain"}"#,
            r#"{"id": 1e2, "price": 1, "ratio": null, "tags": [], "kind": "Plain"}"#,
            r#"{"id": 1, "price": 1, "ratio": null, "tags": [], "kind": {"Sized": 300}}"#,
        ] {
            assert!(from_value_exact::<Prices>(&v(doc)).is_err(), "{doc}");
        }
        assert!(from_value_exact::<i64>(&v("12345678901234567890123")).is_err());
        assert!(from_value_exact::<Flat>(&v(r#"{"price": 1e400}"#)).is_err());
        assert!(from_value_exact::<Flat>(&v(r#"{"price": 9007199254740993.0}"#)).is_err());
    }

    #[derive(Debug, Deserialize)]
    struct Flat {
        #[serde(flatten)]
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    struct Inner {
        price: f64,
    }

    #[test]
    fn flattened_floats_in_any_spelling() {
        // serde_json alone (arbitrary_precision) fails on these.
        for (text, price) in [("0.1", 0.1), ("1.50", 1.5), ("1E2", 100.0), ("-0.0", -0.0)] {
            let doc = v(&format!(r#"{{"price": {text}}}"#));
            let canonical = text == "0.1" || text == "-0.0";
            assert_eq!(
                serde_json::from_value::<Flat>(doc.clone()).is_ok(),
                canonical
            );
            assert_eq!(
                from_value_exact::<Flat>(&doc).unwrap().inner.price,
                price,
                "{text}"
            );
        }
        assert!(from_value_exact::<(u8, u8)>(&v("[1, 2, 3]")).is_err());
    }
}
