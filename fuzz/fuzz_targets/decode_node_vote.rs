#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| box_core_fuzz::round_trip::<
    box_core::typed::Signed<box_core::typed::NodeVote>,
>(data));
