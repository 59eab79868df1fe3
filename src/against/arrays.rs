//! Named arrays in `.npz` (NumPy's archive: a zip of `.npy` files, read
//! and written with `npyz` over `zip`) and `.json` (an object mapping each
//! name to a number, for a 0-d array, or to nested lists), row-major (C
//! order; a Fortran-order `.npy` is reordered on reading).
//!
//! Only float32 and float64 are read: float16 and bfloat16 are bad input
//! for now, and so is any other dtype (integers, complex, objects).

use npyz::{DType, NpyFile, Order, TypeChar, WriterBuilder};
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;

/// Largest number of entries read from one array (8·10⁷ f64 = 640 MB).
pub const MAX_ENTRIES: u64 = 80_000_000;

/// The floating-point type an array was stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }
}

/// One array: its shape, its values row-major (widened to `f64`, exactly),
/// and the type it was stored in.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub dtype: Dtype,
}

impl Array {
    /// A float64 array.
    pub fn f64(shape: Vec<usize>, data: Vec<f64>) -> Array {
        Array {
            shape,
            data,
            dtype: Dtype::F64,
        }
    }

    /// The shape as NumPy prints it: `()`, `(3,)`, `(2, 3)`.
    pub fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }
}

/// A shape as NumPy prints it.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|n| n.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// The file formats, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npz,
    Json,
}

/// `.npz` or `.json` (any case); anything else is an error.
pub fn format_of(path: &Path) -> Result<Format, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("npz") => Ok(Format::Npz),
        Some("json") => Ok(Format::Json),
        _ => Err(format!(
            "{}: expected a file ending in .npz or .json",
            path.display()
        )),
    }
}

/// Read every array of a `.npz` or `.json` file. The error says, where one
/// is at fault, which array (the caller names the file).
pub fn read(path: &Path) -> Result<BTreeMap<String, Array>, String> {
    let format = format_of(path)?;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    match format {
        Format::Npz => read_npz(BufReader::new(file)),
        Format::Json => read_json(BufReader::new(file)),
    }
}

/// Write `arrays` (in this order) as a `.npz` (float64, uncompressed, as
/// `np.savez` does) or `.json` file, chosen by the extension.
pub fn write(path: &Path, arrays: &[(String, Array)]) -> Result<(), String> {
    let format = format_of(path)?;
    let cannot = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| cannot(&e))?;
    let mut w = BufWriter::new(file);
    match format {
        Format::Npz => write_npz(&mut w, arrays).map_err(|e| cannot(&e))?,
        Format::Json => {
            let v = to_json(arrays)?;
            serde_json::to_writer_pretty(&mut w, &v).map_err(|e| cannot(&e))?;
            w.write_all(b"\n").map_err(|e| cannot(&e))?;
        }
    }
    w.flush().map_err(|e| cannot(&e))
}

fn read_npz(reader: impl Read + Seek) -> Result<BTreeMap<String, Array>, String> {
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| format!("not a readable .npz archive: {e}"))?;
    let mut out = BTreeMap::new();
    let files: Vec<String> = zip.file_names().map(str::to_string).collect();
    for file in files {
        let Some(name) = npyz::npz::array_name_from_file_name(&file) else {
            continue;
        };
        let entry = zip
            .by_name(&file)
            .map_err(|e| format!("array `{name}`: {e}"))?;
        let array = read_npy(entry).map_err(|e| format!("array `{name}`: {e}"))?;
        out.insert(name.to_string(), array);
    }
    Ok(out)
}

