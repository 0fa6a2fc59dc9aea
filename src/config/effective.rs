//! The effective settings: what `gossipd --check-config` checks and prints.
//!
//! [`Effective`] is a loaded [`Config`] together with where each value came
//! from (built-in default, a line of the config file, or a command-line
//! option). [`Effective::check`] runs the checks start-up would run, without
//! binding a socket or making an identity: the host key file is read and its
//! proof of work compared with `pow_difficulty`, every address is resolved, and
//! the API and P2P listeners must not want the same port. [`Effective::render`]
//! writes every key as INI text, defaults filled in, each under a comment
//! saying what it does and where its value came from, so the output can be
//! pasted back as a config file (SPEC §3).
//!
//! The one exception to pasting back is a `network_key`: a secret does not
//! belong in output that ends up in logs and tickets, so it is printed as
//! `(set, not shown)`, which a config file refuses loudly instead of turning
//! a private network into an open one.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{Config, Endpoint, Key, ini};
use crate::identity::{Identity, KeyError};

/// What `--check-config` prints instead of the network key.
pub const HIDDEN_NETWORK_KEY: &str = "(set, not shown)";

/// Width the comments of [`Effective::render`] are wrapped to.
const COMMENT_WIDTH: usize = 80;

/// Where one setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Nobody set it: the built-in default.
    Default,
    /// The config file, on this 1-based line.
    File(usize),
    /// Its command-line option (`--degree` for `degree`), which beats the file.
    Option,
}

/// A loaded config with the provenance of each value and the warnings its
/// file produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    /// The settings in force.
    pub config: Config,
    /// The config file (`-c`), if any.
    pub file: Option<PathBuf>,
    /// Warnings from loading the file (unknown keys and the like).
    pub warnings: Vec<String>,
    /// Where each key of [`Key::ALL`] came from, in that order.
    sources: Vec<(Key, Source)>,
}

/// What [`Effective::check`] found out beyond the config text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per finding worth showing (the host key's peer id and proof
    /// of work, a missing host key), printed as comments at the top.
    pub notes: Vec<String>,
}

/// A setting that start-up would fail on. Renders as one line naming the
/// file, the line (or the option) and the key (SPEC §2).
#[derive(Debug)]
pub struct CheckError {
    /// The setting at fault.
    pub key: Key,
    /// Where its value came from.
    pub source: Source,
    /// The config file, if any.
    pub file: Option<PathBuf>,
    /// What is wrong, as one line.
    pub reason: String,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key;
        match (&self.source, &self.file) {
            (Source::Option, _) => write!(f, "option --{}: {}", key.option(), self.reason),
            (Source::File(line), Some(file)) => {
                write!(f, "{}:{line}: key `{key}`: {}", file.display(), self.reason)
            }
            (_, Some(file)) => write!(
                f,
                "{}: key `{key}` (built-in default): {}",
                file.display(),
                self.reason
            ),
            (_, None) => write!(f, "key `{key}` (built-in default): {}", self.reason),
        }
    }
}

impl std::error::Error for CheckError {}

impl Effective {
    /// The settings `config`, loaded from `file` (if any) with `warnings`,
    /// after the options for the keys in `overridden` were applied. The file
    /// is read once more to find the line of each key it sets; if it cannot
    /// be read now, its keys count as defaults.
    pub fn new(
        config: Config,
        warnings: Vec<String>,
        file: Option<&Path>,
        overridden: &[Key],
    ) -> Effective {
        let parsed = file
            .and_then(|path| ini::read_file(path).ok())
            .and_then(|text| ini::Ini::parse(&text).ok())
            .unwrap_or_default();
        let sources = Key::ALL
            .into_iter()
            .map(|key| {
                let source = if overridden.contains(&key) {
                    Source::Option
                } else if let Some(entry) = parsed.get(key.section(), key.name()) {
                    Source::File(entry.line)
                } else {
                    Source::Default
                };
                (key, source)
            })
            .collect();
        Effective {
            config,
            file: file.map(Path::to_path_buf),
            warnings,
            sources,
        }
    }

