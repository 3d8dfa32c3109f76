//! glibc's malloc gives the top of the heap back to the kernel once more
//! than its trim threshold is free there (128 KiB by default), and raises
//! that threshold (with its mmap threshold, "dynamic mmap threshold") the
//! first time the process frees a block served by `mmap`. A stock asyncio
//! process gets there on its first `sock.recv(256 KiB)`; zloop reads through
//! a per-thread buffer and makes only exact-size objects, so its process
//! never did. A server echoing 100 KiB messages then shrank and regrew the
//! heap for nearly every message and paid a page fault for each page it
//! touched again: with the threshold raised, `--streams` 100 KiB went from
//! 135 to 58 µs of server CPU per round trip on this machine.

/// Settles glibc's thresholds once, as a large `recv` does in asyncio: one
/// 512 KiB block (above the default 128 KiB mmap threshold) is allocated and
/// freed, which makes glibc keep up to 1 MiB free at the heap top and serve
/// blocks up to 512 KiB from the heap. Elsewhere (another libc) nothing.
pub fn settle_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // black_box: the pair must not be optimised away.
            let block = std::hint::black_box(
                // SAFETY: a plain allocation, freed right after.
                unsafe { libc::malloc(512 * 1024) },
            );
            // SAFETY: block came from malloc (null is allowed by free).
            unsafe { libc::free(block) };
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn settling_the_thresholds_twice_is_harmless() {
        super::settle_malloc_thresholds();
        super::settle_malloc_thresholds();
        // The heap still serves allocations of the sizes it now keeps.
        let v = vec![1u8; 300 * 1024];
        assert_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), 300 * 1024);
    }
}
