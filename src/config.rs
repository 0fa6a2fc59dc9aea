//! The daemon's settings: the config file (SPEC §3), its defaults and their
//! provenance, and the errors a bad file produces.
//!
//! Reading goes in three steps: [`ini`] turns text into `key = value` entries,
//! [`Config::parse`] picks gossipd's keys out of them, and [`Config::set`] checks
//! each value (the command line reuses it, see `options`). Other modules'
//! sections and global keys share the file and are ignored; unknown keys in
//! `[gossip]` become warnings, because a typo there would otherwise silently
//! leave a default in force.

pub mod effective;
mod endpoint;
pub mod ini;
mod key;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::proto::Dissemination;

pub use effective::Effective;
pub use endpoint::Endpoint;
use ini::{IniError, ReadError};
pub use key::{Key, ValueError};

/// The section holding gossipd's own keys.
pub const GOSSIP_SECTION: &str = "gossip";

/// Default `api_address`, from SPEC §2: loopback only, so a fresh daemon does not
/// expose its unauthenticated API to the network.
pub const DEFAULT_API_ADDRESS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7001));

/// Default `p2p_address`, from SPEC §2. Loopback is safe for a first try; a real
/// deployment sets a reachable address.
pub const DEFAULT_P2P_ADDRESS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7002));

/// Default `degree`. Gossipsub keeps its mesh degree at D = 6 within 4..=12, and
/// HyParView sizes its active view as log(N) + c (5 for 10 000 nodes in the
/// paper). 8 sits inside both and keeps a random graph of thousands of hosts
/// connected with room for failures. A starting point, to be tuned with the
/// simulator, not a measured optimum.
pub const DEFAULT_DEGREE: usize = 8;

/// Allowed `degree`. Each peer costs two threads and a queue, so 256 peers
/// (512 threads) is a generous ceiling; 0 would isolate the host.
pub const DEGREE_RANGE: RangeInclusive<usize> = 1..=256;

/// Default `cache_size`: about 5 s of items at 200 items/s, so items waiting
/// for a slow validation (deadline 5 s) are not pushed out. Worst case 1000 maximal items of 65 527 bytes,
/// about 62.5 MiB. The rate is a guess, not a measurement.
pub const DEFAULT_CACHE_SIZE: usize = 1000;

/// Allowed `cache_size`. The ceiling guards against typos (a million maximal
/// items would be 65 GB), not against every unwise value.
pub const CACHE_SIZE_RANGE: RangeInclusive<usize> = 1..=1_000_000;

/// Default `validation_timeout_ms`: 5 s, as SPEC §4 fixes.
pub const DEFAULT_VALIDATION_TIMEOUT_MS: u64 = 5000;

/// Allowed `validation_timeout_ms`. Ten minutes is a guess at the longest a
/// module could reasonably need; beyond it items would be stale anyway.
pub const VALIDATION_TIMEOUT_MS_RANGE: RangeInclusive<u64> = 1..=600_000;

/// Default `client_queue`: notifications waiting for one API client to read
/// them. Flow control keeps a healthy client far below it (items wait for
/// verdicts in the validation window of `cache_size / 2`, and a client that
/// holds the full window silently is disconnected), so it only catches a
/// client that stopped reading while items need no verdict from it. A guess;
/// the notifications share their data with the cache, so the queue itself
/// costs little.
pub const DEFAULT_CLIENT_QUEUE: usize = 1024;

/// Allowed `client_queue`; the ceiling guards against typos.
pub const CLIENT_QUEUE_RANGE: RangeInclusive<usize> = 1..=1_000_000;

/// Default `peer_queue`: messages waiting for one peer connection's writer.
/// From half of it (or 1 MiB) on the outbox counts as congested and this
/// host's own announcements wait; full, further messages wait in a per-peer
/// backlog. 1024 small items batch well into one write; a guess, not a
/// measured optimum.
pub const DEFAULT_PEER_QUEUE: usize = 1024;

/// Default `pow_difficulty`: leading zero bits of BLAKE2s(public key, nonce)
/// an identity must show. Measured on a 2-vCPU host: about a second to
/// generate with every core, microseconds to check (see README); each extra
/// bit doubles the cost of making an identity.
pub const DEFAULT_POW_DIFFICULTY: u32 = 22;

