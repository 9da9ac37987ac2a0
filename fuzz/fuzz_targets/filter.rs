//! A filter pattern and an event, split at the first 0xFF byte: see `switchyard::fuzzing::filter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (pattern, event) = switchyard::fuzzing::split(data);
    switchyard::fuzzing::filter(pattern, event);
});
