//! Text sent as a receipt: see `switchyard::fuzzing::receipt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        switchyard::fuzzing::receipt(text);
    }
});
