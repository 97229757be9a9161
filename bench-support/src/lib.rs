//! What the benchmark binaries share, so each measures and reports the same way:
//! [`measure`] runs a command and returns its wall time and the peak resident memory of its
//! whole process tree (so nnU-Net's worker processes count together, as they occupy the
//! machine together), and [`write_section`] replaces one benchmark's marked section of
//! `docs/benchmarks.md` atomically.
//!
//! Peak memory is sampled from `/proc` every 20 ms (Linux only; elsewhere it reads 0). No crate
//! reports the peak of a process *tree* while it runs, hence the few lines here.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall time and peak memory of one command.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    pub seconds: f64,
    pub peak_mib: f64,
}

/// Resident memory of `root` and all its descendants, in KiB.
pub fn tree_rss_kib(root: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parent_of = Vec::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may contain spaces: split after the last ')'.
        let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        parent_of.push((pid, ppid));
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .sum()
}

/// Runs `command` to completion (stdout discarded), sampling its tree's memory.
/// Fails with the command and its exit status when it does not succeed.
pub fn measure(mut command: Command) -> Result<Measurement, String> {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    let mut peak = 0;
    loop {
        peak = peak.max(tree_rss_kib(child.id()));
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => return Err(format!("{command:?} failed: {status}")),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {command:?}: {e}")),
        }
    }
    Ok(Measurement {
        seconds: start.elapsed().as_secs_f64(),
        peak_mib: peak as f64 / 1024.0,
    })
}

/// `docs/benchmarks.md` of the workspace holding `manifest_dir` (a crate's `CARGO_MANIFEST_DIR`).
pub fn docs_file(manifest_dir: &str) -> std::path::PathBuf {
    Path::new(manifest_dir).join("../docs/benchmarks.md")
}

/// Replaces the section between `<!-- BEGIN key -->` and `<!-- END key -->` of `path` with
/// `section` (or appends it), atomically.
pub fn write_section(path: &Path, key: &str, section: &str) -> nnunet_core::Result<()> {
    let (begin, end) = (
        format!("<!-- BEGIN {key} -->"),
        format!("<!-- END {key} -->"),
    );
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let block = format!("{begin}\n{section}{end}\n");
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(a), Some(b)) if b > a => format!(
            "{}{block}{}",
            &old[..a],
            old[b + end.len()..].trim_start_matches('\n')
        ),
        _ => format!("{}\n\n{block}", old.trim_end()),
    };
    nnunet_core::atomic::write_bytes(path, new.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place_and_appended_once() {
        let dir = std::env::temp_dir().join(format!("bench-support-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("benchmarks.md");
        std::fs::write(&path, "# Benchmarks\n\nintro\n").unwrap();
        write_section(&path, "x", "one\n").unwrap();
        write_section(&path, "x", "two\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# Benchmarks\n\nintro\n\n<!-- BEGIN x -->\ntwo\n<!-- END x -->\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn measure_reports_failure_and_time() {
        let ok = measure(Command::new("true")).unwrap();
        assert!(ok.seconds >= 0.0);
        assert!(
            measure(Command::new("false"))
                .unwrap_err()
                .contains("failed")
        );
    }
}
