//! Exact decimal numbers: comparing JSON numbers by value and adding them in base 10, without rounding and within stated bounds.
//!
//! A JSON number is kept as the text it was written with (serde_json's
//! `arbitrary_precision`). This module reads that text as an exact decimal,
//! `±digits × 10^exponent`, to answer two questions:
//!
//! * are two spellings the same number (`1E2`, `100`, `1.00e+2`)? — [`same_value`];
//! * what is `a + b`, exactly? — [`add`], used by `incr`.
//!
//! # How a sum is spelled
//!
//! * Two integers (no `.`, no exponent) give an integer, of any size:
//!   `18446744073709551615 + 1 = 18446744073709551616`.
//! * Otherwise the sum is written with the digits it needs and no more:
//!   trailing zeros of a fraction are dropped, so ten additions of `0.1` to
//!   `0` give `1` and `0.1 + 0.2` gives `0.3`; a zero is `0`.
//! * If neither operand used an exponent, the sum is written without one.
//!   If one did, the sum is written without one while its magnitude is in
//!   `[1e-6, 1e21)` (as JavaScript prints numbers), and with one otherwise,
//!   as serde_json spells exponents: `1.5e+30`, `2e-9`.
//!
//! # Bounds
//!
//! An addition works on the two numbers aligned to a common exponent. If that
//! takes more than [`MAX_DIGITS`] digits (`1e5000 + 1`), or an exponent is
//! beyond ±[`MAX_EXPONENT`], [`add`] returns an error instead of doing
//! unbounded work. Comparing ([`same_value`]) has no bound: it is linear in
//! the length of the text.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Number;

/// The most digits an addition may work with, once both numbers are aligned
/// to a common exponent: `1e4000 + 1` is allowed, `1e5000 + 1` is not.
pub const MAX_DIGITS: usize = 4096;

/// The largest exponent magnitude an addition accepts (`1e999999999 + 1e999999999` is fine,
/// `1e1000000001` is not).
pub const MAX_EXPONENT: i64 = 1_000_000_000;

/// Why an exact addition was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// The text is not a JSON number.
    NotANumber(String),
    /// The numbers are too far apart, or too long, to add exactly within the bounds.
    TooLarge(String),
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::NotANumber(t) => write!(f, "{t:?} is not a JSON number"),
            NumberError::TooLarge(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for NumberError {}

/// A JSON number read exactly: `(-1)^neg × digits × 10^exp`, with `digits`
/// free of leading and trailing zeros (empty for zero).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Decimal {
    neg: bool,
    /// Decimal digits as values 0–9, most significant first.
    digits: Vec<u8>,
    exp: i128,
    /// Written with `e`/`E`.
    had_exponent: bool,
    /// Written with a fraction (`.`).
    had_fraction: bool,
}

/// The parts of a JSON number's text, checked against the RFC 8259 grammar.
struct Parts<'a> {
    neg: bool,
    int: &'a [u8],
    frac: &'a [u8],
    exp: Option<(bool, &'a [u8])>,
}

fn split(text: &str) -> Option<Parts<'_>> {
    let b = text.as_bytes();
    let mut i = 0;
    let neg = b.first() == Some(&b'-');
    if neg {
        i += 1;
    }
    let int_start = i;
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return None,
    }
    let int = &b[int_start..i];
    let mut frac: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        let s = i + 1;
        i = s;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return None;
        }
        frac = &b[s..i];
    }
    let mut exp = None;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return None;
        }
        exp = Some((eneg, &b[s..i]));
    }
    (i == b.len()).then_some(Parts {
        neg,
        int,
        frac,
        exp,
    })
}

/// Reads an exponent's digits; `None` if beyond ±10^30 (far past any bound).
fn exponent(neg: bool, digits: &[u8]) -> Option<i128> {
    let digits = {
        let first = digits
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(digits.len());
        &digits[first..]
    };
    if digits.len() > 30 {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i128, |acc, &d| acc * 10 + i128::from(d - b'0'));
    Some(if neg { -v } else { v })
}

