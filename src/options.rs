//! The `gossipd` command line (SPEC §2).
//!
//! Settings come from three layers, each overriding the one before: built-in
//! defaults, the config file named by `-c`, and the options that mirror config
//! keys (`--degree` for `degree`, ...). Option values are checked by the same
//! [`Config::set`] as file values, so both accept exactly the same things.

use std::fmt;
use std::path::PathBuf;

use getopts::{Fail, Matches, Options};

use crate::config::{Config, ConfigError, Effective, Key, Loaded, ValueError, quote};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Start the daemon with these settings.
    Run(Loaded),
    /// Print this help text and exit successfully.
    Help(String),
    /// Print this version line and exit successfully.
    Version(String),
    /// `--check-config`: check the settings as start-up would ([`Effective::check`]),
    /// print them ([`Effective::render`]) and exit: 0 when they are usable, 2
    /// otherwise.
    CheckConfig(Effective),
    /// `--generate-key FILE`: write a new host key with its proof of work to
    /// `path` (never over an existing file) and exit.
    GenerateKey {
        /// The key file to create.
        path: PathBuf,
        /// Proof-of-work bits: `pow_difficulty` from the options and config.
        difficulty: u32,
    },
    /// `--add-proof-of-work FILE`: give the Ed25519 key in `path` (e.g. made
    /// by OpenSSL) a proof of work, rewrite the file and exit.
    AddProofOfWork {
        /// The key file to complete.
        path: PathBuf,
        /// Proof-of-work bits: `pow_difficulty` from the options and config.
        difficulty: u32,
    },
}

/// A command line that cannot be followed. Renders as one line; the caller exits
/// with status 2 (SPEC §2).
#[derive(Debug)]
pub enum UsageError {
    /// An unknown option, a missing value, an option given twice, and the like.
    Syntax(String),
    /// An option's value failed the same check as the matching config key.
    Value {
        /// The option as written in `--help`, e.g. `--degree`.
        option: String,
        /// What is wrong with the value.
        error: ValueError,
    },
    /// An argument that is not an option (gossipd takes none).
    UnexpectedArgument(String),
    /// The config file named by `-c` is unreadable or invalid.
    Config(ConfigError),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Syntax(message) => f.write_str(message),
            UsageError::Value { option, error } => write!(f, "option {option}: {error}"),
            UsageError::UnexpectedArgument(argument) => write!(
                f,
                "unexpected argument {} (gossipd takes options only; see --help)",
                quote(argument)
            ),
            UsageError::Config(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for UsageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UsageError::Value { error, .. } => Some(error),
            UsageError::Config(error) => Some(error),
            UsageError::Syntax(_) | UsageError::UnexpectedArgument(_) => None,
        }
    }
}

impl From<ConfigError> for UsageError {
    fn from(error: ConfigError) -> UsageError {
        UsageError::Config(error)
    }
}

/// Parses the command line `args`, given WITHOUT the program name, and loads the
/// config file it names. `--help` and `--version` win over everything else.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let matches = options().parse(args).map_err(syntax_error)?;
    if matches.opt_present("help") {
        return Ok(Command::Help(usage()));
    }
    if matches.opt_present("version") {
        return Ok(Command::Version(version()));
    }
    if let Some(argument) = matches.free.first() {
        return Err(UsageError::UnexpectedArgument(argument.clone()));
    }
    let file = matches.opt_str("config").map(PathBuf::from);
    let mut loaded = match &file {
        Some(path) => Config::load(path)?,
        None => Loaded {
            config: Config::default(),
            warnings: Vec::new(),
        },
    };
    let overridden = apply_overrides(&matches, &mut loaded.config)?;
    if let Some(command) = key_command(&matches, loaded.config.pow_difficulty)? {
        return Ok(command);
    }
    if matches.opt_present("check-config") {
        let Loaded { config, warnings } = loaded;
        let effective = Effective::new(config, warnings, file.as_deref(), &overridden);
        Ok(Command::CheckConfig(effective))
    } else {
        Ok(Command::Run(loaded))
    }
}

/// The options that do one job and exit instead of starting the daemon.
const EXCLUSIVE: [&str; 3] = ["generate-key", "add-proof-of-work", "check-config"];