/// Allowed `pow_difficulty`: 0 switches the cost off (tests, closed
/// networks); beyond 40 bits an identity would take days.
pub const POW_DIFFICULTY_RANGE: RangeInclusive<u32> = 0..=40;

/// Default `ban_time_s`: ten minutes, long enough to make misbehaving
/// expensive, short enough that a host that was fixed comes back without an
/// operator. A guess.
pub const DEFAULT_BAN_TIME_S: u64 = 600;

/// Allowed `ban_time_s`: a second to thirty days.
pub const BAN_TIME_S_RANGE: RangeInclusive<u64> = 1..=30 * 24 * 3600;

/// Default `keepalive_timeout_ms`: a neighbour silent for 10 s is dropped
/// (keep-alives go out every 3.3 s). A guess: far beyond a healthy round
/// trip and beyond the 5 s validation deadline a busy host may spend before
/// it reads again, short enough to route around a hung host quickly.
pub const DEFAULT_KEEPALIVE_TIMEOUT_MS: u64 = 10_000;

/// Allowed `keepalive_timeout_ms`: half a second to an hour.
pub const KEEPALIVE_TIMEOUT_MS_RANGE: RangeInclusive<u64> = 500..=3_600_000;

/// A private network's pre-shared key (32 bytes); see `network_key`.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkKey([u8; 32]);

impl NetworkKey {
    /// Parses exactly 64 hex digits.
    pub fn from_hex(text: &str) -> Option<NetworkKey> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(NetworkKey(key))
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for NetworkKey {
    /// Never prints the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkKey(..)")
    }
}

/// Allowed `peer_queue`; the ceiling guards against typos.
pub const PEER_QUEUE_RANGE: RangeInclusive<usize> = 1..=1_000_000;

/// Everything the daemon reads from its config file (SPEC §3), with defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Global `hostkey`: the private key file; `None` runs with a fresh temporary
    /// identity (SPEC §6).
    pub hostkey: Option<PathBuf>,
    /// `api_address`: where local modules connect ([`DEFAULT_API_ADDRESS`]).
    pub api_address: Endpoint,
    /// `p2p_address`: where peers connect ([`DEFAULT_P2P_ADDRESS`]).
    pub p2p_address: Endpoint,
    /// `bootstrapper`: a peer to join through; `None` starts a new network.
    pub bootstrapper: Option<Endpoint>,
    /// `degree`: peers this host keeps exchanging items with ([`DEFAULT_DEGREE`]).
    pub degree: usize,
    /// `cache_size`: data items held for spreading ([`DEFAULT_CACHE_SIZE`]).
    pub cache_size: usize,
    /// `validation_timeout_ms`: how long to wait for local verdicts on an item.
    pub validation_timeout: Duration,
    /// `client_queue`: notifications queued per API client before it is
    /// disconnected as too slow ([`DEFAULT_CLIENT_QUEUE`]).
    pub client_queue: usize,
    /// `peer_queue`: messages queued per peer connection before the peer is
    /// dropped as too slow ([`DEFAULT_PEER_QUEUE`]).
    pub peer_queue: usize,
    /// `network_key`: a private network's pre-shared key; `None` for an open
    /// network.
    pub network_key: Option<NetworkKey>,
    /// `pow_difficulty`: proof-of-work bits required of every identity
    /// ([`DEFAULT_POW_DIFFICULTY`]).
    pub pow_difficulty: u32,
    /// `ban_time_s`: how long a misbehaving peer stays banned
    /// ([`DEFAULT_BAN_TIME_S`]).
    pub ban_time: Duration,
    /// `keepalive_timeout_ms`: a neighbour silent this long is dropped
    /// ([`DEFAULT_KEEPALIVE_TIMEOUT_MS`]).
    pub keepalive_timeout: Duration,
    /// `dissemination`: how items spread ([`Dissemination::Flood`] by
    /// default until Plumtree loses nothing under overload).
    pub dissemination: Dissemination,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            hostkey: None,
            api_address: Endpoint::from(DEFAULT_API_ADDRESS),
            p2p_address: Endpoint::from(DEFAULT_P2P_ADDRESS),
            bootstrapper: None,
            degree: DEFAULT_DEGREE,
            cache_size: DEFAULT_CACHE_SIZE,
            validation_timeout: Duration::from_millis(DEFAULT_VALIDATION_TIMEOUT_MS),
            client_queue: DEFAULT_CLIENT_QUEUE,
            peer_queue: DEFAULT_PEER_QUEUE,
            network_key: None,
            pow_difficulty: DEFAULT_POW_DIFFICULTY,
            ban_time: Duration::from_secs(DEFAULT_BAN_TIME_S),
            keepalive_timeout: Duration::from_millis(DEFAULT_KEEPALIVE_TIMEOUT_MS),
            dissemination: Dissemination::Flood,
        }
    }
}

