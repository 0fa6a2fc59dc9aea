//! gossip-share: peer-to-peer file sharing on top of the gossip API.
//!
//! `serve` shares a directory: it announces an index item per file by
//! gossip (through any daemon speaking SPEC §4), validates the index items
//! of other hosts into its network index, watches the directory, and serves
//! file pieces over TCP. `list`, `query` and `get` ask the local serve
//! process for the index; `get` then downloads from the holders directly, in
//! parallel verified pieces. `bench` measures the download path on loopback.
//! docs/SHARE.md describes the design and the wire formats.

mod announcer;
mod bench;
mod bytes;
mod commands;
mod control;
mod fetch;
mod hash;
mod index;
mod index_item;
mod progress;
mod serve;
mod server;
mod shares;
mod subscriber;
mod watcher;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use getopts::{Matches, Options};

use crate::control::resolve;
use crate::serve::ServeConfig;

/// The default data type of index items: 0x5348, "SH" in ASCII.
pub const DEFAULT_DATA_TYPE: u16 = 0x5348;
/// gossipd's default API address.
pub const DEFAULT_GOSSIP: &str = "127.0.0.1:7001";
/// The default piece-server address, which is also where `list`, `query`
/// and `get` look for the local serve process.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7080";
/// Default time between two re-announcements of every share.
pub const DEFAULT_REANNOUNCE_MS: u64 = 30_000;

const USAGE: &str = "\
Usage:
  gossip-share serve DIR [--gossip HOST:PORT] [--listen HOST:PORT]
                     [--advertise HOST:PORT] [--data-type N]
                     [--reannounce-ms MS] [--expiry-ms MS]
  gossip-share list [--control HOST:PORT]
  gossip-share query NAME [--control HOST:PORT]
  gossip-share get NAME [-o PATH] [--control HOST:PORT] [--hash HEX]
                   [--connections N] [--stall-timeout-ms MS] [--force]
  gossip-share bench [--size-mb N] [--dir DIR] [--runs N] [--connections N]
  gossip-share help | --help

serve   shares the regular files of DIR (not hidden, not symlinks) with the
        network: announces them by gossip, keeps the network index, serves
        their pieces on --listen (default 127.0.0.1:7080).
          --gossip        gossipd's API (default 127.0.0.1:7001)
          --advertise     the address others fetch from (default: --listen
                          as bound; needed when listening on 0.0.0.0)
          --data-type     index item data type (default 21320 = 0x5348)
          --reannounce-ms re-announce every share this often (default 30000)
          --expiry-ms     forget holders not heard of for this long
                          (default 3 x --reannounce-ms)
list    every file version in the network: name, size, content hash,
        number of holders (tab-separated).
query   the versions of NAME and who holds each.
get     downloads NAME from its holders (the version with the most holders,
        or --hash) to PATH (default ./NAME; into it when it is a directory).
          --connections   connections per holder (default 2)
          --stall-timeout-ms  fail when no piece arrives this long (default 30000)
          --force         replace an existing file
bench   downloads an N MB file (default 200) on loopback from 2 holders, from
        1 holder, and copies it over one plain TCP connection; prints MB/s.

--control is the local serve process's --listen address (default
127.0.0.1:7080). Exit status: 0 on success, 1 on failure, 2 for bad usage.
";

/// Why the program stops early; decides the exit status.
pub enum Failure {
    /// The command line is wrong: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(String),
}

/// A usage failure.
pub fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// A runtime failure.
pub fn runtime(msg: impl Into<String>) -> Failure {
    Failure::Runtime(msg.into())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("gossip-share: {msg} (try 'gossip-share --help')");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("gossip-share: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some((command, rest)) = args.split_first() else {
        return Err(usage("missing subcommand"));
    };
    match command.as_str() {
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        "serve" => serve_command(rest),
        "list" => commands::list(rest),
        "query" => commands::query(rest),
        "get" => commands::get(rest),
        "bench" => bench::run(rest),
        other => Err(usage(format!("unknown subcommand '{other}'"))),
    }
}

/// Parses a subcommand's options (plus `--help`); `None` when the usage was
/// printed.
pub fn parse_options(opts: &mut Options, args: &[String]) -> Result<Option<Matches>, Failure> {
    opts.optflag("h", "help", "print usage");
    let m = opts.parse(args).map_err(|e| usage(e.to_string()))?;
    if m.opt_present("help") {
        print!("{USAGE}");
        return Ok(None);
    }
    Ok(Some(m))
}

/// The value of option `name` parsed as a number, or `default`.
pub fn number<T: FromStr>(m: &Matches, name: &str, default: T) -> Result<T, Failure> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| usage(format!("--{name}: '{text}' is not a valid number"))),
    }
}

/// The value of address option `name`, or `default`, resolved.
pub fn address(m: &Matches, name: &str, default: &str) -> Result<std::net::SocketAddr, Failure> {
    let text = m.opt_str(name).unwrap_or_else(|| default.to_string());
    resolve(&text).map_err(|e| usage(format!("--{name}: {e}")))
}

/// The single free argument of a subcommand.
pub fn one_argument(m: &Matches, what: &str) -> Result<String, Failure> {
    match m.free.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(usage(format!("missing {what}"))),
        [_, extra, ..] => Err(usage(format!("unexpected argument '{extra}'"))),
    }
}

fn serve_command(args: &[String]) -> Result<(), Failure> {
    let mut opts = Options::new();
    opts.optopt("", "gossip", "gossipd's API address", "HOST:PORT");
    opts.optopt("", "listen", "piece server address", "HOST:PORT");
    opts.optopt(
        "",
        "advertise",
        "address announced for fetching",
        "HOST:PORT",
    );
    opts.optopt("", "data-type", "index item data type", "N");
    opts.optopt("", "reannounce-ms", "re-announce period", "MS");
    opts.optopt("", "expiry-ms", "index entry expiry", "MS");
    opts.optflag(
        "",
        "corrupt-pieces",
        "testing only: corrupt every piece served",
    );
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    let dir = PathBuf::from(one_argument(&m, "DIR")?);
    let reannounce = number(&m, "reannounce-ms", DEFAULT_REANNOUNCE_MS)?;
    let expiry = number(&m, "expiry-ms", reannounce.saturating_mul(3))?;
    if reannounce == 0 || expiry <= reannounce {
        return Err(usage(
            "--reannounce-ms must be at least 1 and below --expiry-ms",
        ));
    }
    let advertise = match m.opt_str("advertise") {
        Some(text) => Some(resolve(&text).map_err(|e| usage(format!("--advertise: {e}")))?),
        None => None,
    };
    let config = ServeConfig {
        dir,
        gossip: address(&m, "gossip", DEFAULT_GOSSIP)?,
        listen: address(&m, "listen", DEFAULT_LISTEN)?,
        advertise,
        data_type: number(&m, "data-type", DEFAULT_DATA_TYPE)?,
        reannounce: Duration::from_millis(reannounce),
        expiry: Duration::from_millis(expiry),
        corrupt: m.opt_present("corrupt-pieces"),
    };
    serve::serve(config).map_err(runtime)
}
