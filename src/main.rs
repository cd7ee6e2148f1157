//! The `egresswatch` binary: everything lives in the library; this only hands over the exit code
//! so that errors map to 0 / 1 / 2 in one place (`cli::main`), after tuning the allocator.

fn main() -> std::process::ExitCode {
    tune_allocator();
    egresswatch::cli::main()
}

/// glibc raises its mmap threshold (up to 32 MiB) as large blocks are freed, so the hash tables
/// a trail scan grows and drops (tens of MB each, hundreds of thousands of callers) end up in
/// the heap, whose holes stay resident. A fixed 1 MiB threshold gives such blocks back when
/// they are freed: on a 338,000-caller day, peak RSS 227 -> 173 MB at the same speed
/// (scripts/bench-callers.sh).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets a parameter of the C allocator; it runs first, before any
    // thread exists. Its result (0 on failure) changes nothing we rely on.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
