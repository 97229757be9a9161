//! Peak resident memory (RSS) of this process while one run trains and validates, in MiB.
//!
//! Linux keeps a high-water mark of each process's RSS (`VmHWM` in `/proc/self/status`);
//! writing `5` to `/proc/self/clear_refs` (Linux ≥ 4.0) resets it to the current RSS. A run
//! resets it before training and reads it after validation, so the figure is the largest RSS
//! of the whole process during that run — the network, optimiser state, activations,
//! augmentation workers' batches and the libraries loaded — what the run needs of the
//! machine's memory. Where the mark cannot be reset (another OS, a restricted /proc) the
//! figure is unknown rather than a lifetime peak that an earlier run may have set.

/// Resets the high-water mark; false when it cannot.
pub fn reset() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The high-water mark since the last [`reset`], in MiB.
pub fn peak_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm_kib(&status).map(|kib| kib.div_ceil(1024))
}

fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Measures `f`'s peak RSS: `(result, peak MiB or None)`.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let ok = reset();
    let value = f();
    (value, if ok { peak_mib() } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_sees_an_allocation() {
        assert_eq!(
            parse_vm_hwm_kib("Name:\tx\nVmHWM:\t  204800 kB\nVmRSS:\t1 kB\n"),
            Some(204_800)
        );
        assert_eq!(parse_vm_hwm_kib("Name:\tx\n"), None);
        if cfg!(target_os = "linux") {
            let (_, before) = measure(|| ());
            let (sum, peak) = measure(|| {
                let v = vec![1u8; 200 << 20];
                v.iter().map(|&b| u64::from(b)).sum::<u64>()
            });
            assert_eq!(sum, 200 << 20);
            let (before, peak) = (before.unwrap(), peak.unwrap());
            assert!(peak >= before + 150, "{before} MiB → {peak} MiB");
        }
    }
}
