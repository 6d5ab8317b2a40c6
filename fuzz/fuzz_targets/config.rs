//! Fuzzes the config file's parser and checks: see `wnet_cli::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wnet_cli::fuzzing::config(data));
