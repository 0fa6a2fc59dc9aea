//! Replays `core_messages` inputs, printing each operation, the events it
//! became, the actions they caused and the final statistics (a crash shows
//! where it happened):
//! `cargo run --manifest-path fuzz/Cargo.toml --example explain_core -- FILE...`.

fn main() -> std::io::Result<()> {
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path)?;
        eprintln!("== {path}");
        gossipd_fuzz::core::trace(&data);
    }
    Ok(())
}
