//! The bounded fuzz loop: every seed once as it is, then mutated inputs until the budget is
//! spent; each execution under `catch_unwind` and the allocation count, findings saved to disk,
//! one summary line per target on stderr.
//!
//! Environment:
//! * `NNUNET_FUZZ_SECONDS` — time budget per target (default 20);
//! * `NNUNET_FUZZ_CASES` — a fixed number of mutated cases instead of a time budget;
//! * `NNUNET_FUZZ_SEED` — the run's seed (default: from the clock; always printed);
//! * `NNUNET_FUZZ_CASE` — run only this case of that seed (reproduce a finding);
//! * `NNUNET_FUZZ_FINDINGS` — where failing inputs are saved (default: the temp folder).

use crate::alloc;
use arbitrary::Unstructured;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What one execution made of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Read and checked.
    Accepted,
    /// Refused with an error (the right answer for most mutated inputs).
    Refused,
}

/// How long a target runs and which inputs it draws.
#[derive(Clone, Debug)]
pub struct Budget {
    pub seconds: f64,
    pub cases: Option<u64>,
    pub seed: u64,
    pub only_case: Option<u64>,
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => panic!("{name}={text:?} is not a valid number"),
    }
}

impl Budget {
    /// The budget the environment asks for (see the module doc).
    pub fn from_env() -> Self {
        let seed = env_parse("NNUNET_FUZZ_SEED").unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        Budget {
            seconds: env_parse("NNUNET_FUZZ_SECONDS").unwrap_or(20.0),
            cases: env_parse("NNUNET_FUZZ_CASES"),
            seed,
            only_case: env_parse("NNUNET_FUZZ_CASE"),
        }
    }
}

/// One failing input.
#[derive(Clone, Debug)]
pub struct Finding {
    pub case: u64,
    pub message: String,
    pub saved: Option<PathBuf>,
}

/// What a target's run did.
#[derive(Clone, Debug)]
pub struct Report {
    pub target: &'static str,
    pub seed: u64,
    pub executions: u64,
    pub accepted: u64,
    pub refused: u64,
    pub findings: Vec<Finding>,
    pub elapsed: Duration,
    /// Largest memory one execution held at its peak, in bytes.
    pub peak_bytes: usize,
}

impl Report {
    /// The summary line printed for CI logs.
    pub fn summary(&self) -> String {
        format!(
            "fuzz {}: {} executions in {:.1} s (NNUNET_FUZZ_SEED={}): {} accepted, {} refused \
             with an error, {} crashes; peak {:.1} MiB in one execution",
            self.target,
            self.executions,
            self.elapsed.as_secs_f64(),
            self.seed,
            self.accepted,
            self.refused,
            self.findings.len(),
            self.peak_bytes as f64 / (1 << 20) as f64
        )
    }

    /// Panics listing the findings when there are any.
    pub fn assert_clean(&self) {
        if self.findings.is_empty() {
            return;
        }
        let list: Vec<String> = self
            .findings
            .iter()
            .take(10)
            .map(|f| {
                let saved = f
                    .saved
                    .as_ref()
                    .map(|p| format!(" (input saved to {})", p.display()))
                    .unwrap_or_default();
                format!("  NNUNET_FUZZ_CASE={}: {}{saved}", f.case, f.message)
            })
            .collect();
        panic!("{}\n{}", self.summary(), list.join("\n"));
    }
}

/// The random bytes that drive the mutations of case `case` under run seed `seed`.
fn case_bytes(seed: u64, case: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut bytes = vec![0u8; 4096];
    rng.fill_bytes(&mut bytes);
    bytes
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".into())
}

fn save_finding(target: &str, seed: u64, case: u64, input: &[u8]) -> Option<PathBuf> {
    let dir = std::env::var_os("NNUNET_FUZZ_FINDINGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("nnunet-fuzz-findings"));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{target}-{seed}-{case}.bin"));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// Input of case `case`: seeds first as they are, then mutations of them.