    /// Where `key`'s value came from.
    pub fn source(&self, key: Key) -> Source {
        self.sources
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Source::Default, |(_, source)| source.clone())
    }

    /// Runs the checks start-up would run, without binding anything: the host
    /// key must be readable, an Ed25519 gossipd key, with at least
    /// `pow_difficulty` bits of proof of work; every address must resolve;
    /// `api_address` and `p2p_address` must not claim the same port. The
    /// first problem is the error.
    pub fn check(&self) -> Result<CheckReport, CheckError> {
        let mut report = CheckReport::default();
        report.notes.push(self.check_hostkey()?);
        let api = self.resolve(Key::ApiAddress, &self.config.api_address)?;
        let p2p = self.resolve(Key::P2pAddress, &self.config.p2p_address)?;
        if let Some(bootstrapper) = &self.config.bootstrapper {
            self.resolve(Key::Bootstrapper, bootstrapper)?;
        }
        if let Some(clash) = api.iter().find(|a| p2p.iter().any(|p| same_listener(a, p))) {
            // The API is bound first, so start-up fails on the P2P listener;
            // blame whichever of the two was set on purpose.
            let key = match self.source(Key::P2pAddress) {
                Source::Default => Key::ApiAddress,
                _ => Key::P2pAddress,
            };
            return Err(self.error(
                key,
                format!(
                    "api_address ({}) and p2p_address ({}) would both listen on {clash}; \
                     give them different ports",
                    self.config.api_address, self.config.p2p_address
                ),
            ));
        }
        Ok(report)
    }

    /// Loads the host key as start-up does; the note names the identity.
    fn check_hostkey(&self) -> Result<String, CheckError> {
        let Some(path) = &self.config.hostkey else {
            return Ok(
                "hostkey is not set: every start makes a fresh temporary identity \
                       (make a permanent one with `gossipd --generate-key FILE`)"
                    .to_string(),
            );
        };
        let identity = Identity::load(path)
            .and_then(|identity| {
                identity
                    .check_difficulty(self.config.pow_difficulty)
                    .map(|()| identity)
            })
            .map_err(|error: KeyError| self.error(Key::Hostkey, error.to_string()))?;
        Ok(format!(
            "hostkey {}: peer id {}, proof of work {} bits ({} required)",
            path.display(),
            identity.peer_id().to_hex(),
            identity.pow_bits(),
            self.config.pow_difficulty
        ))
    }

    fn resolve(&self, key: Key, endpoint: &Endpoint) -> Result<Vec<SocketAddr>, CheckError> {
        endpoint
            .resolve()
            .map_err(|error| self.error(key, format!("cannot resolve {endpoint}: {error}")))
    }

    fn error(&self, key: Key, reason: String) -> CheckError {
        CheckError {
            key,
            source: self.source(key),
            file: self.file.clone(),
            reason,
        }
    }

    /// The effective settings as INI text: a header naming the sources,
    /// `notes` and the warnings as comments, then every key, each under a
    /// comment with what it does and where the value came from. Parses back
    /// to the same config, except for a set `network_key` (see the module
    /// docs). An unset `hostkey` is written commented out, since an empty
    /// one is an error.
    pub fn render(&self, report: &CheckReport) -> String {
        let mut text = String::new();
        let from = match &self.file {
            Some(file) => format!("{}, options and built-in defaults", file.display()),
            None => "options and built-in defaults (no config file)".to_string(),
        };
        let header = format!(
            "Effective settings of gossipd {} from {from}. Every key is listed; \
             this text can be used as a config file.",
            env!("CARGO_PKG_VERSION")
        );
        push_comment(&mut text, &header);
        for note in &report.notes {
            push_comment(&mut text, note);
        }
        for warning in &self.warnings {
            push_comment(&mut text, &format!("warning: {warning}"));
        }
        let mut section = None;
        for key in Key::ALL {
            if key.section() != section {
                section = key.section();
                if let Some(name) = section {
                    text.push_str(&format!("\n[{name}]\n"));
                }
            } else {
                text.push('\n');
            }
            self.push_key(&mut text, key);
        }
        text
    }

    /// One key: its comment, then `key = value`.
    fn push_key(&self, text: &mut String, key: Key) {
        let default = key.render(&Config::default());
        let origin = match (self.source(key), &self.file) {
            (Source::Default, _) => "built-in default".to_string(),
            (Source::File(line), Some(file)) => {
                format!(
                    "from {}:{line}; default {}",
                    file.display(),
                    shown(&default)
                )
            }
            (Source::File(line), None) => format!("from line {line}; default {}", shown(&default)),
            (Source::Option, _) => format!("from --{}; default {}", key.option(), shown(&default)),
        };
        push_comment(text, &format!("{} ({origin})", key.about()));
        match key {
            Key::Hostkey if self.config.hostkey.is_none() => {
                text.push_str(";hostkey = /var/lib/gossipd/hostkey.pem\n");
            }
            Key::NetworkKey if self.config.network_key.is_some() => {
                push_comment(
                    text,
                    "the key is secret: put its 64 hex digits here before using this text",
                );
                text.push_str(&format!("network_key = {HIDDEN_NETWORK_KEY}\n"));
            }
            _ => {
                let line = format!("{} = {}", key.name(), key.render(&self.config));
                text.push_str(line.trim_end());
                text.push('\n');
            }
        }
    }
}

