//! LZ4 *block* decompression between segmented (scatter/gather) buffers.
//!
//! [`decompress_block`] decodes one raw LZ4 block — the block format, not the frame format: no magic
//! number, no frame header, no checksums, no block-size prefix. The caller must know where the block
//! ends (the end of the input *is* the end of the block) and how much room the decompressed data may
//! take (the total length of the output segments).
//!
//! A block is a series of sequences. Each sequence is a token byte (high nibble: literal length, low
//! nibble: match length − 4), extra literal-length bytes when the nibble is 15 (each adds its value, a
//! byte of 255 means another byte follows), the literals, a 2-byte little-endian match offset, and extra
//! match-length bytes when the low nibble is 15. The last sequence stops after its literals: the block
//! ends exactly when the input ends there. A match copies from `offset` bytes back in the output and
//! may overlap the bytes it is writing (offset < length), which repeats them as a byte-by-byte copy
//! would.
//!
//! # Why segmented
//!
//! Firmware rarely has one contiguous buffer of the right size: the compressed block typically arrives
//! in several receive/DMA buffers or ring slots, and the decompressed data goes into fixed-size pages or
//! buffer-pool entries. Without an allocator, gluing them together would need a staging buffer as large
//! as the data. So the input is a list of read-only segments read in order, and the output a list of
//! writable segments filled in order; any segment may have any length, including 0, and literals,
//! offsets, length bytes and match copies may straddle segment boundaries. Back-references read from
//! the output already written, in whichever segment it is.
//!
//! When there is exactly one input segment and one output segment, a fast path works directly on the
//! two slices. Both paths give the same result for every input.
//!
//! # Error mapping
//!
//! Errors are reported as the decoder meets them while parsing front to back, so a block with several
//! defects reports the first one. Within a sequence the order is: token and literal length
//! (`Truncated`, `Corrupt`), literals (`Truncated`, then `OutputFull`), offset (`Truncated`, then
//! `Corrupt`), match length (`Truncated`, `Corrupt`), match copy (`OutputFull`).
//!
//! | Condition | Error |
//! | --- | --- |
//! | the input has 0 bytes in total (no segments, or only empty ones) | [`Lz4Error::Truncated`] |
//! | the input ends before a token, inside the extra literal-length bytes, inside the literals, inside the 2-byte offset, or inside the extra match-length bytes | [`Lz4Error::Truncated`] |
//! | the input ends right after a match, so the block has no final literals-only sequence | [`Lz4Error::Truncated`] |
//! | a literal or match length whose value does not fit in `usize` | [`Lz4Error::Corrupt`] |
//! | the literals do not fit in the rest of the output (checked *after* the input was found to hold them all, so a block that is both truncated and too large reports `Truncated`) | [`Lz4Error::OutputFull`] |
//! | a match offset of 0 | [`Lz4Error::Corrupt`] |
//! | a match offset greater than the number of bytes decompressed so far (checked as soon as the offset is read, before the extra match-length bytes) | [`Lz4Error::Corrupt`] |
//! | a match longer than the rest of the output (any length that fits in `usize`, however absurd) | [`Lz4Error::OutputFull`] |
//!
//! Anything after the final literals cannot be told apart from a longer block, so there is no
//! "trailing data" error: the decoder stops exactly at the end of the input. The end-of-block rules that
//! LZ4 *encoders* follow (the last 5 bytes are literals, the last match starts at least 12 bytes before
//! the end) are not enforced; a block that breaks them but is otherwise well formed decodes normally.
//!
//! On error the output segments may hold partially decompressed data (never beyond the bytes the block
//! describes up to the failing sequence); nothing outside the output segments is ever written.
//!
//! # Guarantees
//!
//! No `unsafe`, no allocation, no recursion, a small fixed amount of stack, and no panic for any input
//! or segment layout. The running time is linear in the input length plus the output length plus the
//! number of segments crossed; in the segmented path each match additionally walks back over the output
//! segments covering its offset (at most 65 535 bytes back), so layouts of very many tiny segments are
//! slower, never wrong.

/// Minimum length of a match; the token's low nibble stores the match length minus this.
const MIN_MATCH: usize = 4;

/// Why a block could not be decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lz4Error {
    /// The input ends in the middle of a sequence (truncated block).
    Truncated,
    /// The input is not a valid LZ4 block: a match offset of 0, or one reaching before the start of the output, or a malformed length.
    Corrupt,
    /// The decompressed data does not fit in the output.
    OutputFull,
}

/// Decompress one LZ4 block. `input` is the compressed block split over any number of segments (concatenated in order);
/// `output` is where the decompressed bytes go, also split over segments (filled in order).
/// Returns the number of decompressed bytes written.
///
/// The decompressed bytes fill the output segments in order from the start of the first one; bytes
/// past the returned count are left untouched. See the [module docs](self) for which malformed inputs
/// give which [`Lz4Error`].
///
/// # Errors
///
/// [`Lz4Error::Truncated`] if the input ends inside a sequence (or is empty), [`Lz4Error::Corrupt`] for
/// a bad match offset or an overflowing length, [`Lz4Error::OutputFull`] if the decompressed data does
/// not fit in the output segments.
pub fn decompress_block(input: &[&[u8]], output: &mut [&mut [u8]]) -> Result<usize, Lz4Error> {
    match (input, output) {
        ([src], [dst]) => decompress_flat(src, dst),
        (input, output) => decompress_segmented(input, output),
    }
}

// ---------------------------------------------------------------------------------------------------
// Fast path: one contiguous input slice, one contiguous output slice.
// ---------------------------------------------------------------------------------------------------