impl Decimal {
    /// Reads `text`; `Ok(None)` if its exponent is too large to represent
    /// (beyond ±10^30), which no bound of this module lets through.
    fn parse(text: &str) -> Result<Option<Decimal>, NumberError> {
        let p = split(text).ok_or_else(|| NumberError::NotANumber(text.to_string()))?;
        let e = match p.exp {
            Some((neg, d)) => match exponent(neg, d) {
                Some(e) => e,
                None => return Ok(None),
            },
            None => 0,
        };
        let mut digits: Vec<u8> = p
            .int
            .iter()
            .chain(p.frac)
            .map(|d| d - b'0')
            .skip_while(|&d| d == 0)
            .collect();
        let mut exp = e - p.frac.len() as i128;
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            exp = 0;
        }
        Ok(Some(Decimal {
            neg: p.neg && !digits.is_empty(),
            digits,
            exp,
            had_exponent: p.exp.is_some(),
            had_fraction: !p.frac.is_empty(),
        }))
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }
}

/// True if two JSON number texts are the same number (`1E2` and `100.0`,
/// `-0` and `0`). Texts that are not JSON numbers are compared as text.
pub fn same_value(a: &str, b: &str) -> bool {
    if a == b || serde_spelling(a) == serde_spelling(b) {
        return true;
    }
    match (Decimal::parse(a), Decimal::parse(b)) {
        (Ok(Some(x)), Ok(Some(y))) => x.neg == y.neg && x.digits == y.digits && x.exp == y.exp,
        // An exponent past ±10^30 spelled two ways: not compared further
        // (the new spelling is then written; the value is the same).
        _ => false,
    }
}

/// How the numbers of some JSON text were spelled, where a [`serde_json::Value`]
/// read from it cannot say: serde_json keeps a number's digits but writes its
/// exponent marker `e` and always with a sign, so `1E2` and `1e2` are both
/// held as `1e+2`. Given the text a new value was read from (a `jlock set`
/// VALUE, an `update` command's output), the renderer writes those numbers
/// back as they were written there.
///
/// A held spelling that the text wrote in two ways (`[1E2, 1e2]`) is left
/// as serde_json holds it: which one belongs where is not known.
///
/// ```
/// use jlock_json::number::Spellings;
///
/// let sp = Spellings::of(br#"{"a": 1E2, "b": [2.5e-3, 7], "c": "1E9"}"#);
/// assert_eq!(sp.spell("1e+2"), "1E2");
/// assert_eq!(sp.spell("2.5e-3"), "2.5e-3");
/// assert_eq!(sp.spell("1e+9"), "1e+9"); // only a string here
/// ```
#[derive(Clone, Debug, Default)]
pub struct Spellings {
    /// Held spelling → the spelling written, or `None` if written two ways.
    written: std::collections::HashMap<String, Option<String>>,
}

impl Spellings {
    /// The spellings of the numbers in `json` that serde_json would change.
    /// `json` should be JSON text; on other bytes the result is merely
    /// incomplete.
    pub fn of(json: &[u8]) -> Spellings {
        let mut sp = Spellings::default();
        let mut i = 0;
        while i < json.len() {
            match json[i] {
                b'"' => i = super::syntax::string_end(json, i),
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < json.len()
                        && matches!(json[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        i += 1;
                    }
                    if let Ok(text) = std::str::from_utf8(&json[start..i]) {
                        let held = serde_spelling(text);
                        if held != text {
                            sp.written
                                .entry(held.into_owned())
                                .and_modify(|w| {
                                    if w.as_deref() != Some(text) {
                                        *w = None;
                                    }
                                })
                                .or_insert_with(|| Some(text.to_string()));
                        }
                    }
                }
                _ => i += 1,
            }
        }
        sp
    }

    /// These spellings, with those of `over` taking precedence.
    pub fn overlaid(mut self, over: &Spellings) -> Spellings {
        for (held, written) in &over.written {
            self.written.insert(held.clone(), written.clone());
        }
        self
    }

    /// True if no number needs respelling.
    pub fn is_empty(&self) -> bool {
        self.written.values().all(Option::is_none)
    }

