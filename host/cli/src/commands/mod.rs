//! One module per command.

pub mod driver_check;
pub mod driver_ls;
pub mod network;
pub mod sandbox;
