//! Writes the seed corpora: `cargo run --manifest-path fuzz/Cargo.toml --example write_seeds`.
//!
//! Each seed goes to `fuzz/corpus/<target>/<name>`; files already there
//! (inputs the fuzzer found, minimized crashes) are left alone.

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, bytes) in gossipd_fuzz::seeds() {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), &bytes)?;
        println!("{target}/{name}: {} bytes", bytes.len());
    }
    Ok(())
}
