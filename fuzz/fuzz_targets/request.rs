//! A route pick and a request body: see `switchyard::fuzzing::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    switchyard::fuzzing::request(data);
});
