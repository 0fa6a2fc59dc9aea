//! See `gossipd_fuzz::core`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gossipd_fuzz::core::check(data));
