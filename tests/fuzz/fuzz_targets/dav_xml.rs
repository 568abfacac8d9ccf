#![no_main]
// See src/fuzzing.rs for the invariant this target checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringpost::fuzzing::dav_xml(data));
