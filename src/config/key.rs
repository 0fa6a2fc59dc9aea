//! The settings gossipd reads, and the one place their values are checked.
//!
//! The config file and the command line both go through [`Config::set`], so a
//! value means the same and is bounded the same wherever it is written.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::proto::Dissemination;

use super::{
    BAN_TIME_S_RANGE, CACHE_SIZE_RANGE, CLIENT_QUEUE_RANGE, Config, DEGREE_RANGE, Endpoint,
    GOSSIP_SECTION, KEEPALIVE_TIMEOUT_MS_RANGE, NetworkKey, PEER_QUEUE_RANGE, POW_DIFFICULTY_RANGE,
    VALIDATION_TIMEOUT_MS_RANGE, quote,
};

/// What is wrong with one value, whatever file line or option it came from.
/// Renders as one line such as `expected a whole number from 1 to 256, got "abc"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    message: String,
}

impl ValueError {
    /// A `host:port` value that does not parse; `problem` says why.
    pub(crate) fn endpoint(got: &str, problem: &str) -> ValueError {
        ValueError {
            message: format!("expected HOST:PORT, got {} ({problem})", quote(got)),
        }
    }

    fn number<T: fmt::Display>(got: &str, range: &RangeInclusive<T>) -> ValueError {
        ValueError {
            message: format!(
                "expected a whole number from {} to {}, got {}",
                range.start(),
                range.end(),
                quote(got)
            ),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

/// One setting: its config key, its command-line option and its check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// Global `hostkey`: this host's private key file.
    Hostkey,
    /// `[gossip] api_address`: where local modules connect.
    ApiAddress,
    /// `[gossip] p2p_address`: where peers connect.
    P2pAddress,
    /// `[gossip] bootstrapper`: a peer to join through.
    Bootstrapper,
    /// `[gossip] degree`: peers to keep exchanging items with.
    Degree,
    /// `[gossip] cache_size`: items held for spreading.
    CacheSize,
    /// `[gossip] validation_timeout_ms`: how long to wait for local verdicts.
    ValidationTimeoutMs,
    /// `[gossip] client_queue`: notifications queued per API client.
    ClientQueue,
    /// `[gossip] peer_queue`: messages queued per peer connection.
    PeerQueue,
    /// `[gossip] network_key`: the pre-shared key of a private network.
    NetworkKey,
    /// `[gossip] pow_difficulty`: proof-of-work bits required of identities.
    PowDifficulty,
    /// `[gossip] ban_time_s`: how long a misbehaving peer stays banned.
    BanTimeS,
    /// `[gossip] keepalive_timeout_ms`: how long a silent neighbour is kept.
    KeepaliveTimeoutMs,
    /// `[gossip] dissemination`: `flood` or `plumtree`.
    Dissemination,
}

impl Key {
    /// Every key, in the order the config text and `--help` list them.
    pub const ALL: [Key; 14] = [
        Key::Hostkey,
        Key::ApiAddress,
        Key::P2pAddress,
        Key::Bootstrapper,
        Key::Degree,
        Key::CacheSize,
        Key::ValidationTimeoutMs,
        Key::ClientQueue,
        Key::PeerQueue,
        Key::NetworkKey,
        Key::PowDifficulty,
        Key::BanTimeS,
        Key::KeepaliveTimeoutMs,
        Key::Dissemination,
    ];

    /// The key's name in the config file.
    pub fn name(self) -> &'static str {
        match self {
            Key::Hostkey => "hostkey",
            Key::ApiAddress => "api_address",
            Key::P2pAddress => "p2p_address",
            Key::Bootstrapper => "bootstrapper",
            Key::Degree => "degree",
            Key::CacheSize => "cache_size",
            Key::ValidationTimeoutMs => "validation_timeout_ms",
            Key::ClientQueue => "client_queue",
            Key::PeerQueue => "peer_queue",
            Key::NetworkKey => "network_key",
            Key::PowDifficulty => "pow_difficulty",
            Key::BanTimeS => "ban_time_s",
            Key::KeepaliveTimeoutMs => "keepalive_timeout_ms",
            Key::Dissemination => "dissemination",
        }
    }

    /// The section the key lives in; `None` for a global key.
    pub fn section(self) -> Option<&'static str> {
        match self {
            Key::Hostkey => None,
            _ => Some(GOSSIP_SECTION),
        }
    }

