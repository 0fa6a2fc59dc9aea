//! `gossip-share` processes for the real-process tests: a serve process per
//! host (its shared directory, its log in a file, killed on drop) and the
//! one-shot commands `list`, `query` and `get`, each run with a deadline.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::network::after;
use super::process::{POLL, START_TIMEOUT, TempDir};

/// The test build of gossip-share.
const BIN: &str = env!("CARGO_BIN_EXE_gossip-share");
/// How long a one-shot command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Log lines printed per process when a test fails.
const DUMP_LINES: usize = 60;

/// A `gossip-share serve` process; killed (SIGKILL) and reaped on drop, its
/// log printed when the test is failing.
pub struct ShareHost {
    name: String,
    child: Child,
    /// The directory it shares.
    pub dir: TempDir,
    logs: TempDir,
    /// Its piece server (and control) address.
    pub listen: SocketAddr,
}

impl ShareHost {
    /// Starts `gossip-share serve DIR --gossip API --listen 127.0.0.1:0 ARGS`
    /// and waits for its "piece server listening on" line.
    pub fn start(name: &str, gossip_api: SocketAddr, args: &[&str]) -> ShareHost {
        let dir = TempDir::new(&format!("{name}-shared"));
        let logs = TempDir::new(&format!("{name}-logs"));
        let log = File::create(logs.path().join("serve.log")).expect("log file");
        let level = std::env::var("GOSSIPD_TEST_LOG").unwrap_or_else(|_| "info".into());
        let child = Command::new(BIN)
            .arg("serve")
            .arg(dir.path())
            .args([
                "--gossip",
                &gossip_api.to_string(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env("RUST_LOG", level)
            .env("RUST_LOG_STYLE", "never")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("gossip-share starts");
        let mut host = ShareHost {
            name: name.to_string(),
            child,
            dir,
            logs,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = host.wait_for_log(after(START_TIMEOUT), |l| {
            l.contains("piece server listening on ")
        });
        let addr = line.as_deref().and_then(|l| {
            let rest = l.split("piece server listening on ").nth(1)?;
            rest.split([' ', ',']).next()?.parse().ok()
        });
        host.listen = addr.unwrap_or_else(|| panic!("{name} did not log its listen address"));
        host
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.logs.path().join("serve.log")).unwrap_or_default()
    }

    /// Waits until a log line satisfies `pred` and returns it.
    pub fn wait_for_log(&self, deadline: Instant, pred: impl Fn(&str) -> bool) -> Option<String> {
        loop {
            if let Some(line) = self.log().lines().find(|l| pred(l)) {
                return Some(line.to_string());
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// Writes a file into the shared directory through a hidden temp name
    /// and a rename, as a careful program would.
    pub fn add_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let temp = self.dir.path().join(format!(".{name}.tmp"));
        fs::write(&temp, bytes).expect("shared dir is writable");
        let path = self.dir.path().join(name);
        fs::rename(&temp, &path).expect("rename in the shared dir");
        path
    }

    /// Deletes a shared file.
    pub fn remove_file(&self, name: &str) {
        fs::remove_file(self.dir.path().join(name)).expect("shared file exists");
    }

    /// Runs a one-shot command against this host's serve process.
    pub fn command(&self, args: &[&str]) -> Output {
        let control = self.listen.to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--control", &control]);
        run(&all)
    }

    /// `list`: (name, size, content hash, holders) per file version.
    pub fn list(&self) -> Vec<(String, u64, String, usize)> {
        let out = self.command(&["list"]);
        assert_eq!(out.code, Some(0), "list failed: {out:?}");
        out.stdout
            .lines()
            .map(|line| {
                let cols: Vec<&str> = line.split('\t').collect();
                assert_eq!(cols.len(), 4, "list line {line:?}");
                let number = |s: &str| s.parse().expect("a number");
                (
                    cols[0].to_string(),
                    number(cols[1]),
                    cols[2].to_string(),
                    number(cols[3]) as usize,
                )
            })
            .collect()
    }

    /// The holders `query NAME` names (empty when nobody has it).
    pub fn holders(&self, name: &str) -> Vec<SocketAddr> {
        let out = self.command(&["query", name]);
        out.stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("holder "))
            .map(|a| a.parse().expect("a holder address"))
            .collect()
    }

    /// Polls `holders(name)` until `pred` holds; false at the deadline.
    pub fn wait_holders(
        &self,
        name: &str,
        deadline: Instant,
        pred: impl Fn(&[SocketAddr]) -> bool,
    ) -> bool {
        loop {
            if pred(&self.holders(name)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the serve process now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ShareHost {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let skip = lines.len().saturating_sub(DUMP_LINES);
            eprintln!(
                "----- {} (gossip-share serve): last log lines -----",
                self.name
            );
            for line in &lines[skip..] {
                eprintln!("[{}] {line}", self.name);
            }
        }
        self.kill();
    }
}

/// What a one-shot command did.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None` when killed at the deadline).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// Runs `gossip-share ARGS` to its end, killed after 30 s.
pub fn run(args: &[&str]) -> Output {
    let out_dir = TempDir::new("share-cmd");
    let (out_path, err_path) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .env("RUST_LOG_STYLE", "never")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("out file"))
        .stderr(File::create(&err_path).expect("err file"))
        .spawn()
        .expect("gossip-share starts");
    let deadline = after(COMMAND_TIMEOUT);
    let code = loop {
        if let Some(status) = child.try_wait().expect("try_wait works") {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        code,
        stdout: fs::read_to_string(out_path).unwrap_or_default(),
        stderr: fs::read_to_string(err_path).unwrap_or_default(),
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift), for test files.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Pieces each holder served, from `get`'s summary lines
/// (`  holder ADDR: N pieces`).
pub fn pieces_by_holder(stdout: &str) -> Vec<(SocketAddr, u64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("holder ")?;
            let (addr, count) = rest.split_once(": ")?;
            Some((
                addr.parse().ok()?,
                count.strip_suffix(" pieces")?.parse().ok()?,
            ))
        })
        .collect()
}

/// True when the file at `path` holds exactly `bytes`.
pub fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    fs::read(path).is_ok_and(|got| got == bytes)
}
