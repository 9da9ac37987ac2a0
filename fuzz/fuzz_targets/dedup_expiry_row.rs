//! Bytes of a dedup expiry row: see `switchyard::fuzzing::dedup_expiry_row`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::dedup_expiry_row(data));