/// Decompresses `src` into `dst` with plain index arithmetic. Invariants: `ip <= src.len()` and
/// `op <= dst.len()` at all times, so none of the additions below can overflow.
fn decompress_flat(src: &[u8], dst: &mut [u8]) -> Result<usize, Lz4Error> {
    if src.is_empty() {
        return Err(Lz4Error::Truncated);
    }
    let mut ip = 0usize;
    let mut op = 0usize;
    loop {
        let token = *src.get(ip).ok_or(Lz4Error::Truncated)?;
        ip += 1;

        let lit_len = flat_len(src, &mut ip, usize::from(token >> 4))?;
        let lits = src.get(ip..).and_then(|rest| rest.get(..lit_len)).ok_or(Lz4Error::Truncated)?;
        let out = dst.get_mut(op..).and_then(|rest| rest.get_mut(..lit_len)).ok_or(Lz4Error::OutputFull)?;
        out.copy_from_slice(lits);
        ip += lit_len;
        op += lit_len;
        if ip >= src.len() {
            return Ok(op);
        }

        let offset = src.get(ip..).and_then(|rest| rest.first_chunk::<2>()).ok_or(Lz4Error::Truncated)?;
        let offset = usize::from(u16::from_le_bytes(*offset));
        ip += 2;
        if offset == 0 || offset > op {
            return Err(Lz4Error::Corrupt);
        }

        let match_len =
            flat_len(src, &mut ip, usize::from(token & 0x0F))?.checked_add(MIN_MATCH).ok_or(Lz4Error::Corrupt)?;
        if match_len > dst.len().saturating_sub(op) {
            return Err(Lz4Error::OutputFull);
        }
        // Unreachable failure (bounds were checked above); reported rather than panicking.
        flat_match(dst, op, offset, match_len).ok_or(Lz4Error::Corrupt)?;
        op += match_len;
    }
}

/// Reads the rest of a length whose token nibble is `nibble` (extra bytes only when it is 15).
fn flat_len(src: &[u8], ip: &mut usize, nibble: usize) -> Result<usize, Lz4Error> {
    let mut len = nibble;
    if nibble == 15 {
        loop {
            let byte = *src.get(*ip).ok_or(Lz4Error::Truncated)?;
            *ip += 1;
            len = len.checked_add(usize::from(byte)).ok_or(Lz4Error::Corrupt)?;
            if byte != 255 {
                break;
            }
        }
    }
    Ok(len)
}

/// Copies `len` bytes from `offset` bytes back to `dst[op..]` with byte-by-byte (overlapping) semantics.
///
/// The copy runs in chunks that never overlap: the source always starts at `op - offset` and the
/// distance from it to the write position doubles each round, staying a multiple of `offset`, so the
/// already-written region is periodic with that distance and copying it forward is exact.
fn flat_match(dst: &mut [u8], op: usize, offset: usize, len: usize) -> Option<()> {
    let start = op.checked_sub(offset)?;
    let mut pos = op;
    let mut left = len;
    while left > 0 {
        let chunk = left.min(pos - start);
        let (done, rest) = dst.split_at_mut_checked(pos)?;
        rest.get_mut(..chunk)?.copy_from_slice(done.get(start..start + chunk)?);
        pos += chunk;
        left -= chunk;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------------
// Segmented path.
// ---------------------------------------------------------------------------------------------------

/// Read position in the segmented input.
struct Reader<'a, 'b> {
    /// All input segments.
    segs: &'a [&'b [u8]],
    /// Index of the current segment (`segs.len()` once exhausted).
    seg: usize,
    /// Offset in the current segment.
    pos: usize,
}

impl<'b> Reader<'_, 'b> {
    /// The unread rest of the current segment, moving past exhausted and empty segments first.
    /// Empty only at the end of the input.
    fn chunk(&mut self) -> &'b [u8] {
        while let Some(seg) = self.segs.get(self.seg) {
            match seg.get(self.pos..) {
                Some(rest) if !rest.is_empty() => return rest,
                _ => {
                    self.seg += 1;
                    self.pos = 0;
                }
            }
        }
        &[]
    }

    /// Consumes `n` bytes of the slice last returned by [`Reader::chunk`] (`n` is at most its length).
    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n);
    }

    /// Reads one byte.
    fn byte(&mut self) -> Result<u8, Lz4Error> {
        let byte = *self.chunk().first().ok_or(Lz4Error::Truncated)?;
        self.advance(1);
        Ok(byte)
    }

    /// Whether the whole input has been read.
    fn at_end(&mut self) -> bool {
        self.chunk().is_empty()
    }

    /// Whether at least `n` more bytes remain. Walks only the segments those bytes span (the same ones
    /// the literal copy then walks), so it adds no more than a constant factor.
    fn has(&self, n: usize) -> bool {
        let mut need = n;
        let mut pos = self.pos;
        for seg in self.segs.get(self.seg..).unwrap_or_default() {
            let avail = seg.len().saturating_sub(pos);
            if avail >= need {
                return true;
            }
            need -= avail;
            pos = 0;
        }
        need == 0
    }

    /// Reads the rest of a length whose token nibble is `nibble` (extra bytes only when it is 15).
    fn length(&mut self, nibble: u8) -> Result<usize, Lz4Error> {
        let mut len = usize::from(nibble);
        if nibble == 15 {
            loop {
                let byte = self.byte()?;
                len = len.checked_add(usize::from(byte)).ok_or(Lz4Error::Corrupt)?;
                if byte != 255 {
                    break;
                }
            }
        }
        Ok(len)
    }
}

/// A position in the segmented output: segment index and offset in that segment. Several positions
/// name the same logical byte (the end of one segment, the start of the next non-empty one);
/// [`skip_full`] moves to the last of them.
#[derive(Clone, Copy)]
struct Pos {
    /// Segment index (`out.len()` past the end of the output).
    seg: usize,
    /// Offset in the segment.
    pos: usize,
}

/// Moves `p` past full and empty segments so it names a writable byte, if there is one.
fn skip_full(out: &[&mut [u8]], p: &mut Pos) {
    while let Some(seg) = out.get(p.seg) {
        if p.pos < seg.len() {
            return;
        }
        p.seg += 1;
        p.pos = 0;
    }
}

/// The position `back` bytes before `p` (`back >= 1`), or `None` if that is before the start.
fn step_back(out: &[&mut [u8]], p: Pos, mut back: usize) -> Option<Pos> {
    let mut seg = p.seg;
    let mut pos = p.pos;
    while back > pos {
        back -= pos;
        seg = seg.checked_sub(1)?;
        pos = out.get(seg)?.len();
    }
    Some(Pos { seg, pos: pos - back })
}