/// A default as the comments show it: `none` for an unset optional key.
fn shown(default: &str) -> &str {
    if default.is_empty() { "none" } else { default }
}

/// True when listeners on `a` and `b` cannot both be bound: the same port
/// (not 0, which picks a free one) on the same address, or on the wildcard
/// address of the same family.
fn same_listener(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Appends `line` as `; ` comment lines wrapped to [`COMMENT_WIDTH`]; line
/// breaks and control characters in it become spaces, so a hostile value
/// cannot end the comment.
fn push_comment(text: &mut String, line: &str) {
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut current = String::from(";");
    for word in clean.split_whitespace() {
        if current.len() > 1 && current.len() + 1 + word.len() > COMMENT_WIDTH {
            text.push_str(&current);
            text.push('\n');
            current = String::from(";");
        }
        current.push(' ');
        current.push_str(word);
    }
    text.push_str(&current);
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NetworkKey;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("gossipd-effective-{}-{name}", std::process::id()))
    }

    /// Loads `text` as a config file named `name`, with `overridden` keys.
    fn effective(name: &str, text: &str, overridden: &[Key]) -> Effective {
        let path = temp_path(name);
        std::fs::write(&path, text).expect("temp dir is writable");
        let loaded = Config::load(&path).expect("valid config");
        let effective = Effective::new(loaded.config, loaded.warnings, Some(&path), overridden);
        std::fs::remove_file(&path).expect("file was just created");
        effective
    }

    #[test]
    fn sources_name_the_file_line_the_option_or_the_default() {
        let e = effective(
            "sources.ini",
            "[gossip]\n\ndegree = 3\ncache_size = 9\n",
            &[Key::CacheSize],
        );
        assert_eq!(e.source(Key::Degree), Source::File(3));
        assert_eq!(e.source(Key::CacheSize), Source::Option);
        assert_eq!(e.source(Key::ApiAddress), Source::Default);
        let text = e.render(&CheckReport::default());
        assert!(
            text.contains("sources.ini:3; default 8)\ndegree = 3\n"),
            "{text}"
        );
        assert!(text.contains("from --cache-size; default 1000)"), "{text}");
    }

    #[test]
    fn render_lists_every_key_and_parses_back() {
        let e = effective(
            "all.ini",
            "[gossip]\nbootstrapper = 10.0.0.1:7002\ndegree = 5\nfoo = 1\n",
            &[],
        );
        let text = e.render(&CheckReport {
            notes: vec!["a note".to_string()],
        });
        for key in Key::ALL {
            assert!(
                text.contains(&format!("\n{} =", key.name()))
                    || text.contains(&format!("\n;{} = ", key.name())),
                "{key} missing in\n{text}"
            );
        }
        assert!(text.contains("; a note\n") && text.contains("unknown key `foo`"));
        assert!(
            text.lines().all(|line| line.len() <= COMMENT_WIDTH),
            "{text}"
        );
        let back = Config::parse(&text, "rendered").expect("the rendering is a valid config");
        assert_eq!(back.config, e.config);
        assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    }

    #[test]
    fn a_network_key_is_never_printed_and_does_not_parse_back() {
        let hex = "ab".repeat(32);
        let config = Config {
            network_key: NetworkKey::from_hex(&hex),
            ..Config::default()
        };
        let e = Effective::new(config, vec![], None, &[Key::NetworkKey]);
        let text = e.render(&CheckReport::default());
        assert!(!text.contains(&hex));
        assert!(text.contains("network_key = (set, not shown)\n"));
        let error = Config::parse(&text, "rendered").unwrap_err().to_string();
        assert!(error.contains("network_key"), "{error}");
    }

    #[test]
    fn a_missing_hostkey_is_an_error_naming_file_line_and_key() {
        let missing = temp_path("missing-key.pem");
        let text = format!("; c\nhostkey = {}\n", missing.display());
        let e = effective("hostkey.ini", &text, &[]);
        let error = e.check().unwrap_err().to_string();
        assert!(
            error.contains("hostkey.ini:2: key `hostkey`: cannot read key file"),
            "{error}"
        );
        let mut by_option = e.clone();
        by_option.sources[0].1 = Source::Option;
        let error = by_option.check().unwrap_err().to_string();
        assert!(error.starts_with("option --hostkey: "), "{error}");
    }

    #[test]
    fn a_usable_hostkey_is_named_with_its_peer_id() {
        let path = temp_path("good-key.pem");
        let identity = Identity::generate(4);
        identity.save(&path).expect("temp dir is writable");
        let mut config = Config {
            hostkey: Some(path.clone()),
            pow_difficulty: 4,
            ..Config::default()
        };
        let e = Effective::new(config.clone(), vec![], None, &[]);
        let report = e.check();
        config.pow_difficulty = 40;
        let weak = Effective::new(config, vec![], None, &[]).check();
        std::fs::remove_file(&path).expect("file was just written");
        let report = report.expect("a fresh key is usable");
        assert!(report.notes[0].contains(&identity.peer_id().to_hex()));
        let error = weak.unwrap_err().to_string();
        assert!(
            error.starts_with("key `hostkey` (built-in default): "),
            "{error}"
        );
        assert!(error.contains("40 are required"), "{error}");
    }

    #[test]
    fn api_and_p2p_on_the_same_port_are_refused() {
        let e = effective(
            "clash.ini",
            "[gossip]\napi_address = 0.0.0.0:7100\np2p_address = 127.0.0.1:7100\n",
            &[],
        );
        let error = e.check().unwrap_err().to_string();
        assert!(error.contains("clash.ini:3: key `p2p_address`"), "{error}");
        let e = effective(
            "clash2.ini",
            "[gossip]\napi_address = 127.0.0.1:7002\n",
            &[],
        );
        let error = e.check().unwrap_err().to_string();
        assert!(error.contains("clash2.ini:2: key `api_address`"), "{error}");
        let e = effective(
            "zero.ini",
            "[gossip]\napi_address = 127.0.0.1:0\np2p_address = 127.0.0.1:0\n",
            &[],
        );
        assert!(e.check().is_ok());
    }

    #[test]
    fn comments_cannot_be_broken_out_of() {
        let mut text = String::new();
        push_comment(&mut text, "a\nhostkey = /evil\r\n[gossip]");
        assert_eq!(text, "; a hostkey = /evil [gossip]\n");
    }
}
