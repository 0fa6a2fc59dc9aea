//! See `gossipd_fuzz::api`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gossipd_fuzz::api::check(data));
