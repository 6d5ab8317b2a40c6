//! One module per command.

pub mod driver;
pub mod driver_check;
pub mod network;
pub mod sandbox;

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
