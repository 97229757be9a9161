//! Peak GPU memory of this process while a run trains and validates.
//!
//! tch exposes neither `torch.cuda.max_memory_allocated` nor the caching allocator's statistics,
//! so a background thread samples `nvidia-smi --query-compute-apps=pid,used_memory` every
//! 200 ms and keeps this process's largest figure. That is the memory the driver reports for
//! the process — the caching allocator's reserved memory plus the CUDA context — i.e. what
//! another job on the same GPU could not use. Without `nvidia-smi` the figure is unknown.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Samples this process's GPU memory until [`PeakGpuMemory::finish`].
pub struct PeakGpuMemory {
    stop: Arc<AtomicBool>,
    peak_mib: Arc<AtomicU64>,
    sampled: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// This process's GPU memory in MiB as `nvidia-smi` reports it, if it can.
fn sample_mib(pid: u32) -> Option<u64> {
    let output = Command::new("nvidia-smi")
        .args([
            "--query-compute-apps=pid,used_memory",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    // One line per process on any GPU: "1234, 2048". A process absent from the list uses none.
    Some(
        text.lines()
            .filter_map(|line| {
                let (p, m) = line.split_once(',')?;
                (p.trim().parse::<u32>().ok()? == pid)
                    .then(|| m.trim().parse::<u64>().ok())
                    .flatten()
            })
            .sum(),
    )
}

impl PeakGpuMemory {
    /// Starts sampling.
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_mib = Arc::new(AtomicU64::new(0));
        let sampled = Arc::new(AtomicBool::new(false));
        let (s, p, ok) = (stop.clone(), peak_mib.clone(), sampled.clone());
        let pid = std::process::id();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match sample_mib(pid) {
                    Some(mib) => {
                        ok.store(true, Ordering::Relaxed);
                        p.fetch_max(mib, Ordering::Relaxed);
                    }
                    None => return,
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        PeakGpuMemory {
            stop,
            peak_mib,
            sampled,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the peak in MiB, or `None` when `nvidia-smi` could not be queried.
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(mib) = sample_mib(std::process::id()) {
            self.sampled.store(true, Ordering::Relaxed);
            self.peak_mib.fetch_max(mib, Ordering::Relaxed);
        }
        self.sampled
            .load(Ordering::Relaxed)
            .then(|| self.peak_mib.load(Ordering::Relaxed))
    }
}

impl Drop for PeakGpuMemory {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
