//! `gossipd`: parse the command line, load the config, start the node and the
//! API server, wait for SIGINT or SIGTERM, shut down. Or, with
//! `--generate-key FILE` or `--add-proof-of-work FILE`, write a host key file
//! and exit; or, with `--check-config`, check the settings as start-up would,
//! print them and exit.
//!
//! Exit status (SPEC §2): 0 after a clean shutdown (or a key file written, or
//! settings that check out), 2 for a bad command line or config (including
//! what `--check-config` finds), 1 for any other failure to start (or to
//! write a key file).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use log::{info, warn};

use gossipd::Node;
use gossipd::api::ApiServer;
use gossipd::config::{Effective, Loaded};
use gossipd::identity::{self, Identity, KeyError};
use gossipd::options::{self, Command};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match options::parse(&args) {
        Ok(Command::Help(text)) | Ok(Command::Version(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::CheckConfig(effective)) => check_config(&effective),
        Ok(Command::Run(loaded)) => run(loaded),
        Ok(Command::GenerateKey { path, difficulty }) => generate_key(&path, difficulty),
        Ok(Command::AddProofOfWork { path, difficulty }) => add_proof_of_work(&path, difficulty),
        Err(e) => {
            eprintln!("gossipd: {e}");
            ExitCode::from(2)
        }
    }
}

/// `--generate-key`: a new identity in a new file; an existing file is left
/// alone (exit 1).
fn generate_key(path: &Path, difficulty: u32) -> ExitCode {
    // Checked before the work so nobody waits for a key that cannot be saved;
    // `save_new` checks again, atomically.
    if std::fs::symlink_metadata(path).is_ok() {
        let exists = KeyError::Exists {
            path: path.to_path_buf(),
        };
        eprintln!("gossipd: {exists}");
        return ExitCode::from(1);
    }
    let started = Instant::now();
    let identity = Identity::generate(difficulty);
    let took = started.elapsed();
    match identity.save_new(path) {
        Ok(()) => {
            print_key_file("wrote new host key file", path, &identity, difficulty, took);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gossipd: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--add-proof-of-work`: completes a key file made elsewhere (e.g. OpenSSL).
fn add_proof_of_work(path: &Path, difficulty: u32) -> ExitCode {
    let started = Instant::now();
    match identity::add_proof_of_work(path, difficulty) {
        Ok(identity) => {
            let took = started.elapsed();
            print_key_file("wrote proof of work to", path, &identity, difficulty, took);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gossipd: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_key_file(what: &str, path: &Path, identity: &Identity, difficulty: u32, took: Duration) {
    println!("{what} {}", path.display());
    println!("peer id: {}", identity.peer_id().to_hex());
    println!(
        "proof of work: {} bits (difficulty {difficulty}), {:.2} s",
        identity.pow_bits(),
        took.as_secs_f64()
    );
}

/// `--check-config`: the settings on stdout if start-up would accept them
/// (exit 0), else the one-line reason on stderr (exit 2). Nothing is bound.
fn check_config(effective: &Effective) -> ExitCode {
    for w in &effective.warnings {
        warn!("{w}");
    }
    match effective.check() {
        Ok(report) => {
            print!("{}", effective.render(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gossipd: {e}");
            ExitCode::from(2)
        }
    }
}

fn report_warnings(loaded: &Loaded) {
    for w in &loaded.warnings {
        warn!("{w}");
    }
}

fn run(loaded: Loaded) -> ExitCode {
    report_warnings(&loaded);
    let config = loaded.config;
    let (stop_tx, stop_rx) = bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    }) {
        eprintln!("gossipd: cannot install the signal handler: {e}");
        return ExitCode::from(1);
    }
    // Bind the API first: a busy address fails at once, before the node
    // spends time on a temporary identity's proof of work.
    let bound = match ApiServer::bind(&config.api_address) {
        Ok(bound) => bound,
        Err(e) => {
            eprintln!("gossipd: {e}");
            return ExitCode::from(1);
        }
    };
    let node = match Node::start(&config) {
        Ok(node) => node,
        Err(e) => {
            eprintln!("gossipd: {e}");
            return ExitCode::from(1);
        }
    };
    let api = match bound.serve(&node) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("gossipd: {e}");
            node.shutdown();
            return ExitCode::from(1);
        }
    };
    // Blocks until a signal; an error means the handler is gone, so stop too.
    let _ = stop_rx.recv();
    info!("shutting down");
    drop(api);
    node.shutdown();
    info!("bye");
    ExitCode::SUCCESS
}