/// Copies `n` literal bytes from the input to the output at `w`. The caller has checked that both the
/// input and the output have room; the errors are only a safety net.
fn seg_literals(inp: &mut Reader<'_, '_>, out: &mut [&mut [u8]], w: &mut Pos, mut n: usize) -> Result<(), Lz4Error> {
    while n > 0 {
        let src = inp.chunk();
        if src.is_empty() {
            return Err(Lz4Error::Truncated);
        }
        skip_full(out, w);
        let dst = out.get_mut(w.seg).and_then(|seg| seg.get_mut(w.pos..)).ok_or(Lz4Error::OutputFull)?;
        let chunk = n.min(src.len()).min(dst.len());
        match (dst.get_mut(..chunk), src.get(..chunk)) {
            (Some(dst), Some(src)) if chunk > 0 => dst.copy_from_slice(src),
            _ => return Err(Lz4Error::OutputFull),
        }
        inp.advance(chunk);
        w.pos += chunk;
        n -= chunk;
    }
    Ok(())
}

/// Copies `n` bytes from `s` to `d`, where `s` lies at least `n` bytes before `d`, so the source and
/// destination ranges do not overlap. Advances `d`.
fn seg_copy(out: &mut [&mut [u8]], mut s: Pos, d: &mut Pos, mut n: usize) -> Option<()> {
    while n > 0 {
        skip_full(out, &mut s);
        skip_full(out, d);
        let chunk = if s.seg == d.seg {
            // Same segment: the source ends at or before the destination start.
            let (done, rest) = out.get_mut(d.seg)?.split_at_mut_checked(d.pos)?;
            let src = done.get(s.pos..)?;
            let chunk = n.min(src.len()).min(rest.len());
            rest.get_mut(..chunk)?.copy_from_slice(src.get(..chunk)?);
            chunk
        } else {
            // The source is in an earlier segment.
            let (before, after) = out.split_at_mut_checked(d.seg)?;
            let src = before.get(s.seg)?.get(s.pos..)?;
            let dst = after.first_mut()?.get_mut(d.pos..)?;
            let chunk = n.min(src.len()).min(dst.len());
            dst.get_mut(..chunk)?.copy_from_slice(src.get(..chunk)?);
            chunk
        };
        if chunk == 0 {
            return None;
        }
        s.pos += chunk;
        d.pos += chunk;
        n -= chunk;
    }
    Some(())
}

/// Copies a match of `len` bytes from `offset` bytes before `w` (`1 <= offset <=` bytes written),
/// with the same doubling scheme as [`flat_match`].
fn seg_match(out: &mut [&mut [u8]], w: &mut Pos, offset: usize, len: usize) -> Option<()> {
    let start = step_back(out, *w, offset)?;
    let mut dist = offset;
    let mut left = len;
    while left > 0 {
        let chunk = left.min(dist);
        seg_copy(out, start, w, chunk)?;
        left -= chunk;
        dist = dist.saturating_add(chunk);
    }
    Some(())
}

/// Decompresses from any number of input segments into any number of output segments.
fn decompress_segmented(input: &[&[u8]], output: &mut [&mut [u8]]) -> Result<usize, Lz4Error> {
    let mut inp = Reader { segs: input, seg: 0, pos: 0 };
    if inp.at_end() {
        return Err(Lz4Error::Truncated);
    }
    // The output segments are disjoint `&mut` slices, so their total length fits in `usize`; saturating
    // only guards against the impossible.
    let cap = output.iter().fold(0usize, |sum, seg| sum.saturating_add(seg.len()));
    let mut w = Pos { seg: 0, pos: 0 };
    let mut written = 0usize;
    loop {
        let token = inp.byte()?;

        let lit_len = inp.length(token >> 4)?;
        if !inp.has(lit_len) {
            return Err(Lz4Error::Truncated);
        }
        if lit_len > cap.saturating_sub(written) {
            return Err(Lz4Error::OutputFull);
        }
        seg_literals(&mut inp, output, &mut w, lit_len)?;
        written += lit_len;
        if inp.at_end() {
            return Ok(written);
        }

        let lo = inp.byte()?;
        let hi = inp.byte()?;
        let offset = usize::from(u16::from_le_bytes([lo, hi]));
        if offset == 0 || offset > written {
            return Err(Lz4Error::Corrupt);
        }

        let match_len = inp.length(token & 0x0F)?.checked_add(MIN_MATCH).ok_or(Lz4Error::Corrupt)?;
        if match_len > cap.saturating_sub(written) {
            return Err(Lz4Error::OutputFull);
        }
        // Unreachable failure (bounds were checked above); reported rather than panicking.
        seg_match(output, &mut w, offset, match_len).ok_or(Lz4Error::Corrupt)?;
        written += match_len;
    }
}

#[cfg(test)]
mod tests {
    /// Test sizes: full natively, a thousandth under miri (which interprets every step).
    fn sc(n: usize) -> usize {
        if cfg!(miri) { n / 1000 + 1 } else { n }
    }

    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// Value the output buffers are pre-filled with, to check nothing past the result is written.
    const FILL: u8 = 0xA5;

