//! `gossip-cli status` and `gossip-cli peers`: one STATUS QUERY (510), or
//! one a second with `--watch`, rendered for a person (aligned columns,
//! human units) or as one line of JSON per reply (`--json`).

use std::fmt::Write as _;
use std::io::{self, BufReader, IsTerminal, Write};
use std::net::TcpStream;
use std::time::Duration;

use getopts::Options;
use gossipd::api::status::{self, PeerEntry, Response, StatusQuery, StatusReply};

use super::{Failure, is_timeout, parse_options, runtime, usage};

/// How long to wait for a reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two queries with `--watch`.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// ANSI: cursor home, clear the screen.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Which subcommand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// `status`: identity, addresses, uptime, view sizes, counters.
    Status,
    /// `peers`: the view entries.
    Peers,
}

/// Runs `status` or `peers` with `args`.
pub(crate) fn run(args: &[String], view: View) -> Result<(), Failure> {
    let mut opts = Options::new();
    opts.optflag("", "json", "print one line of JSON");
    opts.optflag("", "watch", "ask again every second");
    let Some(m) = parse_options(&mut opts, args)? else {
        return Ok(());
    };
    if let Some(extra) = m.free.first() {
        return Err(usage(format!("unexpected argument '{extra}'")));
    }
    let (json, watch) = (m.opt_present("json"), m.opt_present("watch"));
    let clear = watch && !json && io::stdout().is_terminal();
    let stream = super::connect(&m)?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .map_err(|e| runtime(format!("cannot set a read timeout: {e}")))?;
    let mut reader = BufReader::new(&stream);
    let mut request_id = 0u16;
    loop {
        let reply = ask(&stream, &mut reader, request_id)?;
        let mut text = match (view, json) {
            (View::Status, false) => render_status(&reply),
            (View::Peers, false) => render_peers(&reply),
            (View::Status, true) => status_json(&reply),
            (View::Peers, true) => peers_json(&reply),
        };
        if clear {
            text.insert_str(0, CLEAR);
        }
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| runtime(format!("cannot write to stdout: {e}")))?;
        drop(out);
        if !watch {
            return Ok(());
        }
        std::thread::sleep(WATCH_INTERVAL);
        request_id = request_id.wrapping_add(1);
    }
}

/// Sends one query and reads its reply.
fn ask(
    mut stream: &TcpStream,
    reader: &mut BufReader<&TcpStream>,
    request_id: u16,
) -> Result<StatusReply, Failure> {
    let mut query = Vec::new();
    status::encode_query(&StatusQuery::new(request_id), &mut query);
    stream
        .write_all(&query)
        .map_err(|e| runtime(format!("sending the status query failed: {e}")))?;
    match status::read_response(reader) {
        Ok(Some(Response::Status(reply))) if reply.request_id == request_id => Ok(*reply),
        Ok(Some(Response::Status(reply))) => Err(runtime(format!(
            "status reply for request {} instead of {request_id}",
            reply.request_id
        ))),
        Ok(Some(Response::Api(other))) => Err(runtime(format!("unexpected message {other:?}"))),
        Ok(None) => Err(runtime(
            "gossip closed the connection (gone, or without the status extension)",
        )),
        Err(gossipd::api::codec::ReadError::Io(e)) if is_timeout(&e) => Err(runtime(format!(
            "no status reply within {} s",
            REPLY_TIMEOUT.as_secs()
        ))),
        Err(e) => Err(runtime(format!("connection to gossip failed: {e}"))),
    }
}

/// Milliseconds as `8.2s`, `3m 05s`, `2h 04m` or `3d 01h`.
pub(crate) fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..10 => format!("{}.{}s", s, (ms % 1000) / 100),
        10..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// Bytes as `512 B`, `12.3 KiB`, `4.5 MiB` or `1.2 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Label printed for each counter (same order as on the wire), with the
/// group heading that starts before it.
fn counter_label(name: &str) -> (Option<&'static str>, &'static str) {
    match name {
        "announced" => (Some("items"), "announced"),
        "received" => (None, "received"),
        "delivered" => (None, "delivered"),
        "duplicates" => (None, "duplicates"),
        "relayed" => (None, "relayed"),
        "pulls_sent" => (None, "pulls sent"),
        "pulls_served" => (None, "pulls served"),
        "valid" => (Some("validation"), "valid"),
        "invalid" => (None, "invalid"),
        "expired" => (None, "expired"),
        "evicted_unspread" => (None, "evicted unspread"),
        "misbehaviours" => (Some("peers"), "misbehaviours"),
        "peers_banned" => (None, "banned"),
        "refused_banned" => (None, "refused (banned)"),
        "outbox_skips" => (Some("overflows"), "outbox skips"),
        "slow_clients_kicked" => (None, "slow clients kicked"),
        "slow_peers_dropped" => (None, "slow peers dropped"),
        "bytes_in" => (Some("traffic"), "bytes in"),
        "bytes_out" => (None, "bytes out"),
        _ => (None, "?"),
    }
}

fn view_summary(listed: usize, left_out: u16, one: &str, many: &str) -> String {
    let total = listed + usize::from(left_out);
    let mut s = plural(total, one, many);
    if left_out > 0 {
        let _ = write!(s, " ({left_out} not listed: the reply was full)");
    }
    s
}

