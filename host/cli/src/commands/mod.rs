//! One module per command.

pub mod cni;
pub mod driver;
pub mod driver_check;
pub mod network;
pub mod sandbox;

use axum::http::Method;
use serde_json::Value;

use crate::backend::Backend;

/// `… inspect NAME…`: `GET {base}/{name}` for each, printed as one JSON array (an
/// answer that is an array itself is spliced in); fails with the first error after
/// printing the ones found, as Docker does.
pub async fn inspect_each(b: &Backend, base: &str, names: &[String]) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut missing = None;
    for name in names {
        match b.call(Method::GET, &format!("{base}/{name}"), None).await {
            Ok(Value::Array(found)) => out.extend(found),
            Ok(found) => out.push(found),
            Err(e) => {
                missing.get_or_insert(e);
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    missing.map_or(Ok(()), Err)
}

/// `… rm NAME…`: `DELETE {base}/{name}` for each, printing each name removed; every
/// name is tried, and any failure fails the command (one failure is the error itself,
/// on one line).
pub async fn remove_each(
    b: &Backend,
    base: &str,
    what: &str,
    names: &[String],
) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for name in names {
        match b
            .call(Method::DELETE, &format!("{base}/{name}"), None)
            .await
        {
            Ok(_) => println!("{name}"),
            Err(e) => failed.push(e),
        }
    }
    match failed.len() {
        0 => Ok(()),
        1 if names.len() == 1 => Err(failed.remove(0)),
        n => {
            for e in &failed {
                eprintln!("wnet: {e}");
            }
            anyhow::bail!("{n} of {} {what} were not removed", names.len())
        }
    }
}

/// Prints aligned columns under `headers`, three spaces apart, as Docker's tables; the
/// last column is not padded.
pub fn print_table<const N: usize>(headers: [&str; N], rows: &[[String; N]]) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: [&str; N]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
}
