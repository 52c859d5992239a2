//! Injected flash faults reach the NBD client as EIO, never as wrong data.

mod support;

use support::*;

const EIO: u32 = 5;

fn block(b: u64, v: u8) -> Vec<u8> {
    (0..4096u64).map(|i| (i as u8) ^ (b as u8) ^ v.wrapping_mul(31)).collect()
}

/// Write until the device takes it (faults may fail a write too): the number of tries.
fn write_until_ok(c: &mut Nbd, b: u64, data: &[u8]) -> u32 {
    for tries in 1..=50 {
        let (e, _) = c.call(1, 1, b * 4096, 4096, data);
        match e {
            0 => return tries,
            EIO => {}
            e => panic!("write of block {b}: error {e}"),
        }
    }
    panic!("block {b}: 50 writes failed");
}

#[test]
fn read_errors_and_bit_flips_are_eio_never_wrong_data() {
    let dir = TempDir::new("faults-read");
    let srv =
        Server::start(&dir.path("f.img"), &["--no-latency", "--read-error-every", "150", "--bit-flip-every", "120"]);
    let mut c = Nbd::open(srv.port);
    for b in 0..24 {
        write_until_ok(&mut c, b, &block(b, 1));
    }
    let (mut ok, mut eio) = (0, 0);
    for round in 0..8 {
        for b in 0..24 {
            let (e, d) = c.call(0, 0, b * 4096, 4096, &[]);
            match e {
                0 => {
                    assert!(d == block(b, 1), "round {round}: block {b} read back wrong data");
                    ok += 1;
                }
                EIO => eio += 1,
                e => panic!("read of block {b}: error {e}"),
            }
        }
    }
    assert!(ok > 20 && eio > 10, "both outcomes seen: {ok} good reads, {eio} EIO");
}

#[test]
fn program_failures_are_eio_and_leave_old_or_new_data() {
    let dir = TempDir::new("faults-prog");
    let srv = Server::start(&dir.path("f.img"), &["--no-latency", "--program-fail-every", "60"]);
    let mut c = Nbd::open(srv.port);
    let mut failed = 0;
    for b in 0..32 {
        write_until_ok(&mut c, b, &block(b, 1));
        let (e, _) = c.call(1, 1, b * 4096, 4096, &block(b, 2));
        let got = c.read(b * 4096, 4096);
        match e {
            0 => assert!(got == block(b, 2), "block {b}: an acknowledged write reads back"),
            EIO => {
                failed += 1;
                // Per 512-byte sector: the old or the new data, nothing else.
                for (s, sec) in got.chunks(512).enumerate() {
                    let r = s * 512..(s + 1) * 512;
                    assert!(sec == &block(b, 1)[r.clone()] || sec == &block(b, 2)[r], "block {b} sector {s}");
                }
            }
            e => panic!("write of block {b}: error {e}"),
        }
    }
    assert!(failed > 0, "some second writes failed");
}