    /// How to write the number serde_json holds as `held`.
    pub fn spell<'a>(&'a self, held: &'a str) -> &'a str {
        match self.written.get(held) {
            Some(Some(text)) => text,
            _ => held,
        }
    }
}

/// A number's text as serde_json keeps it (`arbitrary_precision`): the
/// exponent marker written `e`, its sign always written. The only change
/// serde_json makes, so a number and the value read from it have the same
/// spelling here — whatever the size of its exponent.
fn serde_spelling(t: &str) -> std::borrow::Cow<'_, str> {
    match t.find(['e', 'E']) {
        Some(i) => {
            let (mantissa, rest) = (&t[..i], &t[i + 1..]);
            let sign = if rest.starts_with(['+', '-']) {
                ""
            } else {
                "+"
            };
            format!("{mantissa}e{sign}{rest}").into()
        }
        _ => t.into(),
    }
}

/// `a + b`, exactly, spelled as the module documentation says.
///
/// ```
/// use jlock_json::number::add;
/// assert_eq!(add("0.1", "0.2").unwrap(), "0.3");
/// assert_eq!(add("18446744073709551615", "1").unwrap(), "18446744073709551616");
/// assert_eq!(add("1e400", "1e400").unwrap(), "2e+400");
/// assert!(add("1e5000", "1").is_err());
/// ```
pub fn add(a: &str, b: &str) -> Result<String, NumberError> {
    let x = Decimal::parse(a)?.ok_or_else(|| too_large(a))?;
    let y = Decimal::parse(b)?.ok_or_else(|| too_large(b))?;
    for (d, t) in [(&x, a), (&y, b)] {
        if d.exp.abs() > i128::from(MAX_EXPONENT) {
            return Err(too_large(t));
        }
    }
    let integers = !x.had_exponent && !x.had_fraction && !y.had_exponent && !y.had_fraction;
    let exponent_form = x.had_exponent || y.had_exponent;
    let sum = if x.is_zero() {
        y.clone()
    } else if y.is_zero() {
        x.clone()
    } else {
        let low = x.exp.min(y.exp);
        let width = |d: &Decimal| d.digits.len() as i128 + (d.exp - low);
        let span = width(&x).max(width(&y)) + 1;
        if span > MAX_DIGITS as i128 {
            return Err(NumberError::TooLarge(format!(
                "{a} + {b} needs more than {MAX_DIGITS} digits to add exactly"
            )));
        }
        let (ax, ay) = (align(&x, low, span), align(&y, low, span));
        let (neg, mag) = if x.neg == y.neg {
            (x.neg, add_mag(&ax, &ay))
        } else {
            match cmp_mag(&ax, &ay) {
                Ordering::Equal => (false, vec![0]),
                Ordering::Greater => (x.neg, sub_mag(&ax, &ay)),
                Ordering::Less => (y.neg, sub_mag(&ay, &ax)),
            }
        };
        let mut digits: Vec<u8> = mag.into_iter().skip_while(|&d| d == 0).collect();
        let mut exp = low;
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            exp = 0;
        }
        Decimal {
            neg: neg && !digits.is_empty(),
            digits,
            exp,
            had_exponent: false,
            had_fraction: false,
        }
    };
    Ok(spell(&sum, integers, exponent_form))
}

/// [`add`] on two [`Number`]s (as serde_json holds them with `arbitrary_precision`).
pub fn add_numbers(a: &Number, b: &Number) -> Result<Number, NumberError> {
    let text = add(a.as_str(), b.as_str())?;
    text.parse::<Number>()
        .map_err(|_| NumberError::NotANumber(text.clone()))
}

fn too_large(t: &str) -> NumberError {
    NumberError::TooLarge(format!(
        "{t} has an exponent beyond ±{MAX_EXPONENT}, too large to add exactly"
    ))
}

/// The digits of `d` as a fixed-width magnitude with exponent `low`.
fn align(d: &Decimal, low: i128, span: i128) -> Vec<u8> {
    let mut v = vec![0u8; span as usize];
    let shift = (d.exp - low) as usize;
    let end = v.len() - shift;
    let start = end - d.digits.len();
    v[start..end].copy_from_slice(&d.digits);
    v
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0;
    for i in (0..a.len()).rev() {
        let s = a[i] + b[i] + carry;
        out[i] = s % 10;
        carry = s / 10;
    }
    out
}

fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i8;
    for i in (0..a.len()).rev() {
        let mut s = a[i] as i8 - b[i] as i8 - borrow;
        borrow = 0;
        if s < 0 {
            s += 10;
            borrow = 1;
        }
        out[i] = s as u8;
    }
    out
}

fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
    a.cmp(b)
}

fn spell(d: &Decimal, integer: bool, exponent_form: bool) -> String {
    if d.is_zero() {
        return "0".to_string();
    }
    let digits: String = d.digits.iter().map(|&x| char::from(b'0' + x)).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if d.neg {
        out.push('-');
    }
    // The power of ten of the leading digit.
    let lead = d.digits.len() as i128 - 1 + d.exp;
    if integer || !exponent_form || (-7 < lead && lead < 21) {
        if d.exp >= 0 {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', d.exp as usize));
        } else {
            let point = d.exp.unsigned_abs() as usize;
            if point >= digits.len() {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(&digits);
            } else {
                let (i, f) = digits.split_at(digits.len() - point);
                out.push_str(i);
                out.push('.');
                out.push_str(f);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if lead < 0 { '-' } else { '+' });
        out.push_str(&lead.unsigned_abs().to_string());
    }
    out
}

/// True if `x` (an `f64` read from `text`) is the same number as `text`:
/// the shortest spelling that gives `x` back is `text`'s value. `0.1` holds;
/// `9007199254740993`, `1e400` and `2.4e-324` do not.
pub fn f64_holds(text: &str, x: f64) -> bool {
    x.is_finite() && same_value(text, &format!("{x:e}"))
}

/// As [`f64_holds`], for an `f32`.
pub fn f32_holds(text: &str, x: f32) -> bool {
    x.is_finite() && same_value(text, &format!("{x:e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_n(start: &str, by: &str, n: usize) -> String {
        let mut v = start.to_string();
        for _ in 0..n {
            v = add(&v, by).unwrap();
        }
        v
    }

    #[test]
    fn integers_of_any_size() {
        assert_eq!(add("1", "2").unwrap(), "3");
        assert_eq!(
            add("12345678901234567890123", "1").unwrap(),
            "12345678901234567890124"
        );
        assert_eq!(
            add("18446744073709551615", "1").unwrap(),
            "18446744073709551616"
        );
        assert_eq!(
            add("9223372036854775807", "1").unwrap(),
            "9223372036854775808"
        );
        assert_eq!(
            add("-9223372036854775808", "-1").unwrap(),
            "-9223372036854775809"
        );
        assert_eq!(
            add("0", "99999999999999999999").unwrap(),
            "99999999999999999999"
        );
        assert_eq!(
            add("99999999999999999999", "99999999999999999999").unwrap(),
            "199999999999999999998"
        );
        assert_eq!(add("5", "-5").unwrap(), "0");
        assert_eq!(add("-0", "0").unwrap(), "0");
        assert_eq!(add("3", "-10").unwrap(), "-7");
        assert_eq!(add("100", "-1").unwrap(), "99");
        let forty = "1234567890123456789012345678901234567890";
        assert_eq!(
            add(forty, forty).unwrap(),
            "2469135780246913578024691357802469135780"
        );
    }

    #[test]
    fn decimals_in_base_ten() {
        assert_eq!(sum_n("0", "0.1", 10), "1");
        assert_eq!(add("0.1", "0.2").unwrap(), "0.3");
        assert_eq!(add("0.5", "0.5").unwrap(), "1");
        assert_eq!(add("2.50", "0.25").unwrap(), "2.75");
        assert_eq!(add("1", "-0.5").unwrap(), "0.5");
        assert_eq!(add("-0.1", "0.1").unwrap(), "0");
        assert_eq!(add("0.0001", "0").unwrap(), "0.0001");
        assert_eq!(add("0.0000000001", "0").unwrap(), "0.0000000001");
        assert_eq!(sum_n("0", "-0.1", 3), "-0.3");
        assert_eq!(
            add("0.9999999999999999", "0.0000000000000001").unwrap(),
            "1"
        );
        assert_eq!(add("1.0", "1").unwrap(), "2");
    }

    #[test]
    fn exponent_spellings() {
        assert_eq!(add("1E2", "1").unwrap(), "101");
        assert_eq!(add("1e400", "1e400").unwrap(), "2e+400");
        assert_eq!(add("1e21", "0").unwrap(), "1e+21");
        assert_eq!(add("1e20", "0").unwrap(), "100000000000000000000");
        assert_eq!(add("1.5e-9", "0").unwrap(), "1.5e-9");
        assert_eq!(add("1e-6", "0").unwrap(), "0.000001");
        assert_eq!(add("2.4e-324", "2.4e-324").unwrap(), "4.8e-324");
        let big = add("1e400", "1").unwrap();
        assert!(
            big.starts_with("1.000") && big.ends_with("0001e+400"),
            "{big}"
        );
        assert_eq!(big.len(), "1.".len() + 400 + "e+400".len());
        assert_eq!(add("1e999999999", "1e999999999").unwrap(), "2e+999999999");
    }

    #[test]
    fn bounds_are_errors_not_work() {
        assert!(matches!(add("1e5000", "1"), Err(NumberError::TooLarge(_))));
        assert!(matches!(add("1e-5000", "1"), Err(NumberError::TooLarge(_))));
        assert!(matches!(
            add("1e1000000001", "1e1000000001"),
            Err(NumberError::TooLarge(_))
        ));
        assert!(matches!(
            add("1e99999999999999999999999999999999999", "1"),
            Err(NumberError::TooLarge(_))
        ));
        let long = "9".repeat(MAX_DIGITS + 1);
        assert!(matches!(add(&long, "1"), Err(NumberError::TooLarge(_))));
        assert!(add(&"9".repeat(MAX_DIGITS - 2), "1").is_ok());
        assert!(matches!(add("1.", "1"), Err(NumberError::NotANumber(_))));
        assert!(matches!(add("01", "1"), Err(NumberError::NotANumber(_))));
        assert!(matches!(add("+1", "1"), Err(NumberError::NotANumber(_))));
    }

    #[test]
    fn same_value_compares_numbers() {
        assert!(same_value("1E2", "100"));
        assert!(same_value("1e+2", "100.000"));
        assert!(same_value("-0", "0"));
        assert!(same_value("0.0", "0e10"));
        assert!(!same_value("0.9999999999999999", "1"));
        assert!(!same_value("99999999999999999999", "100000000000000000001"));
        assert!(!same_value("1e400", "1e401"));
        assert!(same_value("12.5e-1", "1.25"));
        // Exponents too large to compute with: a number still equals the
        // value read from it (serde_json writes `e` and the sign), so it
        // keeps its spelling (JSONTestSuite's i_number_huge_exp.json).
        let huge = format!("0.4E00{}", "9".repeat(60));
        assert!(same_value(&huge, &format!("0.4e+00{}", "9".repeat(60))));
        assert!(same_value(
            "-1e-4000000000000000000000000000000000",
            "-1E-4000000000000000000000000000000000"
        ));
        assert!(!same_value(&huge, &format!("0.4e+00{}8", "9".repeat(59))));
    }

    #[test]
    fn float_holding() {
        assert!(f64_holds("0.1", 0.1));
        assert!(f64_holds("1E2", 100.0));
        assert!(f64_holds("-0", -0.0));
        assert!(!f64_holds("9007199254740993", 9007199254740993u64 as f64));
        assert!(!f64_holds("1e400", f64::INFINITY));
        assert!(!f64_holds("2.4e-324", "2.4e-324".parse().unwrap()));
        assert!(f64_holds(
            "0.9999999999999999",
            "0.9999999999999999".parse().unwrap()
        ));
        assert!(f32_holds("0.1", 0.1f32));
        assert!(!f32_holds("16777217", 16777217u32 as f32));
    }
}
