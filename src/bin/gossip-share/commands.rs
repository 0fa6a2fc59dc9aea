//! `list`, `query` and `get`: the commands that ask the local serve process
//! for the network index (and, for `get`, download from the holders).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use getopts::Options;

use crate::control::files;
use crate::fetch::{FetchOptions, Wanted, fetch};
use crate::hash::Hash;
use crate::index::FileRow;
use crate::wire::Request;
use crate::{
    DEFAULT_LISTEN, Failure, address, number, one_argument, parse_options, runtime, usage,
};

/// Default connections per holder for `get`.
const DEFAULT_CONNECTIONS: usize = 2;
/// Most connections per holder `get` accepts.
const MAX_CONNECTIONS: usize = 16;
/// Default time without a piece after which `get` fails.
const DEFAULT_STALL_MS: u64 = 30_000;

fn control_option(opts: &mut Options) {
    opts.optopt("", "control", "the local serve process", "HOST:PORT");
}

fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| runtime(format!("cannot write to stdout: {e}")))
}

/// `list`: one line per file version, tab-separated.
pub fn list(args: &[String]) -> Result<(), Failure> {
    let mut opts = Options::new();
    control_option(&mut opts);
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    if let Some(extra) = m.free.first() {
        return Err(usage(format!("unexpected argument '{extra}'")));
    }
    let control = address(&m, "control", DEFAULT_LISTEN)?;
    let rows = files(control, &Request::List).map_err(runtime)?;
    let text: String = rows
        .iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}\t{}\n",
                r.name,
                r.size,
                r.content,
                r.holders.len()
            )
        })
        .collect();
    print(&text)
}

/// `query NAME`: each version with its holders; exit 1 when nobody has it.
pub fn query(args: &[String]) -> Result<(), Failure> {
    let mut opts = Options::new();
    control_option(&mut opts);
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    let name = one_argument(&m, "NAME")?;
    let control = address(&m, "control", DEFAULT_LISTEN)?;
    let rows = files(control, &Request::Query(name.clone())).map_err(runtime)?;
    if rows.is_empty() {
        return Err(runtime(format!("no holder of {name} is known")));
    }
    let mut text = String::new();
    for row in &rows {
        text.push_str(&format!("{}\t{}\t{}\n", row.name, row.size, row.content));
        for holder in &row.holders {
            text.push_str(&format!("  holder {holder}\n"));
        }
    }
    print(&text)
}

/// `get NAME`: downloads the version with the most holders (or `--hash`).
pub fn get(args: &[String]) -> Result<(), Failure> {
    let mut opts = Options::new();
    control_option(&mut opts);
    opts.optopt("o", "output", "where to write the file", "PATH");
    opts.optopt("", "hash", "the content hash of the version", "HEX");
    opts.optopt("", "connections", "connections per holder", "N");
    opts.optopt(
        "",
        "stall-timeout-ms",
        "fail after this long without a piece",
        "MS",
    );
    opts.optflag("", "force", "replace an existing file");
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    let name = one_argument(&m, "NAME")?;
    let hash = match m.opt_str("hash") {
        Some(text) => {
            Some(Hash::from_hex(&text).ok_or_else(|| usage("--hash: not 64 hex digits"))?)
        }
        None => None,
    };
    let connections = number(&m, "connections", DEFAULT_CONNECTIONS)?;
    if connections == 0 || connections > MAX_CONNECTIONS {
        return Err(usage(format!(
            "--connections must be 1..={MAX_CONNECTIONS}"
        )));
    }
    let stall = number(&m, "stall-timeout-ms", DEFAULT_STALL_MS)?;
    let target = target_path(m.opt_str("output"), &name);
    if target.exists() && !m.opt_present("force") {
        let shown = target.display();
        return Err(runtime(format!("{shown} exists (--force replaces it)")));
    }
    let control = address(&m, "control", DEFAULT_LISTEN)?;
    let rows = files(control, &Request::Query(name.clone())).map_err(runtime)?;
    let row = choose(rows, hash).ok_or_else(|| runtime(format!("no holder of {name} is known")))?;
    let wanted = Wanted {
        name: row.name,
        content: row.content,
        size: row.size,
        piece_size: row.piece_size,
        holders: row.holders,
    };
    let opts = FetchOptions {
        connections,
        stall_timeout: Duration::from_millis(stall.max(1)),
        progress: true,
    };
    let report = fetch(&wanted, &target, &opts).map_err(runtime)?;
    print(&summary(&wanted, &target, &report))
}

/// `-o PATH`, `-o DIR` (the file goes into it) or `./NAME`.
fn target_path(output: Option<String>, name: &str) -> PathBuf {
    match output {
        Some(path) if Path::new(&path).is_dir() => Path::new(&path).join(name),
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(name),
    }
}

/// The version with that hash, or the one with the most holders.
fn choose(rows: Vec<FileRow>, hash: Option<Hash>) -> Option<FileRow> {
    match hash {
        Some(hash) => rows.into_iter().find(|r| r.content == hash),
        // `query` sorts the versions by holders, most first.
        None => rows.into_iter().next(),
    }
}

fn summary(wanted: &Wanted, target: &Path, report: &crate::fetch::Report) -> String {
    let secs = report.elapsed.as_secs_f64().max(1e-6);
    let mut text = format!(
        "got {} ({} bytes, content {}) into {} in {:.2} s ({:.1} MB/s)\n",
        wanted.name,
        wanted.size,
        wanted.content,
        target.display(),
        secs,
        wanted.size as f64 / secs / 1e6
    );
    for (holder, pieces) in wanted.holders.iter().zip(&report.pieces) {
        text.push_str(&format!("  holder {holder}: {pieces} pieces\n"));
    }
    for (holder, reason) in &report.dropped {
        text.push_str(&format!("  dropped {holder}: {reason}\n"));
    }
    text
}
