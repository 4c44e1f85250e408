//! Two requests to glibc's allocator, which holds on to memory a hunt no longer uses.
//!
//! First, made before any thread starts: a fixed mmap threshold.
//! glibc serves blocks of 128 KiB and more with their own `mmap`, and gives them back to the
//! system when freed. But each time such a block is freed it raises that threshold to the
//! block's size (up to 32 MiB), so that later large blocks (sort buffers, automata, regex
//! caches built mid-hunt) come from the heap instead, where the small blocks living around
//! them keep the heap from shrinking once they are freed. Fixing the threshold keeps large
//! blocks out of the heap: on the 1 GB collection of the bench it lowers peak memory by 2 to
//! 4 MiB, with the same speed (see README, "Speed and memory").
//!
//! Second, made once the rules are compiled: give back the free pages. Reading and compiling
//! ~2,500 rules frees about 15 MB of parse trees and other scratch, interleaved with the
//! compiled rules that stay, so the heap cannot shrink from its top; `malloc_trim` returns
//! the whole free pages in its middle too (about 3.5 MB of them; the rest are partly used).
//! The hunt's allocations reuse that space as they need it, and peak memory falls by about
//! 1 MiB, the pages they never need.
//!
//! Other allocators are left as they are.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    /// glibc's `int mallopt(int param, int value)`.
    fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    /// glibc's `int malloc_trim(size_t pad)`.
    fn malloc_trim(pad: usize) -> std::ffi::c_int;
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn fix_mmap_threshold() {
    /// `M_MMAP_THRESHOLD` in glibc's `malloc.h`.
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    /// glibc's default, now fixed.
    const THRESHOLD: std::ffi::c_int = 128 * 1024;
    // SAFETY: `mallopt` only changes a parameter of the allocator; it is called at the start
    // of `main`, before any other thread exists. A failure (return value 0) leaves the
    // default, which is correct, only larger.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, THRESHOLD);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: `malloc_trim` takes the allocator's locks itself and only returns free pages
    // to the system; it is safe to call at any time from any thread.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fix_mmap_threshold() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}
