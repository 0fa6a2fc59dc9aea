//! `gossip-bench pow`: what a gossipd identity costs to make and to check.
//!
//! Making one is [`Identity::generate`]: a fresh Ed25519 key and a
//! proof-of-work search on every core, timed over K samples per difficulty.
//! The search is a geometric trial (each nonce qualifies with probability
//! 2^-difficulty), so single samples scatter widely; the "expected" column is
//! 2^difficulty hashes at the measured hash rate on every core. Checking one
//! is what a peer does with the proof a handshake presents: one
//! [`pow::bits`] and one strict Ed25519 signature check, averaged over R runs.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use getopts::{Matches, Options};
use gossipd::config::{DEFAULT_POW_DIFFICULTY, POW_DIFFICULTY_RANGE};
use gossipd::identity::{self, Identity, pow};

use crate::stats::Distribution;
use crate::{Result, check_interrupted, fail, number, parse};

/// Identities generated per difficulty unless `--samples` says otherwise.
const DEFAULT_SAMPLES: usize = 5;
/// Proof checks averaged unless `--verify-runs` says otherwise.
const DEFAULT_VERIFY_RUNS: u32 = 100_000;
/// How long the single-thread hash rate is measured.
const RATE_TIME: Duration = Duration::from_millis(500);

/// Runs `gossip-bench pow [--difficulty N ...] [--samples K] [--verify-runs R]`.
pub fn command(args: &[String]) -> Result<ExitCode> {
    let mut opts = Options::new();
    opts.optmulti("", "difficulty", "", "N");
    opts.optopt("", "samples", "", "K");
    opts.optopt("", "verify-runs", "", "R");
    let m = parse(&opts, args)?;
    let difficulties = difficulties(&m)?;
    let samples: usize = number(&m, "samples", Some(DEFAULT_SAMPLES))?;
    let runs: u32 = number(&m, "verify-runs", Some(DEFAULT_VERIFY_RUNS))?;
    if samples == 0 || runs == 0 {
        return Err(fail("need --samples >= 1 and --verify-runs >= 1"));
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let rate = hash_rate();
    println!(
        "== identity generation ({cores} cores; BLAKE2s proof hashes: {:.2} M/s on one core) ==",
        rate / 1e6
    );
    println!("difficulty  samples    mean s  median s     max s  expected s");
    for difficulty in difficulties {
        let times = generation(difficulty, samples)?;
        let expected = 2f64.powi(difficulty as i32) / (rate * cores as f64);
        println!(
            "{difficulty:>10}  {samples:>7}  {:>8.3}  {:>8.3}  {:>8.3}  {expected:>10.3}",
            times.mean_ms().unwrap_or(0.0) / 1e3,
            times.ms(50.0).unwrap_or(0.0) / 1e3,
            times.max_ms().unwrap_or(0.0) / 1e3,
        );
    }
    check_interrupted()?;
    print_verification(runs);
    Ok(ExitCode::SUCCESS)
}

/// The `--difficulty` values (default: the config default), each in range.
fn difficulties(m: &Matches) -> Result<Vec<u32>> {
    let given = m.opt_strs("difficulty");
    if given.is_empty() {
        return Ok(vec![DEFAULT_POW_DIFFICULTY]);
    }
    given
        .iter()
        .map(|v| match v.parse::<u32>() {
            Ok(d) if POW_DIFFICULTY_RANGE.contains(&d) => Ok(d),
            _ => Err(fail(format!(
                "--difficulty: '{v}' is not a whole number from {} to {}",
                POW_DIFFICULTY_RANGE.start(),
                POW_DIFFICULTY_RANGE.end()
            ))),
        })
        .collect()
}

/// Proof-of-work hashes per second on one thread.
fn hash_rate() -> f64 {
    let key = Identity::generate(0).public_key();
    let started = Instant::now();
    let mut hashes = 0u64;
    while started.elapsed() < RATE_TIME {
        for _ in 0..10_000 {
            black_box(pow::bits(black_box(&key), hashes));
            hashes += 1;
        }
    }
    hashes as f64 / started.elapsed().as_secs_f64()
}

/// Wall-clock time of `samples` calls of [`Identity::generate`].
fn generation(difficulty: u32, samples: usize) -> Result<Distribution> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        check_interrupted()?;
        let started = Instant::now();
        let identity = black_box(Identity::generate(difficulty));
        times.push(started.elapsed().as_nanos() as u64);
        if identity.pow_bits() < difficulty {
            return Err(fail(format!("generate({difficulty}) fell short")));
        }
    }
    Ok(Distribution::new(times))
}

/// Mean time to check a proof as a handshake would: the proof's bits and a
/// signature over a 32-byte transcript hash; then each part alone.
fn print_verification(runs: u32) {
    let identity = Identity::generate(16);
    let (key, nonce) = (identity.public_key(), identity.pow_nonce());
    let msg = [7u8; 32];
    let signature = identity.sign(&msg);
    let check = || {
        pow::bits(black_box(&key), black_box(nonce)) >= 16
            && identity::verify(black_box(&key), black_box(&msg), black_box(&signature))
    };
    let both_us = mean_us(runs, check);
    let bits_us = mean_us(runs, || pow::bits(black_box(&key), black_box(nonce)) >= 16);
    let verify_us = mean_us(runs, || {
        identity::verify(black_box(&key), black_box(&msg), black_box(&signature))
    });
    println!("\n== proof check (mean of {runs} runs) ==");
    println!("pow::bits + Ed25519 verify_strict: {both_us:.2} µs");
    println!("  pow::bits alone:                 {bits_us:.3} µs");
    println!("  verify_strict alone:             {verify_us:.2} µs");
}

/// Mean microseconds per call of `f`, which must return true.
fn mean_us(runs: u32, mut f: impl FnMut() -> bool) -> f64 {
    let started = Instant::now();
    let mut passed = 0u32;
    for _ in 0..runs {
        passed += u32::from(black_box(f()));
    }
    let took = started.elapsed();
    // The proof and signature were just made, so every check passes; a
    // failure is a bug in gossipd::identity, not bad input.
    assert_eq!(passed, runs, "a valid proof failed its check");
    took.as_secs_f64() * 1e6 / f64::from(runs)
}
