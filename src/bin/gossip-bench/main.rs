//! gossip-bench: how fast is gossipd, and what does it cost?
//!
//! `run` starts N `gossipd` processes on 127.0.0.1 (the binary next to this
//! one), connects one API subscriber per node and a publisher at node 0, and
//! measures delivery, latency, coverage, throughput, bytes on the wire, CPU,
//! memory and threads. `floor` measures one loopback TCP hop between two
//! processes, the yardstick every cluster figure is also given against.
//! `standard` runs the floor and the six standard runs and writes
//! `target/bench/standard.json`. `pow` times making and checking an identity.
//! Every process the benchmark starts is stopped when it ends, also on an
//! error, a panic, SIGINT or SIGTERM.

mod cluster;
mod floor;
mod json;
mod pow;
mod procfs;
mod report;
mod run;
mod stats;
mod workload;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use getopts::{Matches, Options};

use crate::cluster::ClusterSpec;
use crate::floor::Floor;
use crate::json::Json;
use crate::report::{Figures, Row};
use crate::run::RunSpec;

const USAGE: &str = "\
Usage:
  gossip-bench run --nodes N --size S --rate R --items M [--degree D]
                   [--cache-size C] [--dissemination flood|plumtree]
                   [--idle-timeout SECS] [--name NAME] [--json PATH]
  gossip-bench floor --size S [--count K] [--json PATH]
  gossip-bench standard [--json PATH]
  gossip-bench pow [--difficulty N ...] [--samples K] [--verify-runs R]
  gossip-bench help | --help

run       N gossipd processes (target/release/gossipd beside this binary) on
          127.0.0.1; a publisher announces M items of S bytes (S >= 16) at
          node 0 at R items/s (0: as fast as node 0 takes them); one API
          subscriber per node validates each notification at once. Prints a
          table, writes JSON (default target/bench/NAME.json, NAME defaulting
          to nN-rR-sS). degree defaults to 8, cache_size to 1000,
          dissemination to the daemon's default (flood), the idle
          timeout (end of the run when nothing is delivered) to 5 s.
floor     one loopback TCP hop between two processes: K ping-pongs (default
          20000) for the one-way latency, a stream of 10 K messages for
          messages/s and CPU per message.
standard  the floor and the runs N = 20, 50 x R = 100, 500, 0 at S = 256;
          writes target/bench/standard.json.
pow       identity cost: K (default 5) Identity::generate calls per
          difficulty N (repeatable; default the config default) on every
          core, mean/median/max seconds; then the mean time of R (default
          100000) proof checks (pow::bits + Ed25519 signature check), in µs.
";

/// Why the benchmark failed; printed as one message.
#[derive(Debug)]
pub struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure(e.to_string())
    }
}

/// The benchmark's result type.
pub type Result<T> = std::result::Result<T, Failure>;

/// A failure with this message.
pub fn fail(msg: impl Into<String>) -> Failure {
    Failure(msg.into())
}

