//! A small size-class allocator for the pixel's wasm heap.
//!
//! Blocks are powers of two from 16 bytes up; a freed block goes on its
//! class's free list and is reused by the next allocation of that class.
//! Fresh blocks are cut from pages taken with `memory.grow`, aligned to
//! their size up to a page (so every `Layout` alignment up to that holds).
//! Memory is never returned, so the heap is bounded by the peak use of each
//! class: for the pixel's short strings and small queues that is a few
//! hundred KiB at most. It replaces dlmalloc (4.6 KB of wasm), about half
//! the whole size budget.
//!
//! Like `global.rs`, this relies on wasm32 without `atomics` being single
//! threaded.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32::memory_grow;
use core::cell::UnsafeCell;
use core::ptr::null_mut;

/// Classes 16 B (class 0) to 2 GiB.
const CLASSES: usize = 27;
const PAGE: usize = 65_536;

/// The allocator: free list heads per class, and the unused tail of the
/// last grown region.
pub struct Heap {
    free: UnsafeCell<[usize; CLASSES]>,
    next: UnsafeCell<usize>,
    end: UnsafeCell<usize>,
}

// SAFETY: single-threaded target (see `global.rs`).
unsafe impl Sync for Heap {}

impl Heap {
    /// An empty heap.
    pub const fn new() -> Self {
        Heap { free: UnsafeCell::new([0; CLASSES]), next: UnsafeCell::new(0), end: UnsafeCell::new(0) }
    }
}

/// The class of a layout: the smallest `16 << class` covering its size
/// and alignment.
fn class(l: &Layout) -> usize {
    let size = l.size().max(l.align()).max(16);
    (usize::BITS - (size - 1).leading_zeros()) as usize - 4
}

unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let c = class(&l);
        // SAFETY: single-threaded, and no reference outlives this call.
        let (free, next, end) = unsafe { (&mut *self.free.get(), &mut *self.next.get(), &mut *self.end.get()) };
        let Some(slot) = free.get_mut(c) else { return null_mut() };
        let head = *slot;
        if head != 0 {
            // SAFETY: a free block's first word holds the next free block.
            *slot = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 16usize << c;
        // Blocks up to a page are aligned to their size, bigger ones to a page.
        let align = size.min(PAGE);
        let mut p = (*next + align - 1) & !(align - 1);
        if *end == 0 || p + size > *end {
            let pages = size.div_ceil(PAGE);
            let old = memory_grow(0, pages);
            if old == usize::MAX {
                return null_mut();
            }
            let start = old * PAGE;
            if start != *end {
                // Someone else grew memory in between: start a new region.
                *next = start;
            }
            *end = start + pages * PAGE;
            p = (*next + align - 1) & !(align - 1);
            if p + size > *end {
                return null_mut();
            }
        }
        *next = p + size;
        p as *mut u8
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let c = class(&l);
        // SAFETY: `p` came from `alloc` with the same layout, so from class
        // `c`; single-threaded.
        unsafe {
            if let Some(head) = (*self.free.get()).get_mut(c) {
                *(p as *mut usize) = *head;
                *head = p as usize;
            }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: caller guarantees `l.align()` is valid with `new_size`.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        if class(&new) == class(&l) {
            return p;
        }
        // SAFETY: standard move to a new block; both blocks are valid for
        // the copied length.
        unsafe {
            let q = self.alloc(new);
            if !q.is_null() {
                core::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                self.dealloc(p, l);
            }
            q
        }
    }
}
