//! A counting global allocator for fuzz test binaries: it measures what one execution allocates
//! (per thread, so parallel targets do not mix) and refuses any single allocation above a hard
//! cap, so that a reader allocating from a hostile header is reported as a finding instead of
//! taking the machine down.
//!
//! Install it in the test binary:
//! `#[global_allocator] static ALLOC: nnunet_fuzz::BoundedAlloc = nnunet_fuzz::BoundedAlloc;`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;

/// One allocation larger than this is refused (the process then aborts, naming the case).
pub const HARD_CAP_BYTES: usize = 2 << 30;

/// Memory one execution may hold at its peak before it counts as a finding.
pub const PEAK_BOUND_BYTES: usize = 1 << 30;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static CASE: Cell<(&'static str, u64, u64)> = const { Cell::new(("", 0, 0)) };
}

/// The system allocator with per-thread accounting and a hard cap on single allocations.
pub struct BoundedAlloc;

fn note_alloc(size: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + size as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn note_free(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - size as isize));
}

fn refuse(size: usize) {
    let (target, seed, case) = CASE.try_with(Cell::get).unwrap_or(("", 0, 0));
    // Formatting integers into stderr does not allocate.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz {target}: an allocation of {size} bytes exceeds the {HARD_CAP_BYTES}-byte cap; \
         rerun with NNUNET_FUZZ_SEED={seed} NNUNET_FUZZ_CASE={case}"
    );
}

// SAFETY: every call forwards to `System` unchanged; the bookkeeping touches only thread-locals
// that never allocate (const-initialised `Cell`s).
unsafe impl GlobalAlloc for BoundedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP_BYTES {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        note_alloc(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_CAP_BYTES {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        note_alloc(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_CAP_BYTES {
            refuse(new_size);
            return std::ptr::null_mut();
        }
        note_free(layout.size());
        note_alloc(new_size);
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts measuring one execution on this thread; names it for the cap message.
pub(crate) fn begin_case(target: &'static str, seed: u64, case: u64) {
    let _ = CASE.try_with(|c| c.set((target, seed, case)));
    let live = LIVE.try_with(Cell::get).unwrap_or(0);
    let _ = PEAK.try_with(|peak| peak.set(live));
}

/// Bytes the execution started by [`begin_case`] held at its peak, beyond what was live before.
/// Zero when the binary does not install [`BoundedAlloc`].
pub(crate) fn case_peak(start_live: isize) -> usize {
    let peak = PEAK.try_with(Cell::get).unwrap_or(0);
    (peak - start_live).max(0) as usize
}

/// Bytes currently live on this thread by the allocator's count.
pub(crate) fn live_now() -> isize {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

/// Whether the running binary installed [`BoundedAlloc`] (allocations are being counted).
pub fn installed() -> bool {
    let before = live_now();
    let probe = std::hint::black_box(vec![0u8; 4096]);
    let counted = live_now() - before >= 4096;
    drop(probe);
    counted
}
