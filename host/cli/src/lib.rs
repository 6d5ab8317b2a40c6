//! The parts of the `wnet` command that are also a library: its settings (the config
//! file, flags and environment), so that the fuzz targets reach the same parser.

pub mod config;
pub mod fuzzing;
