//! One setting of glibc's allocator, made before any thread starts.
//!
//! glibc serves blocks of 128 KiB and more with their own `mmap`, and gives them back to the
//! system when freed. But each time such a block is freed it raises that threshold to the
//! block's size (up to 32 MiB), so that later large blocks (sort buffers, automata, regex
//! caches built mid-hunt) come from the heap instead, where the small blocks living around
//! them keep the heap from shrinking once they are freed. Fixing the threshold keeps large
//! blocks out of the heap: on the 1 GB collection of the bench it lowers peak memory by 2 to
//! 4 MiB, with the same speed (see README, "Speed and memory"). Other allocators are left
//! as they are.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn fix_mmap_threshold() {
    unsafe extern "C" {
        /// glibc's `int mallopt(int param, int value)`.
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
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

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fix_mmap_threshold() {}