/// Set by SIGINT or SIGTERM; every wait checks it and unwinds, so the
/// guards stop what was started.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Fails once the benchmark was interrupted.
pub fn check_interrupted() -> Result<()> {
    match INTERRUPTED.load(Ordering::Relaxed) {
        true => Err(fail("interrupted")),
        false => Ok(()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("floor-echo") {
        // Without the handler a signal still ends the benchmark, just
        // without stopping the nodes first; not worth refusing to run.
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
    }
    match dispatch(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gossip-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match command.as_str() {
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "run" => run_command(rest),
        "floor" => floor_command(rest),
        "standard" => standard_command(rest),
        "pow" => pow::command(rest),
        "floor-echo" => {
            let addr = rest
                .first()
                .ok_or_else(|| fail("floor-echo: missing ADDR"))?;
            floor::echo_main(addr)?;
            Ok(ExitCode::SUCCESS)
        }
        other => Err(fail(format!("unknown subcommand '{other}' (try --help)"))),
    }
}

fn parse(opts: &Options, args: &[String]) -> Result<Matches> {
    let m = opts
        .parse(args)
        .map_err(|e| fail(format!("{e} (try --help)")))?;
    if !m.free.is_empty() {
        return Err(fail(format!("unexpected argument '{}'", m.free[0])));
    }
    Ok(m)
}

/// The value of `--name`, parsed; `default` when absent, an error when
/// required and absent.
fn number<T: std::str::FromStr>(m: &Matches, name: &str, default: Option<T>) -> Result<T> {
    match (m.opt_str(name), default) {
        (Some(v), _) => v
            .parse()
            .map_err(|_| fail(format!("--{name}: '{v}' is not a valid number"))),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(fail(format!("--{name} is required (try --help)"))),
    }
}

fn run_command(args: &[String]) -> Result<ExitCode> {
    let mut opts = Options::new();
    for (name, hint) in [
        ("nodes", "N"),
        ("size", "S"),
        ("rate", "R"),
        ("items", "M"),
        ("degree", "D"),
        ("cache-size", "C"),
        ("dissemination", "MODE"),
        ("idle-timeout", "SECS"),
        ("name", "NAME"),
        ("json", "PATH"),
    ] {
        opts.optopt("", name, "", hint);
    }
    let m = parse(&opts, args)?;
    let (nodes, size, rate) = (
        number(&m, "nodes", None)?,
        number(&m, "size", None)?,
        number(&m, "rate", None)?,
    );
    let items: u64 = number(&m, "items", None)?;
    if nodes < 2 || size < workload::STAMP_LEN || items == 0 {
        return Err(fail("need --nodes >= 2, --size >= 16 and --items >= 1"));
    }
    let mut spec = run_spec(nodes, size, rate, items);
    spec.cluster.degree = number(&m, "degree", Some(8))?;
    spec.cluster.cache_size = number(&m, "cache-size", Some(1000))?;
    if let Some(mode) = m.opt_str("dissemination") {
        spec.cluster.dissemination = mode;
    }
    spec.idle_timeout = Duration::from_secs_f64(number(&m, "idle-timeout", Some(5.0))?);
    spec.name = m.opt_str("name").unwrap_or(spec.name);
    let json_path = m.opt_str("json").map_or_else(
        || bench_dir().join(format!("{}.json", spec.name)),
        PathBuf::from,
    );
    let ticks = procfs::clock_ticks_per_second();
    let floor = floor::measure(size, 10_000, 100_000, ticks)?;
    report::print_floor(&floor);
    let result = run::execute(&spec, &gossipd_path()?, ticks)?;
    let figures = Figures::of(&result);
    report::print_run(&result, &figures, &floor);
    let doc = document(
        "run",
        &floor,
        vec![report::run_json(&result, &figures, &floor)],
        Vec::new(),
    );
    write_json(&json_path, &doc)?;
    Ok(ExitCode::SUCCESS)
}

fn floor_command(args: &[String]) -> Result<ExitCode> {
    let mut opts = Options::new();
    opts.optopt("", "size", "", "S");
    opts.optopt("", "count", "", "K");
    opts.optopt("", "json", "", "PATH");
    let m = parse(&opts, args)?;
    let size: usize = number(&m, "size", None)?;
    let count: usize = number(&m, "count", Some(20_000))?;
    if size < workload::STAMP_LEN || count == 0 {
        return Err(fail("need --size >= 16 and --count >= 1"));
    }
    let ticks = procfs::clock_ticks_per_second();
    let floor = floor::measure(size, count, 10 * count, ticks)?;
    report::print_floor(&floor);
    let path = m.opt_str("json").map_or_else(
        || bench_dir().join(format!("floor-s{size}.json")),
        PathBuf::from,
    );
    write_json(&path, &document("floor", &floor, Vec::new(), Vec::new()))?;
    Ok(ExitCode::SUCCESS)
}

/// The standard runs: (nodes, rate, items) at S = 256.
const STANDARD_RUNS: [(usize, u32, u64); 6] = [
    (20, 100, 1_000),
    (20, 500, 5_000),
    (20, 0, 20_000),
    (50, 100, 1_000),
    (50, 500, 5_000),
    (50, 0, 10_000),
];
/// Payload size of the standard runs.
const STANDARD_SIZE: usize = 256;

fn standard_command(args: &[String]) -> Result<ExitCode> {
    let mut opts = Options::new();
    opts.optopt("", "json", "", "PATH");
    let m = parse(&opts, args)?;
    let path = m
        .opt_str("json")
        .map_or_else(|| bench_dir().join("standard.json"), PathBuf::from);
    let gossipd = gossipd_path()?;
    let ticks = procfs::clock_ticks_per_second();
    let floor = floor::measure(STANDARD_SIZE, 20_000, 200_000, ticks)?;
    report::print_floor(&floor);
    let mut rows = Vec::new();
    let (mut runs, mut failures) = (Vec::new(), Vec::new());
    for (nodes, rate, items) in STANDARD_RUNS {
        let spec = run_spec(nodes, STANDARD_SIZE, rate, items);
        match run::execute(&spec, &gossipd, ticks) {
            Ok(result) => {
                let figures = Figures::of(&result);
                report::print_run(&result, &figures, &floor);
                runs.push(report::run_json(&result, &figures, &floor));
                rows.push(Row::Done { spec, figures });
            }
            Err(e) => {
                println!("== {} FAILED: {e}\n", spec.name);
                failures.push(
                    Json::obj()
                        .with("name", spec.name.as_str())
                        .with("error", e.0.as_str()),
                );
                rows.push(Row::Failed { spec, why: e.0 });
            }
        }
        check_interrupted()?;
    }
    println!("== summary (S = {STANDARD_SIZE} B, degree 8, cache_size 1000) ==");
    report::print_summary(&rows, &floor);
    let ok = failures.is_empty();
    write_json(&path, &document("standard", &floor, runs, failures))?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A run with the default cluster and timeouts, named `nN-rR-sS`.
fn run_spec(nodes: usize, size: usize, rate: u32, items: u64) -> RunSpec {
    let max_time = match rate {
        0 => Duration::from_secs(90),
        r => Duration::from_secs(items / u64::from(r) + 30),
    };
    RunSpec {
        name: format!("n{nodes}-r{rate}-s{size}"),
        cluster: ClusterSpec {
            nodes,
            degree: 8,
            cache_size: 1000,
            dissemination: "flood".to_string(),
        },
        size,
        rate,
        items,
        idle_timeout: Duration::from_secs(5),
        max_time,
    }
}

/// `target/bench`, relative to the working directory.
fn bench_dir() -> PathBuf {
    PathBuf::from("target").join("bench")
}

/// The `gossipd` binary next to this one.
fn gossipd_path() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("gossipd");
    if !path.is_file() {
        return Err(fail(format!(
            "{} not found: build it first (cargo build --release --bins)",
            path.display()
        )));
    }
    Ok(path)
}

/// The JSON document: what ran where, the floor, the runs.
fn document(command: &str, floor: &Floor, runs: Vec<Json>, failures: Vec<Json>) -> Json {
    Json::obj()
        .with("benchmark", format!("gossip-bench {command}"))
        .with("machine", machine_json())
        .with("floor", report::floor_json(floor))
        .with("runs", Json::Arr(runs))
        .with("failures", Json::Arr(failures))
}

fn machine_json() -> Json {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cpu_model = fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
        info.lines().find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
    });
    let version = gossipd_path()
        .ok()
        .and_then(|p| Command::new(p).arg("--version").output().ok());
    Json::obj()
        .with("unix_time", unix)
        .with(
            "cpus",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        )
        .with("cpu_model", cpu_model)
        .with("clock_ticks_per_s", procfs::clock_ticks_per_second())
        .with(
            "gossipd_version",
            version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()),
        )
}

fn write_json(path: &Path, doc: &Json) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, doc.render())
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
    println!("JSON written to {}", path.display());
    Ok(())
}