/// One `.npy` member: float32 or float64, C or Fortran order.
fn read_npy(reader: impl Read) -> Result<Array, String> {
    let npy = NpyFile::new(reader).map_err(|e| format!("not a readable .npy array: {e}"))?;
    let dtype = match npy.dtype() {
        DType::Plain(t) => match (t.type_char(), t.size_field()) {
            (TypeChar::Float, 8) => Dtype::F64,
            (TypeChar::Float, 4) => Dtype::F32,
            (TypeChar::Float, 2) => {
                return Err(
                    "dtype float16 is not supported (yet): store float32 or float64".to_string(),
                )
            }
            (TypeChar::RawData, 2) => {
                return Err(format!(
                    "dtype {t} (a 2-byte type such as bfloat16) is not supported (yet): store float32 or float64"
                ))
            }
            _ => {
                return Err(format!(
                    "dtype {t} is not supported: store float32 or float64"
                ))
            }
        },
        other => {
            let descr = other.descr();
            let hint = if descr.contains("bfloat16") {
                " (bfloat16 is not supported yet)"
            } else {
                ""
            };
            return Err(format!(
                "dtype {descr} is not supported{hint}: store float32 or float64"
            ));
        }
    };
    let shape: Vec<u64> = npy.shape().to_vec();
    let total = shape.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n));
    if total.is_none_or(|t| t > MAX_ENTRIES) {
        return Err(format!(
            "{} entries is more than bnproof reads ({MAX_ENTRIES})",
            total.map_or("too many".to_string(), |t| t.to_string())
        ));
    }
    let shape: Vec<usize> = shape.iter().map(|&n| n as usize).collect();
    let fortran = npy.order() == Order::Fortran;
    let bad = |e: std::io::Error| format!("cannot read the values: {e}");
    let data: Vec<f64> = match dtype {
        Dtype::F64 => npy.into_vec::<f64>().map_err(bad)?,
        Dtype::F32 => npy
            .into_vec::<f32>()
            .map_err(bad)?
            .into_iter()
            .map(f64::from)
            .collect(),
    };
    let data = if fortran && shape.len() > 1 {
        c_order(&data, &shape)
    } else {
        data
    };
    Ok(Array { shape, data, dtype })
}

/// Values stored column-major (first axis fastest), reordered row-major.
fn c_order(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let mut strides = Vec::with_capacity(shape.len());
    let mut stride = 1;
    for n in shape {
        strides.push(stride);
        stride *= n;
    }
    gather(data, shape, &strides)
}

/// The entries of `data` at every position of `dims` (row-major, last axis
/// fastest), where axis `k` advances `strides[k]` entries in `data`.
pub fn gather<T: Clone>(data: &[T], dims: &[usize], strides: &[usize]) -> Vec<T> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut pos = vec![0usize; dims.len()];
    for _ in 0..total {
        let off: usize = pos.iter().zip(strides).map(|(p, s)| p * s).sum();
        out.push(data[off].clone());
        for k in (0..pos.len()).rev() {
            pos[k] += 1;
            if pos[k] < dims[k] {
                break;
            }
            pos[k] = 0;
        }
    }
    out
}

fn write_npz(w: &mut (impl Write + Seek), arrays: &[(String, Array)]) -> Result<(), String> {
    let mut zip = zip::ZipWriter::new(w);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (name, a) in arrays {
        zip.start_file(npyz::npz::file_name_from_array_name(name), options)
            .map_err(|e| e.to_string())?;
        let shape: Vec<u64> = a.shape.iter().map(|&n| n as u64).collect();
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut zip)
            .begin_nd()
            .map_err(|e| e.to_string())?;
        writer
            .extend(a.data.iter().copied())
            .map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    zip.finish().map_err(|e| e.to_string())?;
    Ok(())
}

