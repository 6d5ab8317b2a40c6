//! Fuzzes the sysctl key check: see `wnet_runtime::fuzzing::sysctl`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wnet_runtime::fuzzing::sysctl(data));
