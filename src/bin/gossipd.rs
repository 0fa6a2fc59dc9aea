//! `gossipd`: parse the command line, load the config, start the node and the
//! API server, wait for SIGINT or SIGTERM, shut down.
//!
//! Exit status (SPEC §2): 0 after a clean shutdown, 2 for a bad command line
//! or config, 1 for any other failure to start.

use std::process::ExitCode;

use crossbeam_channel::bounded;
use log::{info, warn};

use gossipd::Node;
use gossipd::api::ApiServer;
use gossipd::config::Loaded;
use gossipd::options::{self, Command};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match options::parse(&args) {
        Ok(Command::Help(text)) | Ok(Command::Version(text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Command::CheckConfig(loaded)) => {
            report_warnings(&loaded);
            print!("{}", loaded.config.to_ini());
            ExitCode::SUCCESS
        }
        Ok(Command::Run(loaded)) => run(loaded),
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
    let node = match Node::start(&config) {
        Ok(node) => node,
        Err(e) => {
            eprintln!("gossipd: {e}");
            return ExitCode::from(1);
        }
    };
    let api = match ApiServer::start(&node, &config.api_address) {
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
