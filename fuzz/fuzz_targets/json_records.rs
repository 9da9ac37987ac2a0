//! Bytes of a record stored as JSON: see `switchyard::fuzzing::json_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::json_records(data));