fn input_of<M>(seeds: &[Vec<u8>], mutate: &M, seed: u64, case: u64) -> Vec<u8>
where
    M: Fn(&mut Unstructured, &[Vec<u8>]) -> arbitrary::Result<Vec<u8>>,
{
    if let Some(original) = seeds.get(case as usize) {
        return original.clone();
    }
    let bytes = case_bytes(seed, case);
    let mut u = Unstructured::new(&bytes);
    mutate(&mut u, seeds).unwrap_or_else(|_| seeds[case as usize % seeds.len()].clone())
}

/// Runs `target` on its seeds and on mutations of them within `budget`.
///
/// `mutate` turns random bytes and the seeds into one input; `exec` reads it, returning whether
/// it was accepted or refused, or `Err` when a checked property of an accepted input failed.
/// A panic, an `Err` or an execution holding more than [`alloc::PEAK_BOUND_BYTES`] is a finding;
/// a seed that is refused is one too (the readers must read the real data).
pub fn fuzz<M, E>(
    target: &'static str,
    seeds: &[Vec<u8>],
    budget: &Budget,
    mutate: M,
    exec: E,
) -> Report
where
    M: Fn(&mut Unstructured, &[Vec<u8>]) -> arbitrary::Result<Vec<u8>>,
    E: Fn(&[u8]) -> Result<Outcome, String>,
{
    assert!(!seeds.is_empty(), "fuzz {target}: no seeds");
    assert!(
        alloc::installed(),
        "fuzz {target}: the test binary must install nnunet_fuzz::BoundedAlloc as its global \
         allocator, or memory is not bounded"
    );
    let start = Instant::now();
    let mut report = Report {
        target,
        seed: budget.seed,
        executions: 0,
        accepted: 0,
        refused: 0,
        findings: Vec::new(),
        elapsed: Duration::ZERO,
        peak_bytes: 0,
    };
    let cases: Box<dyn Iterator<Item = u64>> = match budget.only_case {
        Some(case) => Box::new(std::iter::once(case)),
        None => Box::new(0..),
    };
    for case in cases {
        let mutated = case >= seeds.len() as u64;
        let done = match budget.cases {
            Some(n) => case >= seeds.len() as u64 + n,
            None => start.elapsed().as_secs_f64() >= budget.seconds,
        };
        if mutated && done && budget.only_case.is_none() {
            break;
        }
        let input = input_of(seeds, &mutate, budget.seed, case);
        let live = alloc::live_now();
        alloc::begin_case(target, budget.seed, case);
        let result = catch_unwind(AssertUnwindSafe(|| exec(&input)));
        let peak = alloc::case_peak(live);
        report.peak_bytes = report.peak_bytes.max(peak);
        report.executions += 1;
        let failure = match result {
            Ok(Ok(Outcome::Accepted)) => {
                report.accepted += 1;
                None
            }
            Ok(Ok(Outcome::Refused)) if mutated => {
                report.refused += 1;
                None
            }
            Ok(Ok(Outcome::Refused)) => Some("a seed (real data) was refused".to_string()),
            Ok(Err(message)) => Some(message),
            Err(payload) => Some(format!("panicked: {}", panic_message(&*payload))),
        };
        let failure = failure.or_else(|| {
            (peak > alloc::PEAK_BOUND_BYTES).then(|| {
                format!(
                    "held {peak} bytes at its peak, over the {}-byte bound",
                    alloc::PEAK_BOUND_BYTES
                )
            })
        });
        if let Some(message) = failure {
            let saved = save_finding(target, budget.seed, case, &input);
            report.findings.push(Finding {
                case,
                message,
                saved,
            });
        }
    }
    report.elapsed = start.elapsed();
    // Written to the process's stderr directly so that the test harness does not capture it.
    let _ = writeln!(std::io::stderr(), "{}", report.summary());
    report
}
