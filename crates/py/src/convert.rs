//! JSON values to Python objects and back, exactly.
//!
//! | JSON | Python |
//! | --- | --- |
//! | `null`, `true`, `false`, string, array, object | `None`, `True`, `False`, `str`, `list`, `dict` |
//! | integer (no `.`, no exponent), any size | `int` |
//! | other number, when a `float` holds it exactly | `float` (`0.1`, `1.5`, `1E2` → `100.0`) |
//! | other number | `decimal.Decimal` (`0.1000000000000000000001`, `1e400`) |
//!
//! Back to JSON: `None`, `bool`, `int` (any size), finite `float`, finite
//! `Decimal`, `str`, `list`/`tuple`, `dict` with `str` keys. NaN and
//! infinities raise `ValueError`, other types and non-`str` keys `TypeError`,
//! each naming where in the value the problem is.
//!
//! The only module here that reads jlock-json's number helpers
//! (`number::f64_holds`).

use jlock_json::number::f64_holds;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde_json::{Map, Number, Value};

/// The most levels of arrays and objects a value may nest when converted
/// to JSON: jlock-core's own limit, which it would refuse to write past
/// anyway; it also stops a list that contains itself.
const MAX_DEPTH: usize = jlock_json::MAX_DEPTH;

/// `decimal.Decimal`, imported once.
static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn decimal(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECIMAL.import(py, "decimal", "Decimal")
}

/// The Python object for a JSON value.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number_to_py(py, n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A JSON number as `int`, `float` or `Decimal` (see the module's table).
pub fn number_to_py<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    let text = n.as_str();
    if !text.contains(['.', 'e', 'E']) {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(i.into_pyobject(py)?.into_any());
        }
        // Beyond 64 bits: Python's int reads any number of digits.
        return py.get_type::<PyInt>().call1((text,));
    }
    match text.parse::<f64>() {
        Ok(x) if f64_holds(text, x) => Ok(PyFloat::new(py, x).into_any()),
        _ => decimal(py)?.call1((text,)),
    }
}

/// The JSON value of a Python object (see the module's table).
pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    from_py_at(obj, &mut String::new(), 0)
}

/// A number argument (`incr`'s `by`): an `int`, `float` or `Decimal`.
pub fn number_from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Number> {
    match from_py(obj) {
        Ok(Value::Number(n)) if !obj.is_instance_of::<PyBool>() => Ok(n),
        Ok(_) | Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be an int, float or decimal.Decimal, not {}",
            type_name(obj)
        ))),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Where in the value a problem is, for messages: ` at ["jobs"][0]`.
fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" (at {path})")
    }
}

fn from_py_at(obj: &Bound<'_, PyAny>, path: &mut String, depth: usize) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        // int's own repr: the digits, whatever a subclass's __str__ says.
        let text: String = py
            .get_type::<PyInt>()
            .call_method1("__repr__", (obj,))?
            .extract()?;
        return parse_number(&text, path);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        return match Number::from_f64(x) {
            Some(n) if x.is_finite() => Ok(Value::Number(n)),
            _ => Err(PyValueError::new_err(format!(
                "{x} is not a JSON number: JSON has no NaN or infinity{}",
                at(path)
            ))),
        };
    }
    if obj.is_instance(decimal(py)?)? {
        if !obj.call_method0("is_finite")?.is_truthy()? {
            return Err(PyValueError::new_err(format!(
                "Decimal({}) is not a JSON number: JSON has no NaN or infinity{}",
                obj.str()?,
                at(path)
            )));
        }
        let text: String = obj.str()?.extract()?;
        return parse_number(&text, path);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.extract::<String>()?));
    }
    if depth >= MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "the value nests lists and dicts deeper than {MAX_DEPTH} levels (or contains itself){}",
            at(path)
        )));
    }
    let mark = path.len();
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "JSON object keys must be str, not {} ({}){}",
                    type_name(&k),
                    k.repr().map(|r| r.to_string()).unwrap_or_default(),
                    at(path)
                )));
            };
            let key = key.extract::<String>()?;
            path.push_str(&format!("[{key:?}]"));
            let value = from_py_at(&v, path, depth + 1)?;
            path.truncate(mark);
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            path.push_str(&format!("[{i}]"));
            items.push(from_py_at(&item?, path, depth + 1)?);
            path.truncate(mark);
        }
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "Object of type {} is not JSON serializable{}",
        type_name(obj),
        at(path)
    )))
}

fn parse_number(text: &str, path: &str) -> PyResult<Value> {
    serde_json::from_str::<Number>(text)
        .map(Value::Number)
        .map_err(|e| PyValueError::new_err(format!("{text} is not a JSON number: {e}{}", at(path))))
}
