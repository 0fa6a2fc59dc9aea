//! Three hosts on one machine for real: three network namespaces on one
//! private network, a `gossipd` in each started with the example configs in
//! `config/three-hosts/` unchanged (only `--hostkey` and a light
//! `--pow-difficulty` are added), b and c joining through a, and one item
//! announced at b arriving at a and c.
//!
//! Layout (names carry the test's pid, so parallel runs do not collide):
//!
//! ```text
//!   gsd<pid>a  eth0 10.77.0.1 ─┐
//!   gsd<pid>b  eth0 10.77.0.2 ─┼─ br0 in gsd<pid>br (a bridge, no address)
//!   gsd<pid>c  eth0 10.77.0.3 ─┘
//! ```
//!
//! Every link is created inside the namespaces (`ip -n`), none in the root
//! namespace, so the gossip traffic stays on the bridge and each host's own
//! loopback. Each API listens on 127.0.0.1:7001 *inside* its namespace, as the
//! configs say (the API has no authentication: loopback only), so the test
//! reaches it the way an operator would: by running `gossip-cli` in the
//! namespace with `ip netns exec`.
//!
//! [`Lab`] is the guard: dropping it (also when the test panics) kills every
//! process it started and deletes the namespaces. Without root, without `ip`,
//! or when the kernel refuses namespaces, veth pairs or bridges, the test
//! prints `skipped: <reason>` and passes.

mod common;

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{TempDir, after};

const GOSSIPD: &str = env!("CARGO_BIN_EXE_gossipd");
const CLI: &str = env!("CARGO_BIN_EXE_gossip-cli");
/// The hosts, their config files and their addresses (as in the configs).
const HOSTS: [(&str, &str); 3] = [("a", "10.77.0.1"), ("b", "10.77.0.2"), ("c", "10.77.0.3")];
/// Light proof of work, so the three key files are made in milliseconds.
const POW: &str = "12";
const PROBE_TYPE: &str = "9";
const ITEM_TYPE: &str = "42";

/// The namespaces and processes of one run; cleaned up on drop.
struct Lab {
    /// Namespaces created so far, deleted on drop.
    namespaces: Vec<String>,
    /// Processes started so far (gossipd and gossip-cli), killed on drop.
    children: Vec<(String, Child)>,
    dir: TempDir,
    prefix: String,
}

