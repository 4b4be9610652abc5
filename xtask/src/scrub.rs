//! Zeroes the panic-message data the pixel's wasm can never read, so that
//! wasm-opt's memory packing drops it.
//!
//! The pixel is `no_std` with a panic handler that ignores its argument
//! (a panic is a bare trap), so the standard library's panic messages,
//! their source paths (`/rustc/<commit>/library/...rs`, kept for panic
//! locations) and `core::fmt`'s digit table (only used to format those
//! messages) are dead bytes. Stable Rust cannot leave them out
//! (`panic_immediate_abort` needs a nightly `build-std`), and the linker
//! keeps them because the (never taken) panic paths still point at them.
//! They are ~400 bytes of the data segment and, being high-entropy
//! (a commit hash, digit pairs), ~300 bytes of the gzipped pixel.
//!
//! Only bytes inside the data section are touched, and only these exact
//! patterns; the pixel's own strings never match them.
use anyhow::{bail, Result};

/// Literal byte strings scrubbed wherever they occur in the data section.
const LITERALS: &[&[u8]] = &[b"memory allocation of ", b" bytes failed", b"capacity overflow"];

/// `core::fmt`'s two-digit table, "00" to "99".
fn digit_table() -> Vec<u8> {
    (0..100u8).flat_map(|i| [b'0' + i / 10, b'0' + i % 10]).collect()
}

/// Reads an unsigned LEB128 at `*at`.
fn leb(bytes: &[u8], at: &mut usize) -> Result<usize> {
    let mut value = 0usize;
    for shift in (0..35).step_by(7) {
        let Some(&b) = bytes.get(*at) else { bail!("truncated LEB128 at byte {}", *at) };
        *at += 1;
        value |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("LEB128 too long at byte {}", *at)
}

/// The byte range of the data section (id 11).
fn data_section(wasm: &[u8]) -> Result<std::ops::Range<usize>> {
    if wasm.get(..4) != Some(b"\0asm") {
        bail!("not a wasm module");
    }
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = leb(wasm, &mut at)?;
        let end = at.checked_add(size).filter(|&e| e <= wasm.len());
        let Some(end) = end else { bail!("section {id} runs past the end") };
        if id == 11 {
            return Ok(at..end);
        }
        at = end;
    }
    bail!("no data section")
}

/// Where a `/rustc/<40 hex>/library/<path>.rs` source path starts at `i`,
/// its length.
fn rustc_path_at(data: &[u8], i: usize) -> Option<usize> {
    let rest = data.get(i..)?;
    let hash = rest.strip_prefix(b"/rustc/")?;
    if hash.len() < 40 || !hash[..40].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let path = hash[40..].strip_prefix(b"/library/")?;
    let run = path.iter().take_while(|&&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_/.".contains(&b)).count();
    // Up to the first ".rs": the next string may follow without a gap.
    let len = (3..=run).find(|&n| path[..n].ends_with(b".rs"))?;
    Some(7 + 40 + 9 + len)
}

/// Zeroes the panic-message data in `wasm`'s data section; returns how
/// many bytes.
pub fn panic_data(wasm: &mut [u8]) -> Result<usize> {
    let range = data_section(wasm)?;
    let data = &mut wasm[range];
    let table = digit_table();
    let mut zeroed = 0;
    let mut i = 0;
    while i < data.len() {
        let len = rustc_path_at(data, i)
            .or_else(|| LITERALS.iter().chain([&table.as_slice()]).find(|p| data[i..].starts_with(p)).map(|p| p.len()));
        match len {
            Some(n) => {
                data[i..i + n].fill(0);
                zeroed += n;
                i += n;
            }
            None => i += 1,
        }
    }
    Ok(zeroed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A module with a type section and a data section holding `data`.
    fn module(data: &[u8]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 1, 0]); // a 1-byte type section (not a real one; never parsed)
        m.push(11);
        let mut n = data.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            m.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        m.extend(data);
        m
    }

    #[test]
    fn scrubs_paths_messages_and_the_digit_table_only_in_data() {
        let hash = "59807616e1fa2540724bfbac14d7976d7e4a3860";
        let mut data = format!("page_view/rustc/{hash}/library/alloc/src/raw_vec/mod.rs").into_bytes();
        data.extend(b"capacity overflow");
        data.extend(b"ktra_vid");
        let mut wasm = module(&data);
        let n = panic_data(&mut wasm).unwrap();
        assert_eq!(n, data.len() - "page_view".len() - "ktra_vid".len());
        let out = &wasm[wasm.len() - data.len()..];
        assert!(out.starts_with(b"page_view\0"));
        assert!(out.ends_with(b"\0ktra_vid"));
        assert_eq!(&wasm[..11], &module(&data)[..11], "header and other sections untouched");
    }

    #[test]
    fn digit_table_and_lookalikes() {
        let table = digit_table();
        assert_eq!(&table[..6], b"000102");
        assert_eq!(&table[194..], b"979899");
        let mut data = b"/rustc/not-a-hash/library/x.rs".to_vec();
        data.extend(&table);
        let mut wasm = module(&data);
        assert_eq!(panic_data(&mut wasm).unwrap(), 200, "only the table: the path has no commit hash");
    }

    #[test]
    fn refuses_what_is_not_a_module() {
        assert!(panic_data(&mut b"nope".to_vec()).is_err());
        assert!(panic_data(&mut b"\0asm\x01\0\0\0".to_vec()).is_err(), "no data section");
    }
}