/// A config that was read successfully, with what deserves a warning.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The settings: defaults overridden by the file.
    pub config: Config,
    /// One line per suspicious thing that was ignored, each starting `FILE:LINE:`.
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = ini::read_file(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names the file in errors and warnings.
    pub fn parse(text: &str, origin: &str) -> Result<Loaded, ConfigError> {
        let ini = ini::Ini::parse(text).map_err(|error| ConfigError::Syntax {
            origin: origin.to_string(),
            error,
        })?;
        let mut config = Config::default();
        let mut warnings = Vec::new();
        let mut misspelled_sections: Vec<&str> = Vec::new();
        for entry in &ini.entries {
            let section = entry.section.as_deref();
            if let Some(key) = Key::lookup(section, &entry.key) {
                config
                    .set(key, &entry.value)
                    .map_err(|error| ConfigError::Value {
                        origin: origin.to_string(),
                        line: entry.line,
                        key,
                        error,
                    })?;
            } else if section == Some(GOSSIP_SECTION) {
                warnings.push(format!(
                    "{origin}:{}: unknown key `{}` in [{GOSSIP_SECTION}] (ignored)",
                    entry.line, entry.key
                ));
            } else if let Some(name) = section.filter(|name| is_misspelled_gossip(name))
                && !misspelled_sections.contains(&name)
            {
                misspelled_sections.push(name);
                warnings.push(format!(
                    "{origin}:{}: section [{name}] is not [{GOSSIP_SECTION}] (names are case-sensitive; ignored)",
                    entry.line
                ));
            }
        }
        Ok(Loaded { config, warnings })
    }

    /// The effective settings as INI text: every key, defaults filled in. The
    /// text parses back to the same config.
    pub fn to_ini(&self) -> String {
        let mut text = String::new();
        match &self.hostkey {
            Some(_) => text.push_str(&format!("hostkey = {}\n", Key::Hostkey.render(self))),
            None => text.push_str("; hostkey is not set: a fresh temporary identity is used\n"),
        }
        text.push_str(&format!("\n[{GOSSIP_SECTION}]\n"));
        for key in Key::ALL.into_iter().filter(|key| key.section().is_some()) {
            text.push_str(&format!("{} = {}\n", key.name(), key.render(self)));
        }
        text
    }
}

/// `[Gossip]` or `[GOSSIP]`: almost certainly meant as `[gossip]`.
fn is_misspelled_gossip(section: &str) -> bool {
    section != GOSSIP_SECTION && section.eq_ignore_ascii_case(GOSSIP_SECTION)
}

/// Why a config file was rejected. Every variant renders as one line naming the
/// file and, where there is one, the line and key.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read: missing, unreadable, too large or not UTF-8.
    Read {
        /// The path as given.
        path: PathBuf,
        /// What went wrong.
        error: ReadError,
    },
    /// The text is not valid INI.
    Syntax {
        /// The file name, as passed to [`Config::parse`].
        origin: String,
        /// The syntax error, with its line.
        error: IniError,
    },
    /// A known key has a bad value.
    Value {
        /// The file name, as passed to [`Config::parse`].
        origin: String,
        /// 1-based line of the key.
        line: usize,
        /// The key.
        key: Key,
        /// What is wrong with the value.
        error: ValueError,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => {
                write!(f, "cannot read config file {}: {error}", path.display())
            }
            ConfigError::Syntax { origin, error } => {
                write!(f, "{origin}:{}: {}", error.line(), error.reason())
            }
            ConfigError::Value {
                origin,
                line,
                key,
                error,
            } => write!(f, "{origin}:{line}: key `{key}`: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { error, .. } => Some(error),
            ConfigError::Syntax { error, .. } => Some(error),
            ConfigError::Value { error, .. } => Some(error),
        }
    }
}

