//! A per-thread cache of small heap blocks, for the threads that read and write batches.
//!
//! The module allocates through Redis (`RedisModule_Alloc`), so that `INFO memory` and `maxmemory`
//! count its memory. Each such call also updates Redis's memory counter, an atomic shared with the
//! main thread, and asks jemalloc for the block's size twice (once to allocate, once to free). A
//! read-ahead thread makes and frees some 70,000 small blocks per batch of 2,000 changes: in a
//! profile of a drain, allocation was a third of its time, and the shared counter slowed the main
//! thread too (bench/RESULTS.md §36).
//!
//! A thread that enables the cache keeps the small blocks it frees, by size class, and reuses them
//! for its next allocations of that class. The blocks stay allocated from Redis's point of view, so
//! the counters stay true: a cached block is memory the module holds. The cache is bounded
//! (`MAX_BYTES` per thread) and emptied when its thread goes idle or ends (`Caching`'s drop), so
//! it only holds memory while batches flow. Threads that did not enable it (the main thread among
//! them) allocate as before.
//!
//! The global allocator (`module/alloc.rs`) decides which layouts are cached (`class_of`) and
//! always allocates a block of such a layout with its class's full size, from the cache or not, so
//! that any cached block fits any layout of its class, whichever thread allocated it.
//!
//! It lives outside `module/`, the FFI edge that holds the crate's other `unsafe` code, because the
//! writer threads of `applier/` switch it on and off, and `applier/` does not depend on `module/`. It
//! has no Redis dependency: the `unsafe` here is about raw heap blocks only.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes above the first are multiples of this (also the alignment of their blocks).
pub const GRAIN: usize = 16;
/// The first class: blocks of this many bytes, aligned to it, for the smallest layouts.
pub const TINY: usize = 8;
/// Number of classes: blocks of 8 bytes, then of 16 to 512 bytes by steps of 16.
pub const CLASSES: usize = 33;
/// Most bytes one thread keeps cached; blocks freed beyond it go back to the allocator. A batch of
/// 2,000 five-field hashes (the default `read_batch_size`) frees about 0.9 MB of small blocks.
pub const MAX_BYTES: usize = 4 << 20;

/// The size class of a layout, if its blocks are cached: up to 8 bytes aligned to at most 8 (the
/// short strings of most records), or up to 512 bytes aligned to at most `GRAIN`.
pub fn class_of(layout: Layout) -> Option<usize> {
    let (size, align) = (layout.size(), layout.align());
    if size <= TINY && align <= TINY {
        return Some(0);
    }
    if align > GRAIN || size > GRAIN * (CLASSES - 1) {
        return None;
    }
    Some(size.div_ceil(GRAIN))
}

/// The size every block of `class` is allocated with.
pub const fn class_bytes(class: usize) -> usize {
    if class == 0 {
        TINY
    } else {
        class * GRAIN
    }
}

/// The alignment every block of `class` has.
const fn class_align(class: usize) -> usize {
    if class == 0 {
        TINY
    } else {
        GRAIN
    }
}

struct Cache {
    on: bool,
    bytes: usize,
    /// Per class, the first free block; each free block holds the address of the next.
    heads: [*mut u8; CLASSES],
}

thread_local! {
    // No destructor: the cache is emptied explicitly (`Caching`), so this is a plain thread-local
    // access, usable inside the global allocator at any point of a thread's life.
    static CACHE: UnsafeCell<Cache> = const {
        UnsafeCell::new(Cache {
            on: false,
            bytes: 0,
            heads: [ptr::null_mut(); CLASSES],
        })
    };
}

/// A cached block of `class` for this thread, if it caches and has one.
pub fn take(class: usize) -> Option<*mut u8> {
    CACHE.with(|c| {
        // SAFETY: the cache is only touched by its own thread, and never re-entered: nothing in
        // here allocates.
        let c = unsafe { &mut *c.get() };
        let head = *c.heads.get(class)?;
        if !c.on || head.is_null() {
            return None;
        }
        // SAFETY: `head` is a free block of this class (see `keep`), large and aligned enough for
        // a pointer; its first word is the next free block.
        let next = unsafe { head.cast::<*mut u8>().read() };
        c.heads[class] = next;
        c.bytes -= class_bytes(class);
        Some(head)
    })
}

/// Keeps a freed block of `class` if this thread caches and has room; `false` when the caller
/// must free it.
///
/// # Safety
/// `block` must be a block of at least `class_bytes(class)` bytes, aligned to `class_align(class)`, that nothing
/// uses any more and that the global allocator can free with a layout of that class.
pub unsafe fn keep(class: usize, block: *mut u8) -> bool {
    CACHE.with(|c| {
        // SAFETY: as in `take`.
        let c = unsafe { &mut *c.get() };
        if !c.on || class >= CLASSES || c.bytes + class_bytes(class) > MAX_BYTES {
            return false;
        }
        // SAFETY: the block is free and large enough for a pointer (guaranteed by the caller).
        unsafe { block.cast::<*mut u8>().write(c.heads[class]) };
        c.heads[class] = block;
        c.bytes += class_bytes(class);
        true
    })
}

/// Bytes this thread holds in its cache.
pub fn cached_bytes() -> usize {
    // SAFETY: as in `take`.
    CACHE.with(|c| unsafe { (*c.get()).bytes })
}

