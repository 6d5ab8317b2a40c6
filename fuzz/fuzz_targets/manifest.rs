//! Fuzzes the manifest parser: see `wnet_runtime::fuzzing::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wnet_runtime::fuzzing::manifest(data));
