//! The module's global allocator: Redis's allocator (so that `INFO memory` and `maxmemory` see the
//! module's memory), like `redis_module::alloc::RedisAlloc`, plus a real `realloc`, and a cache of
//! small blocks on the threads that read and write batches (`thread_cache`).
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

use crate::thread_cache;

/// Redis's allocator with an in-place-capable `realloc`.
pub struct ModuleAlloc;

fn rounded(size: usize, align: usize) -> usize {
    (size + align - 1) & !(align - 1)
}

/// The size to ask Redis for a layout of `class` (its `thread_cache::class_of`): a cached layout's
/// whole class, otherwise the size rounded to the alignment.
fn request(layout: Layout, class: Option<usize>) -> usize {
    match class {
        Some(class) => thread_cache::class_bytes(class),
        None => rounded(layout.size(), layout.align()),
    }
}

// SAFETY: every block comes from RedisModule_Alloc/Calloc/Realloc (directly or through the thread's
// cache of such blocks, `thread_cache`) and goes back to RedisModule_Free or RedisModule_Realloc, or
// to the cache; sizes are rounded to the alignment as explained above, so the addresses meet the
// layout's alignment (a cached block has its class's size and alignment, and is only given to
// layouts of its class, which need no more); when the API is missing (never after the module
// loaded) allocation returns null, which Rust reports as an allocation failure.
unsafe impl GlobalAlloc for ModuleAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let class = thread_cache::class_of(layout);
        if let Some(block) = class.and_then(thread_cache::take) {
            return block;
        }
        // SAFETY: the API table is filled when the module loads and only read afterwards.
        match unsafe { raw::RedisModule_Alloc } {
            // SAFETY: a plain allocation of a non-zero size (GlobalAlloc never asks for zero).
            Some(alloc) => unsafe { alloc(request(layout, class)) }.cast(),
            None => std::ptr::null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let class = thread_cache::class_of(layout);
        if let Some(block) = class.and_then(thread_cache::take) {
            // SAFETY: the block has at least `layout.size()` bytes (its class's size).
            unsafe { block.write_bytes(0, layout.size()) };
            return block;
        }
        // SAFETY: as in `alloc`.
        match unsafe { raw::RedisModule_Calloc } {
            // SAFETY: one zeroed element of the requested size.
            Some(calloc) => unsafe { calloc(1, request(layout, class)) }.cast(),
            None => std::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(class) = thread_cache::class_of(layout) {
            // SAFETY: a block of this layout was allocated with its class's whole size (`request`,
            // `realloc`) and is no longer used (GlobalAlloc's contract).
            if unsafe { thread_cache::keep(class, ptr) } {
                return;
            }
        }
        // SAFETY: as in `alloc`.
        if let Some(free) = unsafe { raw::RedisModule_Free } {
            // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract).
            unsafe { free(ptr.cast::<c_void>()) };
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align(new_size, layout.align()).unwrap_or(layout);
        let class = thread_cache::class_of(new);
        if class.is_some() && class == thread_cache::class_of(layout) {
            // The block already has its class's whole size.
            return ptr;
        }
        // SAFETY: as in `alloc`.
        match unsafe { raw::RedisModule_Realloc } {
            // SAFETY: `ptr` came from this allocator with `layout` (GlobalAlloc's contract); on
            // failure Redis's allocator aborts the server (out of memory), as for every allocation.
            Some(realloc) => unsafe { realloc(ptr.cast::<c_void>(), request(new, class)) }.cast(),
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