/// The `status` page: identity, then counters grouped, labels and values
/// in aligned columns.
fn render_status(r: &StatusReply) -> String {
    let mut rows: Vec<(Option<&str>, &str, String)> = vec![
        (Some("node"), "peer id", hex(&r.peer_id)),
        (None, "P2P address", r.p2p_addr.to_string()),
        (None, "API address", r.api_addr.to_string()),
        (None, "uptime", human_duration(r.uptime_ms)),
        (
            None,
            "active view",
            view_summary(r.active.len(), r.active_left_out, "neighbour", "neighbours"),
        ),
        (
            None,
            "passive view",
            view_summary(r.passive.len(), r.passive_left_out, "address", "addresses"),
        ),
    ];
    let counters = r.counters.named();
    let numbers: Vec<String> = counters
        .iter()
        .map(|&(name, value)| match name {
            "bytes_in" | "bytes_out" => human_bytes(value),
            _ => value.to_string(),
        })
        .collect();
    let width = numbers.iter().map(String::len).max().unwrap_or(0);
    for (&(name, _), number) in counters.iter().zip(&numbers) {
        let (group, label) = counter_label(name);
        rows.push((group, label, format!("{number:>width$}")));
    }
    let label_width = rows.iter().map(|(_, l, _)| l.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (group, label, value) in rows {
        if let Some(group) = group {
            let _ = writeln!(out, "{group}");
        }
        let _ = writeln!(out, "  {label:<label_width$}  {value}");
    }
    out
}

/// The `peers` table: one row per entry, active first.
fn render_peers(r: &StatusReply) -> String {
    let mut rows = vec![[
        "VIEW".to_string(),
        "PEER ID".to_string(),
        "ADDRESS".to_string(),
        "LINK".to_string(),
        "AGE".to_string(),
    ]];
    let views = [("active", &r.active), ("passive", &r.passive)];
    for (view, entries) in views {
        for e in entries {
            rows.push(peer_row(view, e));
        }
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for (view, left_out) in [
        ("active", r.active_left_out),
        ("passive", r.passive_left_out),
    ] {
        if left_out > 0 {
            let _ = writeln!(
                out,
                "({left_out} more {view} entries not listed: the reply was full)"
            );
        }
    }
    if r.active.is_empty() && r.passive.is_empty() {
        out.push_str("(no neighbours and no backup addresses)\n");
    }
    out
}

fn peer_row(view: &str, e: &PeerEntry) -> [String; 5] {
    // The short form gossipd logs: the first 8 bytes in hex.
    let id = e
        .peer_id
        .map_or_else(|| "-".to_string(), |id| hex(&id[..8]));
    let link = match (e.age_ms, e.outbound) {
        (None, _) => "-",
        (Some(_), true) => "out",
        (Some(_), false) => "in",
    };
    let age = e.age_ms.map_or_else(|| "-".to_string(), human_duration);
    [
        view.to_string(),
        id,
        e.addr.to_string(),
        link.to_string(),
        age,
    ]
}

/// A JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn entry_json(e: &PeerEntry) -> String {
    let id = e
        .peer_id
        .map_or_else(|| "null".to_string(), |id| json_string(&hex(&id)));
    let age = e
        .age_ms
        .map_or_else(|| "null".to_string(), |a| a.to_string());
    format!(
        "{{\"peer_id\":{id},\"address\":{},\"outbound\":{},\"age_ms\":{age}}}",
        json_string(&e.addr.to_string()),
        e.outbound
    )
}

fn views_json(r: &StatusReply) -> String {
    let list = |entries: &[PeerEntry]| {
        let items: Vec<String> = entries.iter().map(entry_json).collect();
        format!("[{}]", items.join(","))
    };
    format!(
        "\"active\":{},\"active_left_out\":{},\"passive\":{},\"passive_left_out\":{}",
        list(&r.active),
        r.active_left_out,
        list(&r.passive),
        r.passive_left_out
    )
}

/// `status --json`: everything in the reply, one line.
fn status_json(r: &StatusReply) -> String {
    let counters: Vec<String> = r
        .counters
        .named()
        .iter()
        .map(|(name, value)| format!("{}:{value}", json_string(name)))
        .collect();
    format!(
        "{{\"format\":{},\"peer_id\":{},\"p2p_address\":{},\"api_address\":{},\"uptime_ms\":{},\
         \"counters\":{{{}}},{}}}\n",
        r.version,
        json_string(&hex(&r.peer_id)),
        json_string(&r.p2p_addr.to_string()),
        json_string(&r.api_addr.to_string()),
        r.uptime_ms,
        counters.join(","),
        views_json(r)
    )
}

/// `peers --json`: the views, one line.
fn peers_json(r: &StatusReply) -> String {
    format!(
        "{{\"peer_id\":{},{}}}\n",
        json_string(&hex(&r.peer_id)),
        views_json(r)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(0), "0.0s");
        assert_eq!(human_duration(8_250), "8.2s");
        assert_eq!(human_duration(59_999), "59s");
        assert_eq!(human_duration(65_000), "1m 05s");
        assert_eq!(human_duration(3_600_000 + 4 * 60_000), "1h 04m");
        assert_eq!(human_duration(3 * 86_400_000 + 3_600_000), "3d 01h");
    }

    #[test]
    fn bytes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(12_595), "12.3 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
