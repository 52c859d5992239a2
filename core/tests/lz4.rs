//! The LZ4 block decoder (`fwring::ops::lz4_block`): both paths (one contiguous slice each
//! way, and scattered segments) against `lz4_flex` and hand-made blocks — every sequence
//! shape, every way a block can be truncated or corrupt, output limits, fuzzed input.
//! Sized down under miri.
/// Test sizes: full natively, a thousandth under miri (which interprets every step).
fn sc(n: usize) -> usize {
    if cfg!(miri) { n / 1000 + 1 } else { n }
}

use fwring::ops::lz4_block::{Lz4Error, decompress_block};

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
    // An empty second input segment routes one-segment data through the segmented path.
    let result = decompress_block(&[input, &[]], &mut [&mut buf[..]]);
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
        assert_eq!(run_random(&mut rng, &block, expected.len(), tiny).as_deref(), Ok(&expected[..]), "round {round}");
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
    for out_lens in [vec![100, 100, 56, 256], vec![256, 256], vec![1; 512], vec![0, 300, 0, 0, 212, 0], vec![511, 1]] {
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
    assert_eq!(decompress_block(&[&[], &[]], &mut [&mut buf]), Err(Lz4Error::Truncated));
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
