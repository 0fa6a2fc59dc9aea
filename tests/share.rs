//! gossip-share on real processes: three gossipd nodes, a gossip-share serve
//! process on each. A file added on one host shows up in the others' index,
//! downloads are byte-identical from two holders, a holder serving corrupt
//! pieces or killed before the download is survived, a deleted file leaves
//! the index, and so does a vanished holder after the expiry.

mod common;

use common::share::{ShareHost, pieces_by_holder, random_bytes, same_bytes};
use common::{Client, Network, Shape, TempDir, after};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// Deadline for an index change to reach another host.
const SPREAD: Duration = Duration::from_secs(15);
/// Re-announce period of the test hosts: short, so an item announced before
/// a subscription took effect is repaired quickly.
const REANNOUNCE_MS: &str = "2000";
/// The index item data type (gossip-share's default).
const INDEX_TYPE: u16 = 0x5348;

/// Three nodes, each with a serve process; `extra[i]` are host i's options.
fn hosts(net: &Network, extra: [&[&str]; 3]) -> Vec<ShareHost> {
    (0..3)
        .map(|i| {
            let mut args = vec!["--reannounce-ms", REANNOUNCE_MS];
            args.extend_from_slice(extra[i]);
            ShareHost::start(&format!("share{i}"), net.nodes[i].api_addr(), &args)
        })
        .collect()
}

fn has_exactly(holders: &[SocketAddr], want: &[SocketAddr]) -> bool {
    let mut holders = holders.to_vec();
    let mut want = want.to_vec();
    holders.sort();
    want.sort();
    holders == want
}

#[test]
fn a_file_spreads_downloads_from_two_holders_and_leaves_the_index_when_deleted() {
    let net = Network::start(3, 2, Shape::Star);
    let hosts = hosts(&net, [&[], &[], &[]]);
    let (a, b, c) = (&hosts[0], &hosts[1], &hosts[2]);
    let data = random_bytes(12 << 20, 1);
    a.add_file("report.bin", &data);
    for host in [b, c] {
        assert!(
            host.wait_holders("report.bin", after(SPREAD), |h| has_exactly(h, &[a.listen])),
            "report.bin never listed at {}",
            host.listen
        );
    }
    let listed = c.list();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0].0.as_str(), listed[0].1),
        ("report.bin", data.len() as u64)
    );

    b.add_file("report.bin", &data);
    let both = [a.listen, b.listen];
    assert!(
        c.wait_holders("report.bin", after(SPREAD), |h| has_exactly(h, &both)),
        "the second holder never listed"
    );
    let out_dir = TempDir::new("share-get");
    let target = out_dir.path().join("copy.bin");
    let got = c.command(&["get", "report.bin", "-o", target.to_str().expect("UTF-8")]);
    assert_eq!(got.code, Some(0), "{got:?}");
    assert!(same_bytes(&target, &data), "the download differs");
    let served = pieces_by_holder(&got.stdout);
    assert_eq!(served.len(), 2, "{got:?}");
    assert!(
        served.iter().all(|&(_, n)| n > 0),
        "both holders serve: {served:?}"
    );

    // A malformed index item is judged invalid (and not indexed).
    let mut rogue = Client::connect(net.nodes[0].api_addr());
    rogue.announce(0, INDEX_TYPE, b"\x01\x01not an index item");
    assert!(
        b.wait_for_log(after(SPREAD), |l| l.contains("invalid index item"))
            .is_some(),
        "the malformed item was not judged invalid"
    );

    a.remove_file("report.bin");
    assert!(
        c.wait_holders("report.bin", after(SPREAD), |h| has_exactly(h, &[b.listen])),
        "a deleted file's holder stays listed"
    );
    b.remove_file("report.bin");
    for host in [a, c] {
        assert!(
            host.wait_holders("report.bin", after(SPREAD), <[SocketAddr]>::is_empty),
            "a deleted file stays in the index at {}",
            host.listen
        );
    }
    assert!(c.list().is_empty());
}

