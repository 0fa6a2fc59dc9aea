//! See `gossipd_fuzz::p2p`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| gossipd_fuzz::p2p::check(data));