    /// The key written as `name` in `section`, if gossipd knows it.
    pub fn lookup(section: Option<&str>, name: &str) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|key| key.section() == section && key.name() == name)
    }

    /// The long command-line option (without `--`) that overrides the key.
    pub fn option(self) -> &'static str {
        match self {
            Key::Hostkey => "hostkey",
            Key::ApiAddress => "api-address",
            Key::P2pAddress => "p2p-address",
            Key::Bootstrapper => "bootstrapper",
            Key::Degree => "degree",
            Key::CacheSize => "cache-size",
            Key::ValidationTimeoutMs => "validation-timeout-ms",
            Key::ClientQueue => "client-queue",
            Key::PeerQueue => "peer-queue",
            Key::NetworkKey => "network-key",
            Key::PowDifficulty => "pow-difficulty",
            Key::BanTimeS => "ban-time-s",
            Key::KeepaliveTimeoutMs => "keepalive-timeout-ms",
            Key::Dissemination => "dissemination",
        }
    }

    /// The placeholder for the value in `--help`.
    pub fn hint(self) -> &'static str {
        match self {
            Key::Hostkey => "FILE",
            Key::ApiAddress | Key::P2pAddress | Key::Bootstrapper => "HOST:PORT",
            Key::ValidationTimeoutMs | Key::KeepaliveTimeoutMs => "MS",
            Key::Degree | Key::CacheSize | Key::ClientQueue | Key::PeerQueue => "N",
            Key::NetworkKey => "HEX",
            Key::PowDifficulty => "BITS",
            Key::BanTimeS => "SECONDS",
            Key::Dissemination => "MODE",
        }
    }

    /// What the setting does, for `--help`.
    pub fn about(self) -> String {
        let range = |range: &RangeInclusive<usize>| format!("{} to {}", range.start(), range.end());
        match self {
            Key::Hostkey => "this host's private key file (PEM)".to_string(),
            Key::ApiAddress => "where local modules connect".to_string(),
            Key::P2pAddress => "where peers connect".to_string(),
            Key::Bootstrapper => {
                "P2P address of a peer to join through; empty for none".to_string()
            }
            Key::Degree => format!(
                "peers this host keeps exchanging items with, {}",
                range(&DEGREE_RANGE)
            ),
            Key::CacheSize => format!(
                "data items held for spreading, {}",
                range(&CACHE_SIZE_RANGE)
            ),
            Key::ValidationTimeoutMs => format!(
                "milliseconds to wait for local validation, {} to {}",
                VALIDATION_TIMEOUT_MS_RANGE.start(),
                VALIDATION_TIMEOUT_MS_RANGE.end()
            ),
            Key::ClientQueue => format!(
                "notifications queued for a slow API client before it is disconnected, {}",
                range(&CLIENT_QUEUE_RANGE)
            ),
            Key::PeerQueue => format!(
                "messages queued for a slow peer before it is dropped, {}",
                range(&PEER_QUEUE_RANGE)
            ),
            Key::NetworkKey => "pre-shared key of a private network, 64 hex digits; \
                                hosts without the same key cannot connect; empty for an open network"
                .to_string(),
            Key::PowDifficulty => format!(
                "leading zero bits of proof of work required of every identity, {} to {}",
                POW_DIFFICULTY_RANGE.start(),
                POW_DIFFICULTY_RANGE.end()
            ),
            Key::BanTimeS => format!(
                "seconds a misbehaving peer stays banned, {} to {}",
                BAN_TIME_S_RANGE.start(),
                BAN_TIME_S_RANGE.end()
            ),
            Key::KeepaliveTimeoutMs => format!(
                "milliseconds a neighbour may stay silent before it is dropped \
                 (keep-alives go out every third of it), {} to {}",
                KEEPALIVE_TIMEOUT_MS_RANGE.start(),
                KEEPALIVE_TIMEOUT_MS_RANGE.end()
            ),
            Key::Dissemination => "how items spread: flood (every item to every neighbour) or \
                                   plumtree (eager push along a tree, ids to the other \
                                   neighbours, pull; experimental)"
                .to_string(),
        }
    }

    /// The key's value in `config`, as it would be written in the config file
    /// (an unset optional value is the empty string).
    pub fn render(self, config: &Config) -> String {
        match self {
            Key::Hostkey => config
                .hostkey
                .as_ref()
                .map(|path| path.display().to_string())
                .unwrap_or_default(),
            Key::ApiAddress => config.api_address.to_string(),
            Key::P2pAddress => config.p2p_address.to_string(),
            Key::Bootstrapper => config
                .bootstrapper
                .as_ref()
                .map(Endpoint::to_string)
                .unwrap_or_default(),
            Key::Degree => config.degree.to_string(),
            Key::CacheSize => config.cache_size.to_string(),
            Key::ValidationTimeoutMs => config.validation_timeout.as_millis().to_string(),
            Key::ClientQueue => config.client_queue.to_string(),
            Key::PeerQueue => config.peer_queue.to_string(),
            Key::NetworkKey => config
                .network_key
                .as_ref()
                .map(NetworkKey::to_hex)
                .unwrap_or_default(),
            Key::PowDifficulty => config.pow_difficulty.to_string(),
            Key::BanTimeS => config.ban_time.as_secs().to_string(),
            Key::KeepaliveTimeoutMs => config.keepalive_timeout.as_millis().to_string(),
            Key::Dissemination => match config.dissemination {
                Dissemination::Flood => "flood".to_string(),
                Dissemination::Plumtree => "plumtree".to_string(),
            },
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Config {
    /// Checks `value` (already trimmed) for `key` and stores it; on error the
    /// config is unchanged.
    pub fn set(&mut self, key: Key, value: &str) -> Result<(), ValueError> {
        match key {
            Key::Hostkey if value.is_empty() => {
                return Err(ValueError {
                    message: "expected a file path, got an empty value (remove the key to run with a temporary identity)".to_string(),
                });
            }
            Key::Hostkey => self.hostkey = Some(PathBuf::from(value)),
            Key::ApiAddress => self.api_address = value.parse()?,
            Key::P2pAddress => self.p2p_address = value.parse()?,
            Key::Bootstrapper => self.bootstrapper = parse_bootstrapper(value)?,
            Key::Degree => self.degree = parse_number(value, &DEGREE_RANGE)?,
            Key::CacheSize => self.cache_size = parse_number(value, &CACHE_SIZE_RANGE)?,
            Key::ValidationTimeoutMs => {
                let millis = parse_number(value, &VALIDATION_TIMEOUT_MS_RANGE)?;
                self.validation_timeout = Duration::from_millis(millis);
            }
            Key::ClientQueue => self.client_queue = parse_number(value, &CLIENT_QUEUE_RANGE)?,
            Key::PeerQueue => self.peer_queue = parse_number(value, &PEER_QUEUE_RANGE)?,
            Key::NetworkKey => self.network_key = parse_network_key(value)?,
            Key::PowDifficulty => self.pow_difficulty = parse_number(value, &POW_DIFFICULTY_RANGE)?,
            Key::BanTimeS => {
                self.ban_time = Duration::from_secs(parse_number(value, &BAN_TIME_S_RANGE)?)
            }
            Key::KeepaliveTimeoutMs => {
                let millis = parse_number(value, &KEEPALIVE_TIMEOUT_MS_RANGE)?;
                self.keepalive_timeout = Duration::from_millis(millis);
            }
            Key::Dissemination => {
                self.dissemination = match value {
                    "flood" => Dissemination::Flood,
                    "plumtree" => Dissemination::Plumtree,
                    other => {
                        return Err(ValueError {
                            message: format!("expected flood or plumtree, got {}", quote(other)),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// An empty value means an open network; otherwise exactly 64 hex digits.
fn parse_network_key(value: &str) -> Result<Option<NetworkKey>, ValueError> {
    if value.is_empty() {
        return Ok(None);
    }
    NetworkKey::from_hex(value)
        .map(Some)
        .ok_or_else(|| ValueError {
            message: format!(
                "expected 64 hex digits (a 32-byte key), got {}",
                quote(value)
            ),
        })
}

/// An empty value means "no bootstrapper"; port 0 cannot be dialed.
fn parse_bootstrapper(value: &str) -> Result<Option<Endpoint>, ValueError> {
    if value.is_empty() {
        return Ok(None);
    }
    let endpoint: Endpoint = value.parse()?;
    if endpoint.port == 0 {
        return Err(ValueError::endpoint(value, "port 0 cannot be dialed"));
    }
    Ok(Some(endpoint))
}

/// A whole number in `range`, written with ASCII digits only (no sign, no `_`).
fn parse_number<T>(text: &str, range: &RangeInclusive<T>) -> Result<T, ValueError>
where
    T: FromStr + PartialOrd + fmt::Display,
{
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits_only
        .then(|| text.parse::<T>().ok())
        .flatten()
        .filter(|number| range.contains(number))
        .ok_or_else(|| ValueError::number(text, range))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: Key, value: &str) -> Result<Config, String> {
        let mut config = Config::default();
        config.set(key, value).map_err(|error| error.to_string())?;
        Ok(config)
    }

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn every_key_is_found_by_its_section_and_name_only() {
        for key in Key::ALL {
            assert_eq!(Key::lookup(key.section(), key.name()), Some(key));
        }
        assert_eq!(Key::lookup(None, "degree"), None);
        assert_eq!(Key::lookup(Some("gossip"), "hostkey"), None);
        assert_eq!(Key::lookup(Some("gossip"), "Degree"), None);
        assert_eq!(Key::lookup(Some("rps"), "degree"), None);
    }

    #[test]
    fn options_are_key_names_with_dashes() {
        for key in Key::ALL {
            assert_eq!(key.option(), key.name().replace('_', "-"));
        }
    }

    #[test]
    fn hostkey_takes_a_path_but_not_an_empty_one() {
        assert_eq!(
            set(Key::Hostkey, "/etc/k.pem").map(|c| c.hostkey),
            Ok(Some(PathBuf::from("/etc/k.pem")))
        );
        assert!(
            set(Key::Hostkey, "")
                .unwrap_err()
                .starts_with("expected a file path, got an empty value")
        );
    }

    #[test]
    fn network_key_takes_64_hex_digits_or_nothing() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let config = set(Key::NetworkKey, hex).expect("a valid key");
        let key = config.network_key.expect("set");
        assert_eq!(key.as_bytes()[1], 0x11);
        assert_eq!(key.to_hex(), hex.to_lowercase());
        assert_eq!(set(Key::NetworkKey, "").map(|c| c.network_key), Ok(None));
        assert!(set(Key::NetworkKey, &hex[1..]).is_err());
        assert!(set(Key::NetworkKey, &hex.replace('0', "g")).is_err());
    }

    #[test]
    fn pow_difficulty_and_ban_time_are_bounded_numbers() {
        assert_eq!(
            set(Key::PowDifficulty, "0").map(|c| c.pow_difficulty),
            Ok(0)
        );
        assert!(set(Key::PowDifficulty, "41").is_err());
        assert_eq!(
            set(Key::BanTimeS, "60").map(|c| c.ban_time),
            Ok(Duration::from_secs(60))
        );
        assert!(set(Key::BanTimeS, "0").is_err());
    }

    #[test]
    fn keepalive_timeout_and_dissemination_are_checked() {
        assert_eq!(
            set(Key::KeepaliveTimeoutMs, "1500").map(|c| c.keepalive_timeout),
            Ok(Duration::from_millis(1500))
        );
        assert!(set(Key::KeepaliveTimeoutMs, "499").is_err());
        assert_eq!(
            set(Key::Dissemination, "plumtree").map(|c| c.dissemination),
            Ok(Dissemination::Plumtree)
        );
        let err = set(Key::Dissemination, "gossip").unwrap_err();
        assert!(err.contains("expected flood or plumtree"), "{err}");
    }

    #[test]
    fn addresses_take_endpoints() {
        assert_eq!(
            set(Key::ApiAddress, "[::1]:9").map(|c| c.api_address),
            Ok(endpoint("::1", 9))
        );
        assert_eq!(
            set(Key::P2pAddress, "0.0.0.0:0").map(|c| c.p2p_address),
            Ok(endpoint("0.0.0.0", 0))
        );
        assert_eq!(
            set(Key::ApiAddress, "nope").unwrap_err(),
            "expected HOST:PORT, got \"nope\" (no port)"
        );
        assert!(set(Key::P2pAddress, "").is_err());
    }

    #[test]
    fn bootstrapper_is_optional_and_must_be_dialable() {
        assert_eq!(
            set(Key::Bootstrapper, "h:6001").map(|c| c.bootstrapper),
            Ok(Some(endpoint("h", 6001)))
        );
        assert_eq!(set(Key::Bootstrapper, "").map(|c| c.bootstrapper), Ok(None));
        assert!(
            set(Key::Bootstrapper, "h:0")
                .unwrap_err()
                .contains("port 0 cannot be dialed")
        );
        assert!(
            set(Key::Bootstrapper, "::1:6001")
                .unwrap_err()
                .contains("brackets")
        );
    }

    #[test]
    fn degree_accepts_1_to_256() {
        assert_eq!(set(Key::Degree, "1").map(|c| c.degree), Ok(1));
        assert_eq!(set(Key::Degree, "256").map(|c| c.degree), Ok(256));
        for bad in [
            "0",
            "257",
            "abc",
            "",
            "-1",
            "+3",
            "3.0",
            "1_0",
            "99999999999999999999999",
        ] {
            assert_eq!(
                set(Key::Degree, bad).unwrap_err(),
                format!("expected a whole number from 1 to 256, got {bad:?}")
            );
        }
    }

    #[test]
    fn cache_size_accepts_1_to_a_million() {
        assert_eq!(
            set(Key::CacheSize, "1000000").map(|c| c.cache_size),
            Ok(1_000_000)
        );
        assert_eq!(
            set(Key::CacheSize, "0").unwrap_err(),
            "expected a whole number from 1 to 1000000, got \"0\""
        );
        assert!(set(Key::CacheSize, "1000001").is_err());
    }

    #[test]
    fn validation_timeout_is_milliseconds_from_1_to_600000() {
        assert_eq!(
            set(Key::ValidationTimeoutMs, "250").map(|c| c.validation_timeout),
            Ok(Duration::from_millis(250))
        );
        assert!(set(Key::ValidationTimeoutMs, "600000").is_ok());
        assert_eq!(
            set(Key::ValidationTimeoutMs, "600001").unwrap_err(),
            "expected a whole number from 1 to 600000, got \"600001\""
        );
        assert!(set(Key::ValidationTimeoutMs, "0").is_err());
        assert!(set(Key::ValidationTimeoutMs, "5s").is_err());
    }

    #[test]
    fn queues_accept_1_to_a_million() {
        for key in [Key::ClientQueue, Key::PeerQueue] {
            assert!(set(key, "1").is_ok());
            assert!(set(key, "1000000").is_ok());
            assert!(set(key, "0").is_err());
            assert!(set(key, "1000001").is_err());
        }
        assert_eq!(set(Key::ClientQueue, "7").map(|c| c.client_queue), Ok(7));
        assert_eq!(set(Key::PeerQueue, "9").map(|c| c.peer_queue), Ok(9));
    }

    #[test]
    fn a_rejected_value_leaves_the_config_unchanged() {
        let mut config = Config::default();
        assert!(config.set(Key::Degree, "0").is_err());
        assert!(config.set(Key::ApiAddress, ":1").is_err());
        assert_eq!(config, Config::default());
    }

    #[test]
    fn render_writes_what_set_reads() {
        let config = Config {
            hostkey: Some(PathBuf::from("/k.pem")),
            bootstrapper: Some(endpoint("::1", 6001)),
            ..Config::default()
        };
        for key in Key::ALL {
            let mut copy = Config::default();
            copy.set(key, &key.render(&config))
                .expect("rendered values are valid");
            assert_eq!(key.render(&copy), key.render(&config), "{key}");
        }
        assert_eq!(Key::Hostkey.render(&Config::default()), "");
    }

    #[test]
    fn long_bad_values_are_shortened_in_messages() {
        let error = set(Key::Degree, &"9".repeat(10_000)).unwrap_err();
        assert!(error.len() < 200, "{error}");
    }
}