/// `--generate-key` or `--add-proof-of-work`, if given; at most one of them
/// and `--check-config` may be.
fn key_command(matches: &Matches, difficulty: u32) -> Result<Option<Command>, UsageError> {
    if EXCLUSIVE.iter().filter(|o| matches.opt_present(o)).count() > 1 {
        return Err(UsageError::Syntax(
            "options --generate-key, --add-proof-of-work and --check-config exclude each other"
                .to_string(),
        ));
    }
    let path = |option: &str| match matches.opt_str(option) {
        Some(path) if path.is_empty() => Err(UsageError::Syntax(format!(
            "option --{option} needs a file path"
        ))),
        other => Ok(other.map(PathBuf::from)),
    };
    if let Some(path) = path("generate-key")? {
        return Ok(Some(Command::GenerateKey { path, difficulty }));
    }
    Ok(path("add-proof-of-work")?.map(|path| Command::AddProofOfWork { path, difficulty }))
}

/// The full `--help` text: every option with its default.
pub fn usage() -> String {
    let brief = "Usage: gossipd [-c CONFIG.ini] [OPTIONS]\n\
        \x20      gossipd -c CONFIG.ini --check-config [OPTIONS]\n\
        \x20      gossipd [-c CONFIG.ini] --generate-key FILE [--pow-difficulty BITS]\n\
        \x20      gossipd [-c CONFIG.ini] --add-proof-of-work FILE [--pow-difficulty BITS]\n\n\
        A gossip daemon: local modules announce and subscribe over a TCP API; daemons\n\
        spread every item to every reachable host. Options that name a config key\n\
        override the config file, which overrides the built-in defaults.";
    format!(
        "{}\nExit status: 0 after a clean shutdown (SIGINT or SIGTERM), 2 for a bad\n\
         command line or config file, 1 for any other failure to start (or, with\n\
         --generate-key and --add-proof-of-work, to write the key file). With\n\
         --check-config: 0 when the settings would start, 2 when not.\n",
        options().usage(brief)
    )
}

/// The `--version` line.
fn version() -> String {
    format!("gossipd {}", env!("CARGO_PKG_VERSION"))
}

/// Every option gossipd understands; the config-key options come from [`Key::ALL`].
fn options() -> Options {
    let defaults = Config::default();
    let mut options = Options::new();
    options.optopt(
        "c",
        "config",
        "config file in INI format (default: none, use the built-in defaults)",
        "FILE",
    );
    for key in Key::ALL {
        let about = format!(
            "{} (default: {})",
            key.about(),
            default_text(key, &defaults)
        );
        options.optopt("", key.option(), &about, key.hint());
    }
    options.optflag(
        "",
        "check-config",
        "check the settings as start-up would (config, options, hostkey file, \
         addresses; nothing is bound), print every key with its effective value \
         as INI and exit: 0 if gossipd would start with them, 2 if not",
    );
    options.optopt(
        "",
        "generate-key",
        "write a new host key file (Ed25519 with its proof of work at \
         pow_difficulty bits) to FILE and exit; never overwrites a file",
        "FILE",
    );
    options.optopt(
        "",
        "add-proof-of-work",
        "add a proof of work (pow_difficulty bits) to the Ed25519 key in FILE, \
         e.g. made by `openssl genpkey -algorithm ed25519`, rewrite FILE and exit",
        "FILE",
    );
    options.optflag("h", "help", "print this help and exit");
    options.optflag("V", "version", "print the version and exit");
    options
}

/// A key's default as `--help` shows it.
fn default_text(key: Key, defaults: &Config) -> String {
    match key {
        Key::Hostkey if defaults.hostkey.is_none() => {
            "none, a fresh temporary identity with a warning".to_string()
        }
        Key::Bootstrapper if defaults.bootstrapper.is_none() => {
            "none, this host starts a new network".to_string()
        }
        Key::NetworkKey if defaults.network_key.is_none() => "none, an open network".to_string(),
        _ => key.render(defaults),
    }
}

/// Applies the options that mirror config keys, in [`Key::ALL`] order, and
/// returns the keys they set.
fn apply_overrides(matches: &Matches, config: &mut Config) -> Result<Vec<Key>, UsageError> {
    let mut overridden = Vec::new();
    for key in Key::ALL {
        if let Some(value) = matches.opt_str(key.option()) {
            config
                .set(key, value.trim())
                .map_err(|error| UsageError::Value {
                    option: format!("--{}", key.option()),
                    error,
                })?;
            overridden.push(key);
        }
    }
    Ok(overridden)
}

