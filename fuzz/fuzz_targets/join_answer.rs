//! Fuzzes the taking of a driver's join answer (limits, lifting, checks): see `wnet_runtime::fuzzing::join_answer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wnet_runtime::fuzzing::join_answer(data));
