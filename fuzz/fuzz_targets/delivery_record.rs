//! Bytes of a stored delivery: see `switchyard::fuzzing::delivery_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::delivery_record(data));