/// Rewords getopts' failures as one line naming the option the way it is typed.
fn syntax_error(fail: Fail) -> UsageError {
    let dashed = |name: &str| {
        if name.chars().count() == 1 {
            format!("-{name}")
        } else {
            format!("--{name}")
        }
    };
    UsageError::Syntax(match fail {
        Fail::UnrecognizedOption(name) => format!("unknown option {} (see --help)", dashed(&name)),
        Fail::ArgumentMissing(name) => format!("option {} needs a value", dashed(&name)),
        Fail::OptionDuplicated(name) => format!("option {} is given more than once", dashed(&name)),
        Fail::UnexpectedArgument(name) => format!("option {} takes no value", dashed(&name)),
        Fail::OptionMissing(name) => format!("option {} is required", dashed(&name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_CACHE_SIZE, DEFAULT_DEGREE, DEFAULT_POW_DIFFICULTY, Endpoint};
    use std::path::PathBuf;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn run(text: &str) -> Loaded {
        match parse(&args(text)) {
            Ok(Command::Run(loaded)) => loaded,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn error(text: &str) -> String {
        match parse(&args(text)) {
            Err(error) => error.to_string(),
            Ok(command) => panic!("{text:?} gave {command:?}"),
        }
    }

    fn temp_config(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("gossipd-options-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("temp dir is writable");
        path
    }

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn no_arguments_run_with_the_defaults() {
        let loaded = run("");
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn every_key_option_overrides_its_setting() {
        let loaded = run(
            "--hostkey /k.pem --api-address [::1]:1 --p2p-address 0.0.0.0:2 \
            --bootstrapper peer:3 --degree 4 --cache-size 5 --validation-timeout-ms 6 \
            --client-queue 7 --peer-queue=8",
        );
        let config = loaded.config;
        assert_eq!(config.hostkey, Some(PathBuf::from("/k.pem")));
        assert_eq!(config.api_address, endpoint("::1", 1));
        assert_eq!(config.p2p_address, endpoint("0.0.0.0", 2));
        assert_eq!(config.bootstrapper, Some(endpoint("peer", 3)));
        assert_eq!((config.degree, config.cache_size), (4, 5));
        assert_eq!(config.validation_timeout.as_millis(), 6);
        assert_eq!((config.client_queue, config.peer_queue), (7, 8));
    }

    #[test]
    fn options_beat_the_config_file() {
        let path = temp_config(
            "override.ini",
            "[gossip]\ndegree = 20\ncache_size = 30\nbootstrapper = h:1\nfoo = 1\n",
        );
        let line = format!("-c {} --degree 5", path.display());
        let loaded = parse(&args(&line));
        let empty_bootstrapper = parse(&[
            "--config".to_string(),
            path.display().to_string(),
            "--bootstrapper=".to_string(),
        ]);
        std::fs::remove_file(&path).expect("file was just created");
        let Ok(Command::Run(loaded)) = loaded else {
            panic!("{line:?} gave {loaded:?}");
        };
        assert_eq!(loaded.config.degree, 5);
        assert_eq!(loaded.config.cache_size, 30);
        assert_eq!(loaded.warnings.len(), 1);
        let Ok(Command::Run(loaded)) = empty_bootstrapper else {
            panic!("--bootstrapper= gave {empty_bootstrapper:?}");
        };
        assert_eq!(loaded.config.bootstrapper, None);
    }

    #[test]
    fn check_config_returns_the_settings_and_their_sources() {
        use crate::config::effective::Source;
        let path = temp_config("check.ini", "[gossip]\ncache_size = 30\n");
        let parsed = parse(&args(&format!(
            "--check-config --degree 9 -c {}",
            path.display()
        )));
        std::fs::remove_file(&path).expect("file was just created");
        match parsed {
            Ok(Command::CheckConfig(effective)) => {
                assert_eq!(effective.config.degree, 9);
                assert_eq!(effective.config.cache_size, 30);
                assert_eq!(effective.file.as_deref(), Some(path.as_path()));
                assert_eq!(effective.source(Key::Degree), Source::Option);
                assert_eq!(effective.source(Key::CacheSize), Source::File(2));
                assert_eq!(effective.source(Key::PeerQueue), Source::Default);
            }
            other => panic!("gave {other:?}"),
        }
    }

    #[test]
    fn key_commands_take_the_file_and_the_difficulty() {
        match parse(&args("--generate-key k.pem")) {
            Ok(Command::GenerateKey { path, difficulty }) => {
                assert_eq!(path, PathBuf::from("k.pem"));
                assert_eq!(difficulty, DEFAULT_POW_DIFFICULTY);
            }
            other => panic!("gave {other:?}"),
        }
        match parse(&args("--pow-difficulty 12 --add-proof-of-work=/keys/k.pem")) {
            Ok(Command::AddProofOfWork { path, difficulty }) => {
                assert_eq!((path, difficulty), (PathBuf::from("/keys/k.pem"), 12));
            }
            other => panic!("gave {other:?}"),
        }
        let path = temp_config("pow.ini", "[gossip]\npow_difficulty = 9\n");
        let from_file = parse(&args(&format!("-c {} --generate-key k", path.display())));
        std::fs::remove_file(&path).expect("file was just created");
        assert!(matches!(
            from_file,
            Ok(Command::GenerateKey { difficulty: 9, .. })
        ));
    }

    #[test]
    fn key_commands_exclude_each_other_and_need_a_file() {
        let exclusive =
            "options --generate-key, --add-proof-of-work and --check-config exclude each other";
        assert_eq!(error("--generate-key a --add-proof-of-work b"), exclusive);
        assert_eq!(error("--generate-key a --check-config"), exclusive);
        assert_eq!(
            error("--generate-key"),
            "option --generate-key needs a value"
        );
        assert_eq!(
            error("--generate-key="),
            "option --generate-key needs a file path"
        );
        assert!(
            error("--generate-key k --pow-difficulty 41").starts_with("option --pow-difficulty:")
        );
    }

    #[test]
    fn help_and_version_win_over_other_options() {
        assert!(matches!(
            parse(&args("--degree 0 -h")),
            Ok(Command::Help(_))
        ));
        assert!(matches!(
            parse(&args("-c /no/such/file --help")),
            Ok(Command::Help(_))
        ));
        match parse(&args("-V")) {
            Ok(Command::Version(line)) => {
                assert_eq!(line, format!("gossipd {}", env!("CARGO_PKG_VERSION")))
            }
            other => panic!("gave {other:?}"),
        }
        assert!(matches!(parse(&args("--version")), Ok(Command::Version(_))));
    }

    #[test]
    fn help_lists_every_option_with_its_default() {
        let help = usage();
        for option in [
            "-c, --config FILE",
            "--check-config",
            "--generate-key FILE",
            "--add-proof-of-work FILE",
            "-h, --help",
            "-V, --version",
        ] {
            assert!(help.contains(option), "{option} missing in\n{help}");
        }
        let defaults = Config::default();
        for key in Key::ALL {
            let option = format!("--{} {}", key.option(), key.hint());
            assert!(help.contains(&option), "{option} missing in\n{help}");
            let default = format!("(default: {})", default_text(key, &defaults));
            let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains(&default), "{default} missing in\n{help}");
        }
        assert!(help.contains("127.0.0.1:7001") && help.contains("127.0.0.1:7002"));
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&format!("1 to 256 (default: {DEFAULT_DEGREE})")));
        assert!(flat.contains(&format!("(default: {DEFAULT_CACHE_SIZE})")));
    }

    #[test]
    fn a_bad_option_value_names_the_option_and_the_range() {
        assert_eq!(
            error("--degree x"),
            "option --degree: expected a whole number from 1 to 256, got \"x\""
        );
        assert_eq!(
            error("--cache-size 0"),
            "option --cache-size: expected a whole number from 1 to 1000000, got \"0\""
        );
        assert!(
            error("--api-address ::1:7001").starts_with("option --api-address: expected HOST:PORT")
        );
        assert!(
            error("--validation-timeout-ms 600001").starts_with("option --validation-timeout-ms:")
        );
        assert!(parse(&["--hostkey".to_string(), String::new()]).is_err());
    }

    #[test]
    fn command_line_syntax_errors_name_the_option() {
        assert_eq!(error("--fanout 3"), "unknown option --fanout (see --help)");
        assert_eq!(error("-x"), "unknown option -x (see --help)");
        assert_eq!(error("--degree"), "option --degree needs a value");
        assert_eq!(error("-c"), "option -c needs a value");
        assert_eq!(
            error("--degree 3 --degree 4"),
            "option --degree is given more than once"
        );
        assert_eq!(error("--help=yes"), "option --help takes no value");
    }

    #[test]
    fn free_arguments_are_errors() {
        assert_eq!(
            error("config.ini"),
            "unexpected argument \"config.ini\" (gossipd takes options only; see --help)"
        );
        assert!(error("--degree 3 -- extra").contains("\"extra\""));
    }

    #[test]
    fn config_file_errors_keep_file_line_and_key() {
        let path = temp_config("bad.ini", "[gossip]\n\ndegree = 999\n");
        let message = error(&format!("-c {}", path.display()));
        std::fs::remove_file(&path).expect("file was just created");
        assert_eq!(
            message,
            format!(
                "{}:3: key `degree`: expected a whole number from 1 to 256, got \"999\"",
                path.display()
            )
        );
        let missing = std::env::temp_dir().join("gossipd-options-surely-missing.ini");
        assert!(
            error(&format!("-c {}", missing.display())).starts_with("cannot read config file ")
        );
    }
}
