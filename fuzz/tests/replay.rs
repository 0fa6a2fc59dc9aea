//! Replays every file of the committed corpora (seeds and minimized crash
//! inputs) through the fuzz targets' checks, without a fuzzing toolchain:
//! `cargo test --manifest-path fuzz/Cargo.toml`.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut count = 0;
    for entry in fs::read_dir(&dir).expect("the corpus directory exists") {
        let path = entry.expect("readable directory").path();
        check(&fs::read(&path).expect("readable corpus file"));
        count += 1;
    }
    assert!(count > 0, "no inputs in {}", dir.display());
}

#[test]
fn api_decoder_corpus_passes() {
    replay("api_decoder", gossipd_fuzz::api::check);
}

#[test]
fn p2p_decoder_corpus_passes() {
    replay("p2p_decoder", gossipd_fuzz::p2p::check);
}

#[test]
fn core_messages_corpus_passes() {
    replay("core_messages", gossipd_fuzz::core::check);
}

#[test]
fn committed_seeds_match_the_generator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, bytes) in gossipd_fuzz::seeds() {
        let path = root.join(target).join(name);
        let on_disk = fs::read(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            bytes,
            "{} is stale: run the write_seeds example",
            path.display()
        );
    }
}