fn read_json(reader: impl Read) -> Result<BTreeMap<String, Array>, String> {
    let v: serde_json::Value =
        serde_json::from_reader(reader).map_err(|e| format!("not valid JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("expected a JSON object mapping array names to numbers or nested lists")?;
    let mut out = BTreeMap::new();
    for (name, value) in obj {
        let mut shape = Vec::new();
        let mut at = value;
        while let Some(list) = at.as_array() {
            shape.push(list.len());
            match list.first() {
                Some(first) => at = first,
                None => break,
            }
        }
        let mut data = Vec::new();
        flatten(value, &shape, &mut data).map_err(|e| format!("array `{name}`: {e}"))?;
        out.insert(
            name.clone(),
            Array {
                shape,
                data,
                dtype: Dtype::F64,
            },
        );
    }
    Ok(out)
}

/// The numbers of a nested list of the given shape, row-major.
fn flatten(v: &serde_json::Value, shape: &[usize], out: &mut Vec<f64>) -> Result<(), String> {
    match (v, shape.split_first()) {
        (serde_json::Value::Number(n), None) => {
            let x = n
                .as_f64()
                .ok_or_else(|| format!("{n} is not a float64 number"))?;
            out.push(x);
            Ok(())
        }
        (serde_json::Value::Array(items), Some((&len, rest))) if items.len() == len => {
            for item in items {
                flatten(item, rest, out)?;
            }
            Ok(())
        }
        (serde_json::Value::Array(items), Some((&len, _))) => Err(format!(
            "ragged nested lists: a list of {} where the first one has {len}",
            items.len()
        )),
        (other, _) => Err(format!(
            "expected {} but found {}",
            if shape.is_empty() {
                "a number"
            } else {
                "a list"
            },
            match other {
                serde_json::Value::Null => "null".to_string(),
                serde_json::Value::String(s) => format!("the string {s:?}"),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Object(_) => "an object".to_string(),
                serde_json::Value::Array(_) => "a list".to_string(),
                serde_json::Value::Number(n) => n.to_string(),
            }
        )),
    }
}

fn to_json(arrays: &[(String, Array)]) -> Result<serde_json::Value, String> {
    let mut obj = serde_json::Map::new();
    for (name, a) in arrays {
        obj.insert(
            name.clone(),
            nested(&a.data, &a.shape).map_err(|e| format!("array `{name}`: {e}"))?,
        );
    }
    Ok(serde_json::Value::Object(obj))
}

fn nested(data: &[f64], shape: &[usize]) -> Result<serde_json::Value, String> {
    match shape.split_first() {
        None => data
            .first()
            .and_then(|&x| serde_json::Number::from_f64(x))
            .map(serde_json::Value::Number)
            .ok_or_else(|| "a value that JSON cannot hold (NaN or infinite)".to_string()),
        Some((&n, rest)) => {
            let step: usize = rest.iter().product();
            (0..n)
                .map(|i| nested(&data[i * step..(i + 1) * step], rest))
                .collect::<Result<Vec<_>, _>>()
                .map(serde_json::Value::Array)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_order_is_reordered_row_major() {
        // [[1, 2, 3], [4, 5, 6]] stored column-major.
        let f = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        assert_eq!(c_order(&f, &[2, 3]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn json_round_trips_shapes_and_values() {
        let arrays = vec![
            ("eps".to_string(), Array::f64(vec![], vec![1e-5])),
            (
                "x".to_string(),
                Array::f64(vec![2, 3], vec![0.1, -2.5, 3.0, 1e-300, 7.0, -0.0]),
            ),
        ];
        let text = serde_json::to_string(&to_json(&arrays).unwrap()).unwrap();
        let back = read_json(text.as_bytes()).unwrap();
        assert_eq!(back["eps"], arrays[0].1);
        assert_eq!(back["x"], arrays[1].1);
    }

    #[test]
    fn ragged_json_lists_are_rejected_with_the_array_name() {
        let e = read_json(r#"{"x": [[1, 2], [3]]}"#.as_bytes()).unwrap_err();
        assert!(e.contains("array `x`") && e.contains("ragged"), "{e}");
        let e = read_json(r#"{"x": [1, null]}"#.as_bytes()).unwrap_err();
        assert!(e.contains("null"), "{e}");
    }

    #[test]
    fn npz_round_trips_through_memory() {
        let arrays = vec![
            (
                "x".to_string(),
                Array::f64(vec![2, 2], vec![1.5, -2.0, 0.1, 4.0]),
            ),
            ("eps".to_string(), Array::f64(vec![], vec![0.25])),
        ];
        let mut buf = std::io::Cursor::new(Vec::new());
        write_npz(&mut buf, &arrays).unwrap();
        buf.set_position(0);
        let back = read_npz(buf).unwrap();
        assert_eq!(back["x"], arrays[0].1);
        assert_eq!(back["eps"], arrays[1].1);
    }
}
