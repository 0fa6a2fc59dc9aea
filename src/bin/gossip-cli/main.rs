//! gossip-cli: a small command-line client of the gossipd API (SPEC §4).
//!
//! It speaks only the public API over TCP, through
//! [`gossipd::api::codec`], so it works against any conforming daemon and
//! doubles as an example of a module. `status` and `peers` use the daemon's
//! status extension ([`gossipd::api::status`], types 510/511).

mod status;

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use getopts::{Matches, Options};
use gossipd::api::codec::{self, ApiMessage, Direction, ReadError};

const DEFAULT_API: &str = "127.0.0.1:7001";

const USAGE: &str = "\
Usage:
  gossip-cli announce [--api HOST:PORT] [--ttl N] --type T (DATA | - | --file PATH)
  gossip-cli subscribe [--api HOST:PORT] --type T [--type T2 ...] [--count N]
                       [--timeout-ms MS] [--invalid] [--hex]
  gossip-cli status [--api HOST:PORT] [--json] [--watch]
  gossip-cli peers [--api HOST:PORT] [--json] [--watch]
  gossip-cli help | --help

announce   sends one GOSSIP ANNOUNCE with DATA as bytes ('-' or --file -
           reads stdin, --file PATH reads a file), then closes.
subscribe  sends one GOSSIP NOTIFY per --type, prints one line per
           notification ('msg_id=ID type=T len=L data=...', data as text
           when printable, else hex) and answers each with a validation.
status     asks the daemon for its status (STATUS QUERY, type 510) and
           prints its identity, addresses, uptime, view sizes and counters.
peers      the same query; prints the active view (neighbours) and the
           passive view (backup addresses).

Options:
  --api HOST:PORT    the daemon's API address (default 127.0.0.1:7001)
  --type T           data type, 0..=65535
  --ttl N            hops the item may travel, 0 = no limit (default 0)
  --file PATH        read the data from PATH ('-' for stdin)
  --count N          stop after N notifications; fewer before the timeout
                     or a closed connection is a failure (exit 1)
  --timeout-ms MS    stop when no notification arrives for MS milliseconds
                     (default: wait forever)
  --invalid          answer every notification with 'invalid'
  --hex              always print data as hex
  --json             status/peers: print one line of JSON
  --watch            status/peers: ask again every second until Ctrl-C
                     (the screen is cleared when stdout is a terminal);
                     the daemon going away is a failure (exit 1)

Exit status: 0 on success, 1 when the connection fails, 2 for bad usage.
";

/// Why the program stops early; decides the exit status.
enum Failure {
    /// The command line is wrong: exit 2.
    Usage(String),
    /// The daemon is unreachable, the connection broke or a read failed: exit 1.
    Runtime(String),
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

fn runtime(msg: impl Into<String>) -> Failure {
    Failure::Runtime(msg.into())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("gossip-cli: {msg} (try 'gossip-cli --help')");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("gossip-cli: {msg}");
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
        "announce" => announce(rest),
        "subscribe" => subscribe(rest),
        "status" => status::run(rest, status::View::Status),
        "peers" => status::run(rest, status::View::Peers),
        other => Err(usage(format!("unknown subcommand '{other}'"))),
    }
}

/// Parses a subcommand's options; `None` when `--help` was asked for (and
/// the usage printed).
fn parse_options(opts: &mut Options, args: &[String]) -> Result<Option<Matches>, Failure> {
    opts.optopt("", "api", "the daemon's API address", "HOST:PORT");
    opts.optflag("h", "help", "print usage");
    let m = opts.parse(args).map_err(|e| usage(e.to_string()))?;
    if m.opt_present("help") {
        print!("{USAGE}");
        return Ok(None);
    }
    Ok(Some(m))
}

fn parse_number<T: FromStr>(name: &str, value: &str, range: &str) -> Result<T, Failure> {
    value
        .parse()
        .map_err(|_| usage(format!("--{name}: '{value}' is not a number in {range}")))
}

fn optional_number<T: FromStr>(m: &Matches, name: &str, range: &str) -> Result<Option<T>, Failure> {
    m.opt_str(name)
        .map(|value| parse_number(name, &value, range))
        .transpose()
}

/// Resolves and dials the API address: an unparsable address is bad usage,
/// anything else a connection failure.
fn connect(m: &Matches) -> Result<TcpStream, Failure> {
    let api = m.opt_str("api").unwrap_or_else(|| DEFAULT_API.to_string());
    let addrs: Vec<SocketAddr> = match api.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            return Err(usage(format!("--api: '{api}' is not HOST:PORT")));
        }
        Err(e) => return Err(runtime(format!("cannot resolve {api}: {e}"))),
    };
    TcpStream::connect(&addrs[..]).map_err(|e| runtime(format!("cannot connect to {api}: {e}")))
}

fn announce(args: &[String]) -> Result<(), Failure> {
    let mut opts = Options::new();
    opts.optopt("", "ttl", "hops the item may travel", "N");
    opts.optopt("", "type", "data type", "T");
    opts.optopt("", "file", "read the data from PATH", "PATH");
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    let ttl = optional_number(&m, "ttl", "0..=255")?.unwrap_or(0);
    let data_type = optional_number(&m, "type", "0..=65535")?
        .ok_or_else(|| usage("announce needs --type T"))?;
    let data = announce_data(&m)?;
    let mut out = Vec::new();
    let msg = ApiMessage::Announce {
        ttl,
        data_type,
        data,
    };
    codec::encode(&msg, &mut out).map_err(|e| usage(e.to_string()))?;
    let mut stream = connect(&m)?;
    stream
        .write_all(&out)
        .and_then(|()| stream.shutdown(Shutdown::Write))
        .map_err(|e| runtime(format!("sending the announce failed: {e}")))
}