    /// Deterministic xorshift64* generator.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Self {
            Rng(seed | 1)
        }

        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform in `0..n` (`n > 0`).
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// Straightforward byte-at-a-time decoder over one contiguous input, with the documented error
    /// order; the reference both paths are compared with.
    fn reference(input: &[u8], cap: usize) -> Result<Vec<u8>, Lz4Error> {
        fn byte(input: &[u8], i: &mut usize) -> Result<u8, Lz4Error> {
            let b = *input.get(*i).ok_or(Lz4Error::Truncated)?;
            *i += 1;
            Ok(b)
        }
        fn length(input: &[u8], i: &mut usize, nibble: u8) -> Result<usize, Lz4Error> {
            let mut len = usize::from(nibble);
            if nibble == 15 {
                loop {
                    let b = byte(input, i)?;
                    len += usize::from(b);
                    if b != 255 {
                        return Ok(len);
                    }
                }
            }
            Ok(len)
        }
        if input.is_empty() {
            return Err(Lz4Error::Truncated);
        }
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let token = byte(input, &mut i)?;
            let lits = length(input, &mut i, token >> 4)?;
            if lits > input.len() - i {
                return Err(Lz4Error::Truncated);
            }
            if out.len() + lits > cap {
                return Err(Lz4Error::OutputFull);
            }
            out.extend_from_slice(&input[i..i + lits]);
            i += lits;
            if i == input.len() {
                return Ok(out);
            }
            let lo = byte(input, &mut i)?;
            let hi = byte(input, &mut i)?;
            let offset = usize::from(u16::from_le_bytes([lo, hi]));
            if offset == 0 || offset > out.len() {
                return Err(Lz4Error::Corrupt);
            }
            let len = length(input, &mut i, token & 15)? + 4;
            if out.len() + len > cap {
                return Err(Lz4Error::OutputFull);
            }
            for _ in 0..len {
                out.push(out[out.len() - offset]);
            }
        }
    }

    /// Splits `buf` into read-only segments of the given lengths (which sum to `buf.len()`).
    fn split<'a>(mut buf: &'a [u8], lens: &[usize]) -> Vec<&'a [u8]> {
        let mut segs = Vec::new();
        for &n in lens {
            let (head, tail) = buf.split_at(n);
            segs.push(head);
            buf = tail;
        }
        assert!(buf.is_empty());
        segs
    }

    /// Splits `buf` into writable segments of the given lengths (which sum to `buf.len()`).
    fn split_mut<'a>(mut buf: &'a mut [u8], lens: &[usize]) -> Vec<&'a mut [u8]> {
        let mut segs = Vec::new();
        for &n in lens {
            let (head, tail) = core::mem::take(&mut buf).split_at_mut(n);
            segs.push(head);
            buf = tail;
        }
        assert!(buf.is_empty());
        segs
    }

    /// Random segment lengths summing to `total`, mixing empty, 1-byte, small and large segments.
    /// With `tiny`, every segment is 0 to 3 bytes long.
    fn random_lens(rng: &mut Rng, total: usize, tiny: bool) -> Vec<usize> {
        let mut lens = Vec::new();
        let mut left = total;
        while left > 0 {
            let n = if tiny {
                rng.below(4)
            } else {
                match rng.below(10) {
                    0 => 0,
                    1 | 2 => 1,
                    3 | 4 => 2 + rng.below(15),
                    5..=7 => rng.below(300),
                    _ => rng.below(total / 3 + 1),
                }
            };
            let n = n.min(left);
            lens.push(n);
            left -= n;
        }
        lens.extend(core::iter::repeat_n(0, rng.below(3)));
        lens
    }

    /// Decompresses with the given segment layouts into a buffer of `cap` bytes, checks that nothing
    /// past the reported length was written, and returns the result and the written bytes.
    fn run(input: &[u8], in_lens: &[usize], cap: usize, out_lens: &[usize]) -> Result<Vec<u8>, Lz4Error> {
        let in_segs = split(input, in_lens);
        let mut buf = vec![FILL; cap];
        let mut out_segs = split_mut(&mut buf, out_lens);
        let result = decompress_block(&in_segs, &mut out_segs);
        drop(out_segs);
        result.map(|n| {
            assert!(n <= cap);
            assert!(buf[n..].iter().all(|&b| b == FILL), "wrote past the reported length");
            buf.truncate(n);
            buf
        })
    }

    /// Decompresses through the fast path (one input and one output slice).
    fn run_flat(input: &[u8], cap: usize) -> Result<Vec<u8>, Lz4Error> {
        run(input, &[input.len()], cap, &[cap])
    }

    /// Decompresses through the segmented path with one input and one output segment.
    fn run_seg_single(input: &[u8], cap: usize) -> Result<Vec<u8>, Lz4Error> {
        let mut buf = vec![FILL; cap];
        let result = decompress_segmented(&[input], &mut [&mut buf[..]]);
        result.map(|n| {
            assert!(buf[n..].iter().all(|&b| b == FILL));
            buf.truncate(n);
            buf
        })
    }

    /// Decompresses through random layouts of input and output segments.
    fn run_random(rng: &mut Rng, input: &[u8], cap: usize, tiny: bool) -> Result<Vec<u8>, Lz4Error> {
        let in_lens = random_lens(rng, input.len(), tiny);
        let out_lens = random_lens(rng, cap, tiny);
        run(input, &in_lens, cap, &out_lens)
    }

    fn compress(data: &[u8]) -> Vec<u8> {
        lz4_flex::block::compress(data)
    }

    // --- Block builder for hand-made blocks -----------------------------------------------------

    /// Appends the extra length bytes for a length whose nibble was 15.
    fn push_extra(block: &mut Vec<u8>, mut rest: usize) {
        while rest >= 255 {
            block.push(255);
            rest -= 255;
        }
        block.push(rest as u8);
    }

    /// Appends a sequence with literals and a match.
    fn push_seq(block: &mut Vec<u8>, lits: &[u8], offset: u16, match_len: usize) {
        assert!(match_len >= 4);
        let ml = match_len - 4;
        let token = ((lits.len().min(15) as u8) << 4) | ml.min(15) as u8;
        block.push(token);
        if lits.len() >= 15 {
            push_extra(block, lits.len() - 15);
        }
        block.extend_from_slice(lits);
        block.extend_from_slice(&offset.to_le_bytes());
        if ml >= 15 {
            push_extra(block, ml - 15);
        }
    }

    /// Appends the final, literals-only sequence.
    fn push_last(block: &mut Vec<u8>, lits: &[u8]) {
        block.push((lits.len().min(15) as u8) << 4);
        if lits.len() >= 15 {
            push_extra(block, lits.len() - 15);
        }
        block.extend_from_slice(lits);
    }

    /// A random *valid* block built sequence by sequence (short offsets, overlapping matches, long
    /// lengths), with its decompressed contents.
    fn random_block(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
        let mut block = Vec::new();
        let mut out: Vec<u8> = Vec::new();
        for _ in 0..rng.below(12) {
            let lit_len = match rng.below(4) {
                0 => 0,
                1 => rng.below(15),
                2 => 15 + rng.below(3),
                _ => rng.below(600),
            };
            // The first match needs at least one byte of history.
            let lit_len = if out.is_empty() { lit_len.max(1) } else { lit_len };
            let lits = rng.bytes(lit_len);
            out.extend_from_slice(&lits);
            let max_off = out.len().min(65535);
            let offset = match rng.below(3) {
                0 => 1 + rng.below(max_off.min(8)),
                1 => max_off,
                _ => 1 + rng.below(max_off),
            };
            let match_len = match rng.below(4) {
                0 => 4 + rng.below(15),
                1 => 19 + rng.below(3),
                2 => 4 + rng.below(100),
                _ => 4 + rng.below(1000),
            };
            for _ in 0..match_len {
                out.push(out[out.len() - offset]);
            }
            push_seq(&mut block, &lits, offset as u16, match_len);
        }
        let n = rng.below(40);
        let lits = rng.bytes(n);
        out.extend_from_slice(&lits);
        push_last(&mut block, &lits);
        (block, out)
    }

    // --- Test data ------------------------------------------------------------------------------

    fn text() -> Vec<u8> {
        let words = [
            "the",
            "quick",
            "brown",
            "fox",
            "jumps",
            "over",
            "lazy",
            "dog",
            "ring",
            "submission",
            "completion",
            "queue",
            "firmware",
            "buffer",
            "LZ4",
            "block",
            "\n",
            ",",
            "segment",
        ];
        let mut rng = Rng::new(7);
        let mut out = Vec::new();
        while out.len() < 50_000 {
            out.extend_from_slice(words[rng.below(words.len())].as_bytes());
            out.push(b' ');
        }
        out
    }

    fn mixed(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = Rng::new(seed);
        let text = text();
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let n = 1 + rng.below(5000);
            match rng.below(5) {
                0 => out.extend(rng.bytes(n)),
                1 => out.extend(core::iter::repeat_n(rng.next() as u8, n)),
                2 => {
                    let start = rng.below(text.len() - 1);
                    let end = (start + n).min(text.len());
                    out.extend_from_slice(&text[start..end]);
                }
                3 => {
                    let period = 1 + rng.below(12);
                    let pattern = rng.bytes(period);
                    out.extend(pattern.iter().cycle().take(n));
                }
                _ => {
                    if !out.is_empty() {
                        let start = rng.below(out.len());
                        let end = (start + n).min(out.len());
                        let copy = out[start..end].to_vec();
                        out.extend(copy);
                    }
                }
            }
        }
        out.truncate(len);
        out
    }

    /// Named data sets for the round trips.
    fn corpus() -> Vec<(&'static str, Vec<u8>)> {
        let mut rng = Rng::new(0x1234_5678);
        vec![
            ("empty", Vec::new()),
            ("one byte", vec![42]),
            ("short", b"hello".to_vec()),
            ("zeros", vec![0; sc(100_000)]),
            ("period 3", b"abc".iter().copied().cycle().take(70_000).collect()),
            ("period 7", b"abcdefg".iter().copied().cycle().take(33_333).collect()),
            ("random", rng.bytes(65_536)),
            ("random small", rng.bytes(100)),
            ("text", text()),
            ("mixed 1 MiB", mixed(sc(1 << 20), 99)),
        ]
    }

    // --- Round trips ----------------------------------------------------------------------------

    #[test]
    fn round_trip_fast_path() {
        for (name, data) in corpus() {
            let block = compress(&data);
            assert_eq!(run_flat(&block, data.len()).as_deref(), Ok(&data[..]), "{name}");
            assert_eq!(run_flat(&block, data.len() + 100).as_deref(), Ok(&data[..]), "{name} (larger output)");
        }
    }

    #[test]
    fn round_trip_empty() {
        let block = compress(&[]);
        assert_eq!(decompress_block(&[&block], &mut [&mut []]), Ok(0));
        assert_eq!(decompress_block(&[&block], &mut []), Ok(0));
        assert_eq!(decompress_block(&[&[], &block, &[]], &mut [&mut [], &mut []]), Ok(0));
        assert_eq!(decompress_block(&[&[0x00]], &mut []), Ok(0));
    }

    #[test]
    fn round_trip_segmented() {
        let mut rng = Rng::new(0xC0FFEE);
        for (name, data) in corpus() {
            let block = compress(&data);
            let rounds = if data.len() > 200_000 { 4 } else { 20 };
            for round in 0..rounds {
                let cap = data.len() + if round % 2 == 0 { 0 } else { rng.below(64) };
                assert_eq!(run_random(&mut rng, &block, cap, false).as_deref(), Ok(&data[..]), "{name} round {round}");
            }
        }
    }

    #[test]
    fn round_trip_tiny_segments() {
        let mut rng = Rng::new(0xBEEF);
        for (name, data) in corpus() {
            let data = &data[..data.len().min(40_000)];
            let block = compress(data);
            for round in 0..3 {
                assert_eq!(run_random(&mut rng, &block, data.len(), true).as_deref(), Ok(data), "{name} round {round}");
            }
        }
    }

    #[test]
    fn round_trip_one_byte_segments() {
        let data = mixed(30_000, 5);
        let block = compress(&data);
        let ones_in = vec![1; block.len()];
        let ones_out = vec![1; data.len()];
        assert_eq!(run(&block, &ones_in, data.len(), &ones_out).as_deref(), Ok(&data[..]));
        // One-byte input, contiguous output and the other way round.
        assert_eq!(run(&block, &ones_in, data.len(), &[data.len()]).as_deref(), Ok(&data[..]));
        assert_eq!(run(&block, &[block.len()], data.len(), &ones_out).as_deref(), Ok(&data[..]));
    }

    #[test]
    fn round_trip_zero_length_segments_everywhere() {
        let data = mixed(5_000, 6);
        let block = compress(&data);
        let interleave = |total: usize| -> Vec<usize> {
            let mut lens = vec![0, 0];
            for _ in 0..total {
                lens.extend_from_slice(&[1, 0, 0]);
            }
            lens
        };
        let result = run(&block, &interleave(block.len()), data.len(), &interleave(data.len()));
        assert_eq!(result.as_deref(), Ok(&data[..]));
    }

    #[test]
    fn random_valid_blocks() {
        let mut rng = Rng::new(0xB10C);
        for round in 0..sc(2_000) {
            let (block, expected) = random_block(&mut rng);
            assert_eq!(reference(&block, expected.len()).as_deref(), Ok(&expected[..]), "round {round}");
            assert_eq!(run_flat(&block, expected.len()).as_deref(), Ok(&expected[..]), "round {round}");
            let tiny = round % 4 == 0;
            assert_eq!(
                run_random(&mut rng, &block, expected.len(), tiny).as_deref(),
                Ok(&expected[..]),
                "round {round}"
            );
            if !expected.is_empty() {
                assert_eq!(run_flat(&block, expected.len() - 1), Err(Lz4Error::OutputFull), "round {round}");
                assert_eq!(run_random(&mut rng, &block, expected.len() - 1, tiny), Err(Lz4Error::OutputFull));
            }
        }
    }

    // --- Hand-built blocks ----------------------------------------------------------------------

    /// Checks a hand-built block through the fast path, the single-segment slow path and a few
    /// segmented layouts.
    fn check_all(block: &[u8], expected: &[u8]) {
        assert_eq!(reference(block, expected.len()).as_deref(), Ok(expected));
        assert_eq!(run_flat(block, expected.len()).as_deref(), Ok(expected));
        assert_eq!(run_seg_single(block, expected.len()).as_deref(), Ok(expected));
        let mut rng = Rng::new(block.len() as u64);
        for round in 0..10 {
            assert_eq!(run_random(&mut rng, block, expected.len(), round % 2 == 0).as_deref(), Ok(expected));
        }
    }

    #[test]
    fn overlapping_match_offset_1() {
        let mut block = Vec::new();
        push_seq(&mut block, b"x", 1, 4 + 15 + 255 + 255 + 10);
        push_last(&mut block, b"end");
        // token 0x1F, 'x', offset 1, then 255, 255, 10.
        assert_eq!(block, [0x1F, b'x', 1, 0, 255, 255, 10, 0x30, b'e', b'n', b'd']);
        let mut expected = vec![b'x'; 1 + 539];
        expected.extend_from_slice(b"end");
        check_all(&block, &expected);
    }

    #[test]
    fn overlapping_match_longer_period() {
        for period in 2..=20usize {
            let lits: Vec<u8> = (0..period as u8).map(|b| b'a' + b).collect();
            let mut block = Vec::new();
            push_seq(&mut block, &lits, period as u16, 1000);
            push_last(&mut block, &[]);
            let expected: Vec<u8> = lits.iter().copied().cycle().take(period + 1000).collect();
            check_all(&block, &expected);
        }
        // Offset shorter than the literals written so far, not equal to them.
        let mut block = Vec::new();
        push_seq(&mut block, b"0123456789", 3, 20);
        push_last(&mut block, b"!");
        let mut expected = b"0123456789".to_vec();
        expected.extend(b"789".iter().cycle().take(20));
        expected.push(b'!');
        check_all(&block, &expected);
    }

    #[test]
    fn long_literal_lengths() {
        let mut rng = Rng::new(11);
        // 15 needs one extra byte of 0; 270 needs 255, 0; 525 needs 255, 255, 0.
        for len in [14, 15, 16, 269, 270, 271, 524, 525, 526, 5000] {
            let lits = rng.bytes(len);
            let mut block = Vec::new();
            push_last(&mut block, &lits);
            match len {
                15 => assert_eq!(block[..2], [0xF0, 0]),
                270 => assert_eq!(block[..3], [0xF0, 255, 0]),
                525 => assert_eq!(block[..4], [0xF0, 255, 255, 0]),
                _ => {}
            }
            check_all(&block, &lits);
            // And as the literals of a sequence with a match.
            let mut block = Vec::new();
            push_seq(&mut block, &lits, 1, 4);
            push_last(&mut block, b"z");
            let mut expected = lits.clone();
            expected.extend(core::iter::repeat_n(lits[len - 1], 4));
            expected.push(b'z');
            check_all(&block, &expected);
        }
    }

    #[test]
    fn long_match_lengths() {
        for match_len in [18, 19, 20, 273, 274, 275, 529, 100_000] {
            let mut block = Vec::new();
            push_seq(&mut block, b"abcdef", 6, match_len);
            push_last(&mut block, b"Z");
            let mut expected: Vec<u8> = b"abcdef".iter().copied().cycle().take(6 + match_len).collect();
            expected.push(b'Z');
            check_all(&block, &expected);
        }
        // Match length nibble 15 with an extension byte of 0 means exactly 19.
        let block = [0x2F, b'a', b'b', 2, 0, 0, 0x10, b'c'];
        let mut expected: Vec<u8> = b"ab".iter().copied().cycle().take(21).collect();
        expected.push(b'c');
        check_all(&block, &expected);
    }

    #[test]
    fn match_reaching_into_earlier_segments() {
        // Literals fill several output segments; the match at the end copies from all of them.
        let lits: Vec<u8> = (0..=255u8).collect();
        let mut block = Vec::new();
        push_seq(&mut block, &lits, 256, 256);
        push_last(&mut block, &[]);
        let expected: Vec<u8> = lits.iter().copied().cycle().take(512).collect();
        for out_lens in
            [vec![100, 100, 56, 256], vec![256, 256], vec![1; 512], vec![0, 300, 0, 0, 212, 0], vec![511, 1]]
        {
            assert_eq!(run(&block, &[block.len()], 512, &out_lens).as_deref(), Ok(&expected[..]), "{out_lens:?}");
        }
    }

    #[test]
    fn token_only_final_sequence() {
        // A block may end with a token announcing 0 literals.
        let mut block = Vec::new();
        push_seq(&mut block, b"ab", 2, 4);
        push_last(&mut block, &[]);
        check_all(&block, b"ababab");
    }

    #[test]
    fn match_nibble_of_last_sequence_is_ignored() {
        // The final sequence's low nibble (here 15) is never read: the input ends after its literals.
        check_all(&[0x2F, b'h', b'i'], b"hi");
    }

    // --- Errors ---------------------------------------------------------------------------------

    #[test]
    fn empty_input_is_truncated() {
        let mut buf = [0u8; 8];
        assert_eq!(decompress_block(&[], &mut [&mut buf]), Err(Lz4Error::Truncated));
        assert_eq!(decompress_block(&[&[]], &mut [&mut buf]), Err(Lz4Error::Truncated));
        assert_eq!(decompress_block(&[&[], &[], &[]], &mut [&mut buf]), Err(Lz4Error::Truncated));
        assert_eq!(decompress_block(&[&[]], &mut []), Err(Lz4Error::Truncated));
        assert_eq!(decompress_segmented(&[&[]], &mut [&mut buf]), Err(Lz4Error::Truncated));
    }

    #[test]
    fn truncation_points() {
        let cases: [(&[u8], Lz4Error); 9] = [
            (&[0xF0], Lz4Error::Truncated),                   // literal length byte missing
            (&[0xF0, 255], Lz4Error::Truncated),              // continuation promised
            (&[0x10], Lz4Error::Truncated),                   // literal missing
            (&[0x30, b'a', b'b'], Lz4Error::Truncated),       // literals cut short
            (&[0x10, b'a', 1], Lz4Error::Truncated),          // half an offset
            (&[0x1F, b'a', 1, 0], Lz4Error::Truncated),       // match length byte missing
            (&[0x1F, b'a', 1, 0, 255], Lz4Error::Truncated),  // continuation promised
            (&[0x10, b'a', 1, 0], Lz4Error::Truncated),       // no final literals-only sequence
            (&[0x10, b'a', 1, 0, 0x10], Lz4Error::Truncated), // final literal missing
        ];
        for (block, err) in cases {
            assert_eq!(reference(block, 100), Err(err), "{block:?}");
            assert_eq!(run_flat(block, 100), Err(err), "{block:?}");
            assert_eq!(run_seg_single(block, 100), Err(err), "{block:?}");
            let ones = vec![1; block.len()];
            assert_eq!(run(block, &ones, 100, &[50, 0, 50]), Err(err), "{block:?}");
        }
    }

    #[test]
    fn every_prefix_of_valid_blocks() {
        let mut rng = Rng::new(77);
        let text = text();
        let mut blocks = vec![(compress(&text[..sc(3000)]), text[..sc(3000)].to_vec())];
        let data = mixed(sc(4000), 3);
        blocks.push((compress(&data), data));
        for _ in 0..sc(5000) / 1000 {
            blocks.push(random_block(&mut rng));
        }
        // Every prefix natively; under miri every 97th.
        let step = if cfg!(miri) { 97 } else { 1 };
        for (block, expected) in &blocks {
            for len in (0..=block.len()).step_by(step) {
                let prefix = &block[..len];
                let flat = run_flat(prefix, expected.len());
                let single = run_seg_single(prefix, expected.len());
                let segmented = run_random(&mut rng, prefix, expected.len(), len % 3 == 0);
                assert_eq!(flat, reference(prefix, expected.len()), "prefix {len}");
                assert_eq!(flat, single, "prefix {len}");
                assert_eq!(flat, segmented, "prefix {len}");
                match flat {
                    // A prefix ending right after a sequence's literals is itself a valid block: its
                    // output must be a prefix of the full output.
                    Ok(out) => assert_eq!(out[..], expected[..out.len()], "prefix {len}"),
                    Err(e) => assert!(matches!(e, Lz4Error::Truncated | Lz4Error::Corrupt), "prefix {len}: {e:?}"),
                }
            }
            assert_eq!(run_flat(block, expected.len()).as_deref(), Ok(&expected[..]));
        }
    }

    #[test]
    fn offset_zero_is_corrupt() {
        let block = [0x10, b'a', 0, 0, 0x10, b'b'];
        assert_eq!(run_flat(&block, 100), Err(Lz4Error::Corrupt));
        assert_eq!(run(&block, &[3, 0, 3], 100, &[1, 99]), Err(Lz4Error::Corrupt));
        // Even with no match-length bytes after it, or no output room.
        assert_eq!(run_flat(&block[..4], 100), Err(Lz4Error::Corrupt));
        assert_eq!(run_flat(&[0x1F, b'a', 0, 0], 1), Err(Lz4Error::Corrupt));
    }

    #[test]
    fn offset_before_start_is_corrupt() {
        let mut ok = Vec::new();
        push_seq(&mut ok, b"ab", 2, 4);
        push_last(&mut ok, &[]);
        assert_eq!(run_flat(&ok, 6).as_deref(), Ok(&b"ababab"[..]));
        let mut bad = Vec::new();
        push_seq(&mut bad, b"ab", 3, 4);
        push_last(&mut bad, &[]);
        assert_eq!(run_flat(&bad, 100), Err(Lz4Error::Corrupt));
        assert_eq!(run(&bad, &[1, 1, 1, 1, 1, 1], 100, &[1, 1, 98]), Err(Lz4Error::Corrupt));
        // No literals at all before the first match.
        let mut bad = Vec::new();
        push_seq(&mut bad, b"", 1, 4);
        push_last(&mut bad, &[]);
        assert_eq!(run_flat(&bad, 100), Err(Lz4Error::Corrupt));
        // Offset reaching one past the start after a previous match.
        let mut bad = Vec::new();
        push_seq(&mut bad, b"abc", 1, 4);
        push_seq(&mut bad, b"", 8, 4);
        push_last(&mut bad, &[]);
        assert_eq!(run_flat(&bad, 100), Err(Lz4Error::Corrupt));
        assert_eq!(run(&bad, &[bad.len()], 100, &[3, 0, 4, 93]), Err(Lz4Error::Corrupt));
        let mut good = Vec::new();
        push_seq(&mut good, b"abc", 1, 4);
        push_seq(&mut good, b"", 7, 4);
        push_last(&mut good, &[]);
        assert_eq!(run(&good, &[good.len()], 11, &[3, 0, 4, 4]).as_deref(), Ok(&b"abcccccabcc"[..]));
    }

    #[test]
    fn output_size_limits() {
        let mut rng = Rng::new(4242);
        for (name, data) in corpus() {
            if data.is_empty() || data.len() > 200_000 {
                continue;
            }
            let block = compress(&data);
            assert_eq!(run_flat(&block, data.len()).as_deref(), Ok(&data[..]), "{name}");
            assert_eq!(run_flat(&block, data.len() - 1), Err(Lz4Error::OutputFull), "{name}");
            assert_eq!(run_seg_single(&block, data.len() - 1), Err(Lz4Error::OutputFull), "{name}");
            for _ in 0..5 {
                assert_eq!(run_random(&mut rng, &block, data.len() - 1, false), Err(Lz4Error::OutputFull), "{name}");
                assert_eq!(run_random(&mut rng, &block, data.len(), false).as_deref(), Ok(&data[..]), "{name}");
            }
        }
    }

    #[test]
    fn output_full_in_literals_and_matches() {
        // Literals too long for the output.
        assert_eq!(run_flat(&[0x30, 1, 2, 3], 2), Err(Lz4Error::OutputFull));
        assert_eq!(run(&[0x30, 1, 2, 3], &[2, 2], 2, &[1, 0, 1]), Err(Lz4Error::OutputFull));
        assert_eq!(run_flat(&[0x30, 1, 2, 3], 3).as_deref(), Ok(&[1u8, 2, 3][..]));
        // A match too long for the output, however long it claims to be.
        let mut block = vec![0x1F, b'a', 1, 0];
        block.extend(core::iter::repeat_n(255, 10_000));
        block.extend_from_slice(&[0, 0x00]);
        assert_eq!(run_flat(&block, 1000), Err(Lz4Error::OutputFull));
        assert_eq!(run(&block, &[3, block.len() - 3], 1000, &[1000]), Err(Lz4Error::OutputFull));
        let full_len = 1 + 4 + 15 + 255 * 10_000;
        assert_eq!(run_flat(&block, full_len).map(|v| v.len()), Ok(full_len));
        assert_eq!(run(&block, &[3, block.len() - 3], full_len, &[7, full_len - 7]).map(|v| v.len()), Ok(full_len));
        // Nothing fits in no output at all.
        assert_eq!(decompress_block(&[&[0x10, 7]], &mut []), Err(Lz4Error::OutputFull));
    }

    #[test]
    fn truncated_wins_over_output_full() {
        // 100 literals announced, 3 present, output of 10: the block is truncated.
        let block = [0xF0, 85, 1, 2, 3];
        assert_eq!(run_flat(&block, 10), Err(Lz4Error::Truncated));
        assert_eq!(run(&block, &[1, 1, 3], 10, &[5, 5]), Err(Lz4Error::Truncated));
    }

    // --- Fuzzing and path equivalence -----------------------------------------------------------

    #[test]
    fn fuzz_random_inputs() {
        let mut rng = Rng::new(0xF022);
        for round in 0..sc(20_000) {
            let len = match rng.below(4) {
                0 => rng.below(8),
                1 => rng.below(32),
                2 => rng.below(256),
                _ => rng.below(2048),
            };
            let mut input = rng.bytes(len);
            // Bias some inputs towards small offsets so matches get exercised, not just rejected.
            if round % 2 == 0 {
                for b in input.iter_mut().skip(2).step_by(3) {
                    *b %= 8;
                }
            }
            let cap = match rng.below(3) {
                0 => rng.below(16),
                1 => rng.below(1024),
                _ => rng.below(70_000),
            };
            let expected = reference(&input, cap);
            let flat = run_flat(&input, cap);
            assert_eq!(flat, expected, "round {round}");
            let segmented = run_random(&mut rng, &input, cap, round % 5 == 0);
            assert_eq!(segmented, expected, "round {round}");
            if let Ok(out) = &flat {
                assert!(out.len() <= cap);
            }
        }
    }

    #[test]
    fn fuzz_mutated_valid_blocks() {
        let mut rng = Rng::new(0xD1FF);
        let sources: Vec<Vec<u8>> = vec![compress(&text()[..2000]), compress(&mixed(3000, 8))];
        for round in 0..sc(3_000) {
            let mut block = if round % 2 == 0 { random_block(&mut rng).0 } else { sources[round % 4 / 2].clone() };
            if block.is_empty() {
                continue;
            }
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(block.len());
                block[i] = match rng.below(3) {
                    0 => rng.next() as u8,
                    1 => block[i] ^ (1 << rng.below(8)),
                    _ => 255,
                };
            }
            let cap = rng.below(10_000);
            let expected = reference(&block, cap);
            assert_eq!(run_flat(&block, cap), expected, "round {round}");
            assert_eq!(run_seg_single(&block, cap), expected, "round {round}");
            assert_eq!(run_random(&mut rng, &block, cap, round % 3 == 0), expected, "round {round}");
        }
    }

    #[test]
    fn segmented_path_matches_fast_path() {
        let mut rng = Rng::new(0x5E6);
        for round in 0..sc(300) {
            let data = mixed(rng.below(sc(20_000) + 1), round as u64);
            let block = compress(&data);
            for cap in [data.len(), data.len().saturating_sub(1 + rng.below(50)), data.len() + rng.below(50)] {
                let flat = run_flat(&block, cap);
                assert_eq!(flat, run_seg_single(&block, cap), "round {round}");
                assert_eq!(flat, run_random(&mut rng, &block, cap, round % 7 == 0), "round {round}");
                if cap >= data.len() {
                    assert_eq!(flat.as_deref(), Ok(&data[..]), "round {round}");
                }
            }
        }
    }
}
