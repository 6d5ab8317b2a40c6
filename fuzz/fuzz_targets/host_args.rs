//! Fuzzes the checks of link names and kv keys drivers send: see `wnet_runtime::fuzzing::host_args`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wnet_runtime::fuzzing::host_args(data));