#[test]
fn a_corrupting_holder_is_detected_and_the_download_completes_from_the_honest_one() {
    let net = Network::start(3, 2, Shape::Star);
    let hosts = hosts(&net, [&[], &["--corrupt-pieces"], &[]]);
    let (honest, liar, c) = (&hosts[0], &hosts[1], &hosts[2]);
    let data = random_bytes(12 << 20, 2);
    honest.add_file("data.bin", &data);
    liar.add_file("data.bin", &data);
    let both = [honest.listen, liar.listen];
    assert!(
        c.wait_holders("data.bin", after(SPREAD), |h| has_exactly(h, &both)),
        "both holders never listed"
    );
    let out_dir = TempDir::new("share-corrupt");
    let target = out_dir.path().join("data.bin");
    let got = c.command(&[
        "get",
        "data.bin",
        "-o",
        out_dir.path().to_str().expect("UTF-8"),
    ]);
    assert_eq!(got.code, Some(0), "{got:?}");
    assert!(same_bytes(&target, &data), "the download differs");
    let dropped = format!("dropped {}: ", liar.listen);
    assert!(
        got.stdout
            .lines()
            .any(|l| l.contains(&dropped) && l.contains("does not match its hash")),
        "the corrupting holder was not caught: {got:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(out_dir.path())
        .expect("out dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the file, no temp file: {leftovers:?}"
    );
}

#[test]
fn a_killed_holder_does_not_stop_a_download_and_expires_from_the_index() {
    let net = Network::start(3, 2, Shape::Star);
    let expiry: &[&str] = &["--expiry-ms", "6000"];
    let mut hosts = hosts(&net, [expiry, expiry, expiry]);
    let data = random_bytes(24 << 20, 3);
    hosts[0].add_file("movie.bin", &data);
    hosts[1].add_file("movie.bin", &data);
    let (a, b) = (hosts[0].listen, hosts[1].listen);
    assert!(
        hosts[2].wait_holders("movie.bin", after(SPREAD), |h| has_exactly(h, &[a, b])),
        "both holders never listed"
    );
    let out_dir = TempDir::new("share-killed");

    // Killed during the download: as soon as the temp file appears.
    let target = out_dir.path().join("during.bin");
    let (holders, downloader) = hosts.split_at_mut(2);
    let (got, killed_midway) = thread::scope(|scope| {
        let path = target.to_str().expect("UTF-8");
        let get = scope.spawn(|| downloader[0].command(&["get", "movie.bin", "-o", path]));
        let started = poll_until(after(SPREAD), || part_file(out_dir.path()).is_some());
        holders[1].kill();
        let midway = started && part_file(out_dir.path()).is_some();
        (get.join().expect("get thread"), midway)
    });
    assert_eq!(got.code, Some(0), "{got:?}");
    assert!(same_bytes(&target, &data), "the download differs");
    if killed_midway {
        assert!(got.stdout.contains(&format!("dropped {b}")), "{got:?}");
    }

    // Killed before the download, still listed: dropped at once.
    let target = out_dir.path().join("after.bin");
    let got = hosts[2].command(&["get", "movie.bin", "-o", target.to_str().expect("UTF-8")]);
    assert_eq!(got.code, Some(0), "{got:?}");
    assert!(same_bytes(&target, &data), "the download differs");
    assert!(
        got.stdout.contains(&format!("dropped {b}")),
        "the killed holder was still listed and dropped: {got:?}"
    );
    assert!(
        hosts[2].wait_holders("movie.bin", after(SPREAD), |h| has_exactly(h, &[a])),
        "the killed holder never expired"
    );
}

/// The temp file of a download in progress in `dir`, if any.
fn part_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "part"))
}

/// Polls `cond` every 2 ms until it holds (true) or the deadline (false).
fn poll_until(deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(2));
    }
    true
}
