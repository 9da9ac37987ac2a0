//! Bytes of a stored message: see `switchyard::fuzzing::message_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::message_record(data));
