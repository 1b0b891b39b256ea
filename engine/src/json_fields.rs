//! How the typed fields of request bodies read JSON, where JSON and Rust
//! disagree. Used through `#[serde(deserialize_with = ...)]`.
//!
//! - JSON has one number type, and JSON Schema (docs/openapi.yaml) counts
//!   `9226.0` or `1e3` as integers: an integer field takes any number whose
//!   value is integral and in range. `9226.5` stays refused, and the error
//!   names the field (through `serde_path_to_error`). Numbers are read as
//!   JSON parsers read them, as IEEE doubles when written with a fraction or
//!   exponent: past 17 significant digits a fraction may round away, as it
//!   does for every client that reads the same JSON.
//! - An optional field is absent or has a value of its type: `null` is
//!   refused, as the schema says, rather than read as absent.
//!
//! `integer` asks a format that is not self-describing (bincode) for the
//! field's own size, so it reads it as the derived code would; `present`
//! is for JSON only.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Error, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};

/// An integer type a field may have.
pub trait Integer: Sized + TryFrom<u64> + TryFrom<i64> {
    /// As serde names the type in its messages (`expected u32`).
    const NAME: &'static str;
    /// Asks the format for this type's size.
    fn deserialize_sized<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

macro_rules! integer {
    ($type:ty, $method:ident) => {
        impl Integer for $type {
            const NAME: &'static str = stringify!($type);
            fn deserialize_sized<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.$method(IntegralVisitor(PhantomData))
            }
        }
    };
}
integer!(u32, deserialize_u32);
integer!(u64, deserialize_u64);

/// An integer field: integral numbers in range, whatever their spelling.
pub fn integer<'de, D: Deserializer<'de>, T: Integer>(deserializer: D) -> Result<T, D::Error> {
    T::deserialize_sized(deserializer)
}

/// An optional integer field: absent (with `#[serde(default)]`) or an
/// integer; `null` is refused.
pub fn present_integer<'de, D: Deserializer<'de>, T: Integer>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize_sized(deserializer).map(Some)
}

/// An optional field: absent (with `#[serde(default)]`) or a `T`; `null` is refused.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// An optional list of integers: absent (with `#[serde(default)]`) or a
/// list whose every element reads as an integer field does; `null` is refused.
pub fn present_integers<'de, D: Deserializer<'de>, T: Integer>(deserializer: D) -> Result<Option<Vec<T>>, D::Error> {
    struct Element<T>(T);
    impl<'de, T: Integer> Deserialize<'de> for Element<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            T::deserialize_sized(deserializer).map(Element)
        }
    }
    let elements: Vec<Element<T>> = Vec::deserialize(deserializer)?;
    Ok(Some(elements.into_iter().map(|Element(value)| value).collect()))
}

struct IntegralVisitor<T>(PhantomData<T>);

/// 2^64 and -2^63, the bounds of the integers a double converts to exactly here.
const U64_END: f64 = 18_446_744_073_709_551_616.0;
const I64_MIN: f64 = -9_223_372_036_854_775_808.0;

impl<T: Integer> Visitor<'_> for IntegralVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(T::NAME)
    }

    fn visit_u64<E: Error>(self, value: u64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }

    fn visit_i64<E: Error>(self, value: i64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(Unexpected::Signed(value), &self))
    }

    fn visit_f64<E: Error>(self, value: f64) -> Result<T, E> {
        if !value.is_finite() || value.fract() != 0.0 {
            return Err(E::invalid_type(Unexpected::Float(value), &self));
        }
        // Exact: the value is integral and within the target's range.
        if (0.0..U64_END).contains(&value) {
            self.visit_u64(value as u64)
        } else if (I64_MIN..0.0).contains(&value) {
            self.visit_i64(value as i64)
        } else {
            Err(E::invalid_value(Unexpected::Float(value), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(deserialize_with = "super::integer")]
        count: u32,
        #[serde(default, deserialize_with = "super::present_integer")]
        limit: Option<u64>,
        #[serde(default, deserialize_with = "super::present")]
        name: Option<String>,
        #[serde(default, deserialize_with = "super::present_integers")]
        numbers: Option<Vec<u32>>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn integral_numbers_are_integers_whatever_their_spelling() {
        for json in [r#"{"count": 9226}"#, r#"{"count": 9226.0}"#, r#"{"count": 9.226e3}"#, r#"{"count": 9226.000}"#] {
            assert_eq!(parse(json), Ok(Body { count: 9226, limit: None, name: None, numbers: None }), "{json}");
        }
        assert_eq!(parse(r#"{"count": 1, "numbers": [5489.0, 2]}"#).map(|b| b.numbers), Ok(Some(vec![5489, 2])));
        assert!(parse(r#"{"count": 1, "numbers": [1.5]}"#).is_err());
        assert!(parse(r#"{"count": 1, "numbers": null}"#).is_err());
        assert_eq!(parse(r#"{"count": -0.0}"#).map(|b| b.count), Ok(0));
        assert_eq!(parse(r#"{"count": 1, "limit": 1e15}"#).map(|b| b.limit), Ok(Some(1_000_000_000_000_000)));
    }

    #[test]
    fn fractions_out_of_range_and_other_types_are_refused() {
        for (json, expected) in [
            (r#"{"count": 9226.5}"#, "invalid type: floating point `9226.5`, expected u32"),
            (r#"{"count": 0.1}"#, "invalid type: floating point `0.1`, expected u32"),
            (r#"{"count": 4294967296}"#, "invalid value: integer `4294967296`, expected u32"),
            (r#"{"count": 4294967296.0}"#, "invalid value: integer `4294967296`, expected u32"),
            (r#"{"count": -1}"#, "invalid value: integer `-1`, expected u32"),
            (r#"{"count": -1.0}"#, "invalid value: integer `-1`, expected u32"),
            (r#"{"count": 1e300}"#, "invalid value: floating point `1e+300`, expected u32"),
            (r#"{"count": "1"}"#, "invalid type: string \"1\", expected u32"),
            (r#"{"count": null}"#, "invalid type: null, expected u32"),
        ] {
            let error = parse(json).expect_err(json);
            assert!(error.starts_with(expected), "{json}: {error}");
        }
    }

    #[test]
    fn an_optional_field_is_absent_or_has_a_value_but_is_never_null() {
        assert_eq!(parse(r#"{"count": 1, "name": "x"}"#).map(|b| b.name), Ok(Some("x".to_owned())));
        for json in [r#"{"count": 1, "name": null}"#, r#"{"count": 1, "limit": null}"#] {
            assert!(parse(json).expect_err(json).starts_with("invalid type: null"), "{json}");
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sized {
        #[serde(deserialize_with = "super::integer")]
        count: u32,
        #[serde(deserialize_with = "super::integer")]
        total: u64,
    }

    #[test]
    fn the_log_s_binary_format_reads_an_integer_field_at_its_size() {
        let value = Sized { count: 7, total: u64::MAX };
        let bytes = crate::codec::encode(&value).expect("encodes");
        assert_eq!(bytes.len(), 4 + 8);
        assert_eq!(crate::codec::decode::<Sized>(&bytes).expect("decodes"), value);
    }
}