impl Lab {
    /// Creates the bridge namespace and one namespace per host, wired up.
    /// `Err` is the reason to skip.
    fn create() -> Result<Lab, String> {
        check_root()?;
        let mut lab = Lab {
            namespaces: Vec::new(),
            children: Vec::new(),
            dir: TempDir::new("netns"),
            prefix: format!("gsd{}", std::process::id()),
        };
        let bridge = lab.add_namespace("br")?;
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge, "link", "set", "br0", "up"])?;
        for (host, address) in HOSTS {
            let ns = lab.add_namespace(host)?;
            let port = format!("v{host}");
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n", &bridge, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&["-n", &bridge, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &bridge, "link", "set", &port, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        Ok(lab)
    }

    fn add_namespace(&mut self, suffix: &str) -> Result<String, String> {
        let name = format!("{}{suffix}", self.prefix);
        ip(&["netns", "add", &name])?;
        self.namespaces.push(name.clone());
        Ok(name)
    }

    fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    /// Starts `program ARGS` inside `host`'s namespace, output to files.
    fn spawn(&mut self, name: &str, host: &str, program: &str, args: &[&str]) -> PathBuf {
        let out = self.dir.path().join(format!("{name}.out"));
        let stdout = File::create(&out).expect("temp dir is writable");
        let stderr = stdout.try_clone().expect("file handles can be cloned");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host), program])
            .args(args)
            .env("RUST_LOG", "info")
            .env("RUST_LOG_STYLE", "never")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("ip netns exec starts");
        self.children.push((name.to_string(), child));
        out
    }

    /// Starts host `host`'s gossipd with its config from `config/three-hosts/`.
    fn start_gossipd(&mut self, host: &str) -> PathBuf {
        let key = self.dir.path().join(format!("{host}.pem"));
        let made = Command::new(GOSSIPD)
            .args(["--generate-key", utf8(&key), "--pow-difficulty", POW])
            .output()
            .expect("gossipd runs");
        assert!(made.status.success(), "--generate-key: {made:?}");
        let config = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config/three-hosts")
            .join(format!("host-{host}.ini"));
        let args = [
            "-c",
            utf8(&config),
            "--hostkey",
            utf8(&key),
            "--pow-difficulty",
            POW,
        ];
        self.spawn(&format!("gossipd-{host}"), host, GOSSIPD, &args)
    }

    /// Runs `gossip-cli ARGS` in `host`'s namespace to completion.
    fn cli(&self, host: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(host), CLI])
            .args(args)
            .output()
            .expect("ip netns exec starts")
    }

    /// Waits for the child `name` to exit; `None` at the deadline.
    fn wait(&mut self, name: &str, deadline: Instant) -> Option<std::process::ExitStatus> {
        let child = &mut self
            .children
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("a started child")
            .1;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait works") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics (printing every log) unless each gossipd is still running.
    fn assert_gossipds_running(&mut self) {
        for (host, _) in HOSTS {
            if let Some(status) = self.wait(&format!("gossipd-{host}"), Instant::now()) {
                panic!("gossipd on host {host} exited: {status}");
            }
        }
    }

    fn print_logs(&self) {
        for (name, _) in &self.children {
            let path = self.dir.path().join(format!("{name}.out"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            eprintln!("----- {name} -----\n{text}");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if thread::panicking() {
            self.print_logs();
        }
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.namespaces.iter().rev() {
            // Anything still inside was started by this test (the names are
            // its own); a namespace is only gone once its processes are.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Runs `ip ARGS`; `Err` names the command and what went wrong.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = match Command::new("ip").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err("no `ip` command".into()),
        Err(e) => return Err(format!("cannot run `ip`: {e}")),
    };
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Network namespaces need root (CAP_SYS_ADMIN); the effective uid is the
/// second field of `Uid:` in /proc/self/status.
fn check_root() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        .ok_or("no Uid line in /proc/self/status")?;
    if euid == "0" {
        Ok(())
    } else {
        Err(format!("not root (effective uid {euid})"))
    }
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// Waits until `file` contains every one of `needles`.
fn wait_for_text(file: &Path, needles: &[&str], deadline: Instant) -> bool {
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if needles.iter().all(|n| text.contains(n)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// How many API clients `log` shows connected so far.
fn clients_connected(log: &Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("API client") && l.contains("connected from"))
        .count()
}

#[test]
fn an_item_announced_in_one_namespace_reaches_the_other_two() {
    let started = Instant::now();
    let mut lab = match Lab::create() {
        Ok(lab) => lab,
        Err(reason) => {
            println!("skipped: {reason}");
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let logs: Vec<PathBuf> = HOSTS.iter().map(|(h, _)| lab.start_gossipd(h)).collect();
    for ((host, address), log) in HOSTS.iter().zip(&logs) {
        let p2p = format!("P2P listening on {address}:7002");
        let ready = wait_for_text(
            log,
            &[&p2p, "API listening on 127.0.0.1:7001"],
            after(Duration::from_secs(15)),
        );
        assert!(ready, "gossipd on host {host} did not start listening");
    }
    eprintln!("three gossipds up after {:?}", started.elapsed());

    // b and c joined through a: a sees both, from their own namespaces.
    let joined = wait_for_text(
        &logs[0],
        &["peer up: ", " at 10.77.0.2:7002", " at 10.77.0.3:7002"],
        after(Duration::from_secs(20)),
    );
    assert!(joined, "host a never saw b and c as neighbours");

    // Probes from a until b and c each got one: the network carries items.
    for host in ["b", "c"] {
        let args = [
            "subscribe",
            "--type",
            PROBE_TYPE,
            "--count",
            "1",
            "--timeout-ms",
            "30000",
        ];
        lab.spawn(&format!("probe-{host}"), host, CLI, &args);
    }
    let deadline = after(Duration::from_secs(30));
    let mut probes = 0;
    while lab.wait("probe-b", Instant::now()).is_none()
        || lab.wait("probe-c", Instant::now()).is_none()
    {
        lab.assert_gossipds_running();
        assert!(
            Instant::now() < deadline,
            "probes from a did not reach b and c in 30 s"
        );
        probes += 1;
        let out = lab.cli(
            "a",
            &["announce", "--type", PROBE_TYPE, &format!("probe {probes}")],
        );
        assert!(out.status.success(), "announce at a: {out:?}");
        thread::sleep(Duration::from_millis(300));
    }
    eprintln!("connected after {probes} probe(s), {:?}", started.elapsed());

    // One item announced at b arrives at a and c.
    let receivers = ["a", "c"];
    let mut outputs = Vec::new();
    for (i, host) in receivers.iter().enumerate() {
        let log = &logs[if i == 0 { 0 } else { 2 }];
        let before = clients_connected(log);
        let args = [
            "subscribe",
            "--type",
            ITEM_TYPE,
            "--count",
            "1",
            "--timeout-ms",
            "15000",
        ];
        outputs.push(lab.spawn(&format!("sub-{host}"), host, CLI, &args));
        let deadline = after(Duration::from_secs(10));
        while clients_connected(log) == before {
            assert!(
                Instant::now() < deadline,
                "subscriber on {host} never connected"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
    // NOTIFY has no acknowledgement: let it follow the connection.
    thread::sleep(Duration::from_millis(500));
    let item = format!("hello from host b, run {}", std::process::id());
    let out = lab.cli("b", &["announce", "--type", ITEM_TYPE, &item]);
    assert!(out.status.success(), "announce at b: {out:?}");
    let sent = Instant::now();
    for (host, output) in receivers.iter().zip(&outputs) {
        let status = lab.wait(&format!("sub-{host}"), after(Duration::from_secs(20)));
        let text = std::fs::read_to_string(output).unwrap_or_default();
        assert!(
            status.is_some_and(|s| s.success()),
            "subscriber on {host}: {status:?}, output {text:?}"
        );
        assert!(
            text.contains(&format!("data={item}")),
            "host {host} got {text:?}"
        );
        eprintln!(
            "host {host} got the item {:?} after the announcement",
            sent.elapsed()
        );
    }
    lab.assert_gossipds_running();
    eprintln!("done in {:?}", started.elapsed());
}
