//! The module's global allocator: Redis's allocator (so that `INFO memory` and `maxmemory` see the
//! module's memory), like `redis_module::alloc::RedisAlloc`, plus a real `realloc`.
//!
//! `RedisAlloc` leaves `realloc` to the default of `GlobalAlloc`: allocate, copy, free. Every growing
//! `Vec`, `String` or buffer then copies itself at each doubling, where jemalloc often grows in place;
//! a profile of a writer thread showed `memmove` at about a third of its CPU (bench/RESULTS.md).
//!
//! Alignment is obtained as `RedisAlloc` does: the size is rounded up to a multiple of the alignment,
//! and jemalloc's size classes then give an address aligned to it (regions of a size class are laid
//! out at multiples of their size from an aligned start). A resized block keeps that property: its
//! new size is rounded the same way.

use std::alloc::{GlobalAlloc, Layout};
use std::os::raw::c_void;

use redis_module::raw;

/// Redis's allocator with an in-place-capable `realloc`.
pub struct ModuleAlloc;

fn rounded(size: usize, align: usize) -> usize {
    (size + align - 1) & !(align - 1)
}

// SAFETY: every block comes from RedisModule_Alloc/Calloc/Realloc and goes back to RedisModule_Free
// or RedisModule_Realloc; sizes are rounded to the alignment as explained above, so the addresses
// meet the layout's alignment; when the API is missing (never after the module loaded) allocation
// returns null, which Rust reports as an allocation failure.
unsafe impl GlobalAlloc for ModuleAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the API table is filled when the module loads and only read afterwards.
        match unsafe { raw::RedisModule_Alloc } {
            // SAFETY: a plain allocation of a non-zero size (GlobalAlloc never asks for zero).
            Some(alloc) => unsafe { alloc(rounded(layout.size(), layout.align())) }.cast(),
            None => std::ptr::null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        match unsafe { raw::RedisModule_Calloc } {
            // SAFETY: one zeroed element of the rounded size.
            Some(calloc) => unsafe { calloc(1, rounded(layout.size(), layout.align())) }.cast(),
            None => std::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: as in `alloc`.
        if let Some(free) = unsafe { raw::RedisModule_Free } {
            // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract).
            unsafe { free(ptr.cast::<c_void>()) };
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `alloc`.
        match unsafe { raw::RedisModule_Realloc } {
            // SAFETY: `ptr` came from this allocator with `layout` (GlobalAlloc's contract); on
            // failure Redis's allocator aborts the server (out of memory), as for every allocation.
            Some(realloc) => {
                unsafe { realloc(ptr.cast::<c_void>(), rounded(new_size, layout.align())) }.cast()
            }
            None => std::ptr::null_mut(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rounded;

    #[test]
    fn sizes_round_up_to_the_alignment() {
        assert_eq!(rounded(1, 8), 8);
        assert_eq!(rounded(24, 8), 24);
        assert_eq!(rounded(40, 32), 64);
        assert_eq!(rounded(4096, 4096), 4096);
    }
}
