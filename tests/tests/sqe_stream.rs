//! Random SQE streams with registered buffers (see `fwring_tests::stream`): a bounded,
//! seeded run in the suite; `cargo xtask soak` runs the same body as a cargo-fuzz
//! target for longer. `FWRING_STREAMS` sets the number of streams (default 3000).

use fwring_tests::random::Rng;
use fwring_tests::stream;

#[test]
fn random_sqe_streams_keep_every_promise() {
    let n: u64 = std::env::var("FWRING_STREAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let mut rng = Rng::new(0x5eed_0011);
    let mut total = stream::Stats::default();
    for i in 0..n {
        let len = 16 + rng.below(400) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let s = stream::run(&data).unwrap_or_else(|e| panic!("stream {i}: {e}\n  bytes {data:?}"));
        total.consumed += s.consumed;
        total.cqes += s.cqes;
        total.lent += s.lent;
        total.busy += s.busy;
    }
    eprintln!("{n} streams: {total:?}");
    // The streams reach what they are for: lent buffers, and requests refused for them.
    assert!(total.lent > n / 4, "{total:?}");
    assert!(total.busy > n / 20, "{total:?}");
    assert_eq!(total.cqes, total.consumed, "one CQE per consumed SQE: {total:?}");
}
