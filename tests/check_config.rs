//! `gossipd --check-config` with the real binary: the effective settings on
//! stdout and exit 0 for a config gossipd would start with; exit 2 and one
//! line naming the file, the line and the key for one it would not, including
//! what only start-up used to find out (a host key file that is missing).

mod common;

use std::path::Path;
use std::process::Command;

use common::{TempDir, run_to_exit};

const GOSSIPD: &str = env!("CARGO_BIN_EXE_gossipd");
/// Every key `--check-config` must print (SPEC §3 and the project's own).
const KEYS: [&str; 14] = [
    "hostkey",
    "api_address",
    "p2p_address",
    "bootstrapper",
    "degree",
    "cache_size",
    "validation_timeout_ms",
    "client_queue",
    "peer_queue",
    "network_key",
    "pow_difficulty",
    "ban_time_s",
    "keepalive_timeout_ms",
    "dissemination",
];

fn utf8(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// `gossipd --generate-key DIR/NAME` at a light proof of work.
fn key_file(dir: &TempDir, name: &str, bits: u32) -> String {
    let path = dir.path().join(name);
    let out = Command::new(GOSSIPD)
        .args(["--generate-key", utf8(&path)])
        .args(["--pow-difficulty", &bits.to_string()])
        .output()
        .expect("gossipd runs");
    assert!(out.status.success(), "--generate-key: {out:?}");
    utf8(&path).to_string()
}

/// The lines gossipd printed on stdout, without the harness's prefix.
fn stdout_lines(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("stdout: "))
        .collect()
}

#[test]
fn a_valid_config_prints_every_key_and_exits_0() {
    let dir = TempDir::new("check-valid");
    let key = key_file(&dir, "host.pem", 8);
    let text = format!(
        "hostkey = {key}\n[gossip]\np2p_address = 127.0.0.1:0\ndegree = 5\n\
         pow_difficulty = 8\n[onion]\nanything = 1\n"
    );
    let config = dir.write("valid.ini", &text);
    let (code, lines) = run_to_exit(&["--check-config", "-c", utf8(&config), "--cache-size", "77"]);
    assert_eq!(code, Some(0), "output: {lines:?}");
    let out = stdout_lines(&lines);
    for key in KEYS {
        assert!(
            out.iter()
                .any(|l| l.starts_with(&format!("{key} = ")) || *l == format!("{key} =")),
            "{key} missing in {out:#?}"
        );
    }
    assert!(out.contains(&"degree = 5"), "{out:#?}");
    assert!(out.contains(&"cache_size = 77"), "{out:#?}");
    assert!(
        out.contains(&"peer_queue = 1024"),
        "defaults filled in: {out:#?}"
    );
    assert!(
        out.contains(&format!("hostkey = {key}").as_str()),
        "{out:#?}"
    );
    assert!(
        out.iter().any(|l| l.contains("peer id")),
        "names the identity: {out:#?}"
    );

    // The output is a config file that checks out the same way.
    let again = dir.write("again.ini", &(out.join("\n") + "\n"));
    let (code, lines) = run_to_exit(&["--check-config", "-c", utf8(&again)]);
    assert_eq!(code, Some(0), "output: {lines:?}");
    assert_eq!(
        stdout_lines(&lines)
            .iter()
            .filter(|l| !l.starts_with(';'))
            .count(),
        out.iter().filter(|l| !l.starts_with(';')).count()
    );
    assert!(stdout_lines(&lines).contains(&"cache_size = 77"));
}

#[test]
fn a_bad_value_exits_2_with_one_line_naming_file_line_and_key() {
    let dir = TempDir::new("check-bad");
    let config = dir.write("bad.ini", "[gossip]\n; comment\ncache_size = lots\n");
    let (code, lines) = run_to_exit(&["--check-config", "-c", utf8(&config)]);
    assert_eq!(code, Some(2), "output: {lines:?}");
    assert_eq!(lines.len(), 1, "exactly one line: {lines:?}");
    assert!(
        lines[0].contains("bad.ini:3: key `cache_size`"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_missing_hostkey_file_exits_2_naming_it() {
    let dir = TempDir::new("check-nokey");
    let missing = dir.path().join("no-such-key.pem");
    let text = format!("; identity\nhostkey = {}\n", missing.display());
    let config = dir.write("nokey.ini", &text);
    let (code, lines) = run_to_exit(&["--check-config", "-c", utf8(&config)]);
    assert_eq!(code, Some(2), "output: {lines:?}");
    assert_eq!(lines.len(), 1, "exactly one line: {lines:?}");
    let line = &lines[0];
    assert!(line.contains("nokey.ini:2: key `hostkey`"), "{line}");
    assert!(line.contains("no-such-key.pem"), "{line}");
}

#[test]
fn a_key_below_pow_difficulty_and_clashing_ports_exit_2() {
    let dir = TempDir::new("check-weak");
    let key = key_file(&dir, "weak.pem", 4);
    let (code, lines) = run_to_exit(&[
        "--check-config",
        "--hostkey",
        &key,
        "--pow-difficulty",
        "30",
    ]);
    assert_eq!(code, Some(2), "output: {lines:?}");
    assert!(
        lines.len() == 1 && lines[0].contains("option --hostkey") && lines[0].contains("30"),
        "{lines:?}"
    );
    let config = dir.write("clash.ini", "[gossip]\napi_address = 127.0.0.1:7002\n");
    let (code, lines) = run_to_exit(&["--check-config", "-c", utf8(&config)]);
    assert_eq!(code, Some(2), "output: {lines:?}");
    assert!(
        lines[0].contains("clash.ini:2: key `api_address`"),
        "{lines:?}"
    );
}

#[test]
fn the_example_configs_check_out() {
    let dir = TempDir::new("check-examples");
    let key = key_file(&dir, "host.pem", 8);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut configs = vec![root.join("gossipd.ini")];
    for host in ["a", "b", "c"] {
        configs.push(root.join(format!("three-hosts/host-{host}.ini")));
    }
    for config in configs {
        let args = [
            "--check-config",
            "-c",
            utf8(&config),
            "--hostkey",
            &key,
            "--pow-difficulty",
            "8",
        ];
        let (code, lines) = run_to_exit(&args);
        assert_eq!(code, Some(0), "{}: {lines:?}", config.display());
        assert!(
            !lines.iter().any(|l| l.contains("WARN")),
            "{}: {lines:?}",
            config.display()
        );
    }
}

#[test]
fn help_lists_check_config() {
    let (code, lines) = run_to_exit(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(
        lines.iter().any(|l| l.contains("--check-config")),
        "{lines:?}"
    );
}