/// The data to announce: the DATA argument, or the contents of `--file`
/// (or of stdin for `-`).
fn announce_data(m: &Matches) -> Result<Vec<u8>, Failure> {
    let path = match (m.opt_str("file"), m.free.as_slice()) {
        (Some(path), []) => path,
        (None, [data]) if data == "-" => data.clone(),
        (None, [data]) => return Ok(data.clone().into_bytes()),
        (None, []) => return Err(usage("announce needs DATA, '-' or --file PATH")),
        (Some(_), [_, ..]) => return Err(usage("give DATA or --file, not both")),
        (None, [_, _, ..]) => return Err(usage("announce takes one DATA argument")),
    };
    // One byte more than fits, so an oversized input is noticed without
    // reading all of it.
    let limit = codec::MAX_DATA_LEN as u64 + 1;
    let mut data = Vec::new();
    let read = if path == "-" {
        io::stdin().lock().take(limit).read_to_end(&mut data)
    } else {
        File::open(&path).and_then(|f| f.take(limit).read_to_end(&mut data))
    };
    let name = if path == "-" { "stdin" } else { &path };
    read.map_err(|e| runtime(format!("cannot read {name}: {e}")))?;
    if data.len() > codec::MAX_DATA_LEN {
        let max = codec::MAX_DATA_LEN;
        return Err(usage(format!("{name} holds more than {max} bytes")));
    }
    Ok(data)
}

/// What `subscribe` was asked to do.
struct Subscription {
    data_types: Vec<u16>,
    count: Option<u64>,
    timeout: Option<Duration>,
    valid: bool,
    hex: bool,
}

fn subscribe(args: &[String]) -> Result<(), Failure> {
    let mut opts = Options::new();
    opts.optmulti("", "type", "data type (repeatable)", "T");
    opts.optopt("", "count", "stop after N notifications", "N");
    opts.optopt("", "timeout-ms", "idle timeout", "MS");
    opts.optflag("", "invalid", "answer 'invalid'");
    opts.optflag("", "hex", "print data as hex");
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    if let Some(extra) = m.free.first() {
        return Err(usage(format!("unexpected argument '{extra}'")));
    }
    let sub = subscription(&m)?;
    let stream = connect(&m)?;
    let mut notifies = Vec::new();
    for &data_type in &sub.data_types {
        codec::encode(&ApiMessage::Notify { data_type }, &mut notifies)
            .map_err(|e| runtime(e.to_string()))?;
    }
    (&stream)
        .write_all(&notifies)
        .and_then(|()| stream.set_read_timeout(sub.timeout))
        .map_err(|e| runtime(format!("subscribing failed: {e}")))?;
    receive(&stream, &sub)
}

fn subscription(m: &Matches) -> Result<Subscription, Failure> {
    let data_types = m
        .opt_strs("type")
        .iter()
        .map(|t| parse_number("type", t, "0..=65535"))
        .collect::<Result<Vec<u16>, _>>()?;
    if data_types.is_empty() {
        return Err(usage("subscribe needs at least one --type T"));
    }
    let count = optional_number::<u64>(m, "count", "1..")?;
    let timeout_ms = optional_number::<u64>(m, "timeout-ms", "1..")?;
    if count == Some(0) || timeout_ms == Some(0) {
        return Err(usage("--count and --timeout-ms must be at least 1"));
    }
    Ok(Subscription {
        data_types,
        count,
        timeout: timeout_ms.map(Duration::from_millis),
        valid: !m.opt_present("invalid"),
        hex: m.opt_present("hex"),
    })
}

/// Prints and answers notifications until the count is reached, the idle
/// timeout passes, or the connection ends.
fn receive(stream: &TcpStream, sub: &Subscription) -> Result<(), Failure> {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let mut received = 0u64;
    while sub.count.is_none_or(|n| received < n) {
        let (msg_id, data_type, data) = match codec::read_message(&mut reader, Direction::Gossip) {
            Ok(Some(ApiMessage::Notification {
                msg_id,
                data_type,
                data,
            })) => (msg_id, data_type, data),
            Ok(Some(other)) => return Err(runtime(format!("unexpected message {other:?}"))),
            Ok(None) => return Err(runtime("gossip closed the connection")),
            Err(ReadError::Io(e)) if is_timeout(&e) => {
                return match sub.count {
                    Some(n) => Err(runtime(format!(
                        "timed out after {received} of {n} notifications"
                    ))),
                    None => Ok(()),
                };
            }
            Err(e) => return Err(runtime(format!("connection to gossip failed: {e}"))),
        };
        print_notification(msg_id, data_type, &data, sub.hex)?;
        let mut answer = Vec::with_capacity(8);
        let verdict = ApiMessage::Validation {
            msg_id,
            valid: sub.valid,
        };
        codec::encode(&verdict, &mut answer).map_err(|e| runtime(e.to_string()))?;
        writer
            .write_all(&answer)
            .map_err(|e| runtime(format!("sending the validation failed: {e}")))?;
        received += 1;
    }
    Ok(())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn print_notification(msg_id: u16, data_type: u16, data: &[u8], hex: bool) -> Result<(), Failure> {
    let text = std::str::from_utf8(data)
        .ok()
        .filter(|s| !hex && !s.chars().any(char::is_control));
    let shown = match text {
        Some(s) => s.to_string(),
        None => data.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "msg_id={msg_id} type={data_type} len={} data={shown}",
        data.len()
    )
    .and_then(|()| out.flush())
    .map_err(|e| runtime(format!("cannot write to stdout: {e}")))
}