/// Longest part of a rejected value quoted back in an error message.
const MAX_QUOTED_CHARS: usize = 80;

/// `text` in double quotes with escapes, shortened so that one bad line cannot
/// flood the log.
pub(crate) fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Loaded, String> {
        Config::parse(text, "test.ini").map_err(|error| error.to_string())
    }

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn defaults_match_the_spec() {
        let config = Config::default();
        assert_eq!(config.api_address, endpoint("127.0.0.1", 7001));
        assert_eq!(config.p2p_address, endpoint("127.0.0.1", 7002));
        assert_eq!(config.bootstrapper, None);
        assert_eq!(config.hostkey, None);
        assert_eq!(config.validation_timeout, Duration::from_secs(5));
        assert!(DEGREE_RANGE.contains(&config.degree));
        assert!(CACHE_SIZE_RANGE.contains(&config.cache_size));
        assert!(CLIENT_QUEUE_RANGE.contains(&config.client_queue));
        assert!(PEER_QUEUE_RANGE.contains(&config.peer_queue));
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let loaded = parse("").expect("empty text is a valid config");
        assert_eq!(
            loaded,
            Loaded {
                config: Config::default(),
                warnings: vec![]
            }
        );
    }

    #[test]
    fn the_spec_example_is_read() {
        let text = "hostkey = /path/to/hostkey.pem     ; global\n\n[gossip]\n\
            cache_size   = 50\ndegree       = 30\nbootstrapper = 10.0.0.1:6001\n\
            p2p_address  = 0.0.0.0:6001\napi_address  = 127.0.0.1:7001\n";
        let loaded = parse(text).expect("the SPEC example is valid");
        let config = loaded.config;
        assert_eq!(config.hostkey, Some(PathBuf::from("/path/to/hostkey.pem")));
        assert_eq!(config.cache_size, 50);
        assert_eq!(config.degree, 30);
        assert_eq!(config.bootstrapper, Some(endpoint("10.0.0.1", 6001)));
        assert_eq!(config.p2p_address, endpoint("0.0.0.0", 6001));
        assert_eq!(config.api_address, endpoint("127.0.0.1", 7001));
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn every_gossip_key_is_read_from_the_gossip_section() {
        let text = "[gossip]\nvalidation_timeout_ms = 1500\nclient_queue = 10\n\
            peer_queue = 20\nbootstrapper =\n";
        let config = parse(text).expect("valid").config;
        assert_eq!(config.validation_timeout, Duration::from_millis(1500));
        assert_eq!(config.client_queue, 10);
        assert_eq!(config.peer_queue, 20);
        assert_eq!(config.bootstrapper, None);
    }

    #[test]
    fn other_sections_and_other_global_keys_are_ignored_silently() {
        let text = "p2p_address = 1.1.1.1:1\nfoo = bar\n[onion]\ndegree = abc\n\
            hostkey = x\n[rps]\nanything = 1\n";
        let loaded = parse(text).expect("valid");
        assert_eq!(
            loaded,
            Loaded {
                config: Config::default(),
                warnings: vec![]
            }
        );
    }

    #[test]
    fn unknown_gossip_keys_are_warnings_naming_file_and_line() {
        let loaded = parse("[gossip]\ndegree = 3\nfanout = 4\nDegree = 5\n").expect("valid");
        assert_eq!(loaded.config.degree, 3);
        assert_eq!(
            loaded.warnings,
            vec![
                "test.ini:3: unknown key `fanout` in [gossip] (ignored)",
                "test.ini:4: unknown key `Degree` in [gossip] (ignored)",
            ]
        );
    }

    #[test]
    fn a_gossip_section_in_the_wrong_case_is_warned_about_once() {
        let loaded = parse("[Gossip]\ndegree = 3\ncache_size = 4\n").expect("valid");
        assert_eq!(loaded.config, Config::default());
        assert_eq!(
            loaded.warnings,
            vec![
                "test.ini:2: section [Gossip] is not [gossip] (names are case-sensitive; ignored)"
            ]
        );
    }

    #[test]
    fn a_bad_value_names_file_line_and_key() {
        let error = parse("; c\n[gossip]\n\n\n\n\ndegree = abc\n").unwrap_err();
        assert_eq!(
            error,
            "test.ini:7: key `degree`: expected a whole number from 1 to 256, got \"abc\""
        );
        let error = parse("hostkey =\n").unwrap_err();
        assert!(
            error.starts_with("test.ini:1: key `hostkey`: expected a file path"),
            "{error}"
        );
        let error = parse("[gossip]\napi_address = ::1:7001\n").unwrap_err();
        assert!(
            error.starts_with("test.ini:2: key `api_address`: expected HOST:PORT"),
            "{error}"
        );
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        assert_eq!(
            parse("[gossip\n").unwrap_err(),
            "test.ini:1: section header \"[gossip\" lacks its closing `]`"
        );
        assert_eq!(
            parse("[gossip]\ndegree = 1\ndegree = 2\n").unwrap_err(),
            "test.ini:3: key `degree` is set twice in [gossip] (first on line 2)"
        );
    }

    #[test]
    fn errors_are_one_line_even_for_hostile_values() {
        let error = parse(&format!(
            "[gossip]\ndegree = \u{1b}[2J{}\n",
            "x".repeat(5000)
        ))
        .unwrap_err();
        assert!(
            !error.contains('\n') && !error.contains('\u{1b}'),
            "{error}"
        );
        assert!(error.len() < 200);
    }

    #[test]
    fn to_ini_lists_every_key_and_parses_back() {
        let mut config = Config::default();
        let text = config.to_ini();
        for key in Key::ALL.into_iter().filter(|key| key.section().is_some()) {
            assert!(
                text.contains(&format!("\n{} = ", key.name())),
                "{key} missing in {text}"
            );
        }
        assert_eq!(parse(&text).expect("to_ini output is valid").config, config);
        config.hostkey = Some(PathBuf::from("/keys/host.pem"));
        config.bootstrapper = Some(endpoint("::1", 6001));
        config.degree = 3;
        let text = config.to_ini();
        assert!(text.starts_with("hostkey = /keys/host.pem\n"));
        assert_eq!(parse(&text).expect("to_ini output is valid").config, config);
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("gossipd-config-{}-{name}", std::process::id()))
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_warnings() {
        let path = temp_path("load.ini");
        std::fs::write(&path, "[gossip]\ndegree = 12\nx = 1\n").expect("temp dir is writable");
        let loaded = Config::load(&path);
        std::fs::remove_file(&path).expect("file was just created");
        let loaded = loaded.expect("valid file");
        assert_eq!(loaded.config.degree, 12);
        assert_eq!(
            loaded.warnings,
            vec![format!(
                "{}:3: unknown key `x` in [gossip] (ignored)",
                path.display()
            )]
        );
    }

    #[test]
    fn load_names_a_missing_file_and_the_os_reason() {
        let path = temp_path("missing.ini");
        let error = Config::load(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "cannot read config file {}: No such file or directory (os error 2)",
                path.display()
            )
        );
    }

    #[test]
    fn load_names_the_file_in_value_errors() {
        let path = temp_path("bad.ini");
        std::fs::write(&path, "[gossip]\ncache_size = 0\n").expect("temp dir is writable");
        let error = Config::load(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).expect("file was just created");
        assert_eq!(
            error,
            format!(
                "{}:2: key `cache_size`: expected a whole number from 1 to 1000000, got \"0\"",
                path.display()
            )
        );
    }

    #[test]
    fn quote_escapes_and_shortens() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(&"é".repeat(100)), format!("{:?}...", "é".repeat(80)));
    }
}