/// Frees every block this thread has cached (its cache stays enabled).
pub fn release() {
    let taken = CACHE.with(|c| {
        // SAFETY: as in `take`. The lists are detached and the cache switched off before any block
        // is freed, so that the frees below go to the allocator, not back into the cache.
        let c = unsafe { &mut *c.get() };
        let was_on = std::mem::replace(&mut c.on, false);
        c.bytes = 0;
        (
            was_on,
            std::mem::replace(&mut c.heads, [ptr::null_mut(); CLASSES]),
        )
    });
    let (was_on, heads) = taken;
    for (class, mut block) in heads.into_iter().enumerate() {
        let layout = class_layout(class);
        while !block.is_null() {
            // SAFETY: every cached block is a free block of this class (see `keep`), freed once.
            unsafe {
                let next = block.cast::<*mut u8>().read();
                std::alloc::dealloc(block, layout);
                block = next;
            }
        }
    }
    CACHE.with(|c| {
        // SAFETY: as in `take`.
        unsafe { (*c.get()).on = was_on };
    });
}

/// The layout a block of `class` is freed with.
fn class_layout(class: usize) -> Layout {
    // A multiple of a power of two with that alignment is always a valid layout.
    Layout::from_size_align(class_bytes(class), class_align(class)).unwrap_or(Layout::new::<u64>())
}

/// This thread caches small blocks until the value is dropped, which frees what is cached.
pub struct Caching {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Enables the cache on this thread (see the module's documentation).
pub fn enable() -> Caching {
    CACHE.with(|c| {
        // SAFETY: as in `take`.
        unsafe { (*c.get()).on = true };
    });
    Caching {
        _not_send: std::marker::PhantomData,
    }
}

impl Drop for Caching {
    fn drop(&mut self) {
        release();
        CACHE.with(|c| {
            // SAFETY: as in `take`.
            unsafe { (*c.get()).on = false };
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a thread of its own, whose cache starts empty and disabled.
    fn on_a_new_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    fn block(class: usize) -> *mut u8 {
        // SAFETY: a non-zero size.
        let p = unsafe { std::alloc::alloc(class_layout(class)) };
        assert!(!p.is_null());
        p
    }

    #[test]
    fn classes_cover_1_to_512_bytes_aligned_to_at_most_16() {
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class_of(l(1, 1)), Some(0));
        assert_eq!(class_of(l(8, 8)), Some(0));
        assert_eq!(class_of(l(8, 16)), Some(1));
        assert_eq!(class_of(l(9, 1)), Some(1));
        assert_eq!(class_of(l(16, 16)), Some(1));
        assert_eq!(class_of(l(17, 8)), Some(2));
        assert_eq!(class_of(l(512, 8)), Some(32));
        assert_eq!(class_of(l(513, 8)), None);
        assert_eq!(class_of(l(64, 32)), None);
        for size in 1..=512 {
            for align in [1, 2, 4, 8, 16] {
                let c = class_of(l(size, align)).unwrap();
                assert!(class_bytes(c) >= size && class_bytes(c) < size + GRAIN);
                assert!(class_align(c) >= align && class_bytes(c).is_multiple_of(class_align(c)));
            }
        }
    }

    #[test]
    fn a_thread_that_does_not_cache_keeps_nothing() {
        on_a_new_thread(|| {
            let p = block(3);
            // SAFETY: `p` is a free block of class 3.
            assert!(!unsafe { keep(3, p) });
            assert_eq!(take(3), None);
            // SAFETY: not kept, so still ours to free.
            unsafe { std::alloc::dealloc(p, class_layout(3)) };
        });
    }

    #[test]
    fn a_caching_thread_reuses_its_blocks_last_in_first_out_per_class() {
        on_a_new_thread(|| {
            let _caching = enable();
            let (a, b, c) = (block(2), block(2), block(5));
            // SAFETY: free blocks of their classes.
            unsafe {
                assert!(keep(2, a));
                assert!(keep(2, b));
                assert!(keep(5, c));
            }
            assert_eq!(cached_bytes(), 2 * 32 + 80);
            assert_eq!(take(2), Some(b));
            assert_eq!(take(2), Some(a));
            assert_eq!(take(2), None);
            assert_eq!(take(4), None);
            assert_eq!(cached_bytes(), 80);
            // SAFETY: taken back, so ours to free.
            unsafe {
                std::alloc::dealloc(a, class_layout(2));
                std::alloc::dealloc(b, class_layout(2));
            }
            // `c` is freed when `_caching` drops.
        });
    }

    #[test]
    fn the_cache_stops_at_its_bound_and_empties_on_release_and_when_disabled() {
        on_a_new_thread(|| {
            let caching = enable();
            let class = CLASSES - 1;
            let fits = MAX_BYTES / class_bytes(class);
            let mut kept = 0;
            loop {
                let p = block(class);
                // SAFETY: a free block of its class.
                if !unsafe { keep(class, p) } {
                    // SAFETY: not kept, so still ours to free.
                    unsafe { std::alloc::dealloc(p, class_layout(class)) };
                    break;
                }
                kept += 1;
            }
            assert_eq!(kept, fits);
            assert_eq!(cached_bytes(), fits * class_bytes(class));
            release();
            assert_eq!(cached_bytes(), 0);
            assert_eq!(take(class), None);
            // Still enabled after a release.
            let p = block(1);
            // SAFETY: a free block of class 1.
            assert!(unsafe { keep(1, p) });
            drop(caching);
            assert_eq!(cached_bytes(), 0);
            let q = block(1);
            // SAFETY: a free block of class 1.
            assert!(!unsafe { keep(1, q) });
            // SAFETY: not kept.
            unsafe { std::alloc::dealloc(q, class_layout(1)) };
        });
    }
}
