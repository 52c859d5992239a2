//! Persistence: a restarted device serves every byte it had; a `kill -9` of the device
//! process (a power cut) in the middle of a write workload loses nothing that was
//! acknowledged before the last completed FLUSH, nor any FUA write, and no block ever
//! reads data that was not written to it.

mod support;

use std::time::{Duration, Instant};

use support::*;

#[test]
fn a_restarted_device_serves_every_byte_it_had() {
    let dir = TempDir::new("restart");
    let flash = dir.path("flash.img");
    let srv = Server::start(&flash, &["--no-latency"]);
    let mut c = Nbd::open(srv.port);
    let size = c.size as usize;
    let mut want = vec![0u8; size];
    // Writes of many sizes all over the device, then one FLUSH.
    let mut x = 12345u64;
    for i in 0..300 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = 512 * (1 + (x >> 33) as usize % 64);
        let off = 512 * ((x >> 7) as usize % ((size - len) / 512));
        let data = random(len, i);
        c.write(off as u64, &data, false);
        want[off..off + len].copy_from_slice(&data);
    }
    let (e, _) = c.call(3, 0, 0, 0, &[]);
    assert_eq!(e, 0, "flush");
    drop(c);
    srv.kill();

    let srv = Server::start(&flash, &["--no-latency"]);
    let mut c = Nbd::open(srv.port);
    assert_eq!(c.size as usize, size);
    for off in (0..size).step_by(1 << 20) {
        let n = (1 << 20).min(size - off);
        let got = c.read(off as u64, n as u32);
        assert!(got == want[off..off + n], "bytes at {off}..{} differ after the restart", off + n);
    }
}

const BLOCKS: u64 = 512;
const BS: usize = 4096;

/// Block `b`'s contents at version `v` (0 = never written: zeros).
fn stamp(b: u64, v: u64) -> Vec<u8> {
    if v == 0 {
        return vec![0; BS];
    }
    let mut d = Vec::with_capacity(BS);
    while d.len() < BS {
        d.extend_from_slice(&b.to_le_bytes());
        d.extend_from_slice(&v.to_le_bytes());
    }
    d
}

/// Which version of block `b` each 512-byte sector of the bytes is, if any (a write of
/// several sectors in flight at a cut may land in part, as on a disk).
fn versions_of(b: u64, d: &[u8]) -> Vec<Option<u64>> {
    d.chunks(512)
        .map(|s| {
            if s.iter().all(|&x| x == 0) {
                return Some(0);
            }
            let v = u64::from_le_bytes(s[8..16].try_into().unwrap());
            (s == &stamp(b, v)[..512]).then_some(v)
        })
        .collect()
}

#[test]
fn power_cuts_lose_nothing_flushed_or_fua() {
    let dir = TempDir::new("powercut");
    let flash = dir.path("flash.img");
    let srv = Server::start(&flash, &["--latency", "0.02"]);
    // Per block: the versions it may hold (sent since the last durable one, and that one)
    // and the durable version (acknowledged FUA, or acknowledged before a FLUSH).
    let mut sent: Vec<Vec<u64>> = vec![vec![0]; BLOCKS as usize];
    let mut durable: Vec<u64> = vec![0; BLOCKS as usize];
    let mut acked: Vec<u64> = vec![0; BLOCKS as usize];
    let mut seq = 0u64;
    let mut rng = 0x9e37_79b9u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let rounds = 20;
    let mut cuts_mid_write = 0;
    let mut torn = 0;
    for round in 0..rounds {
        let victim = srv.device_pid();
        let started = srv.devices_started();
        let delay = Duration::from_millis(30 + next() % 200);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            kill9(victim);
        });
        let mut c = Nbd::open(srv.port);
        let t0 = Instant::now();
        // Write until the cut fails a request.
        loop {
            assert!(t0.elapsed() < Duration::from_secs(30), "round {round}: the cut never showed");
            // A cut between two requests fails none: the restart shows it.
            if srv.devices_started() > started {
                break;
            }
            let r = next();
            if r % 10 == 0 {
                let (e, _) = c.call(3, 0, 0, 0, &[]);
                if e != 0 {
                    assert_eq!(e, 5, "a cut fails a flush with EIO");
                    break;
                }
                durable.copy_from_slice(&acked);
                for (b, s) in sent.iter_mut().enumerate() {
                    s.retain(|&v| v >= durable[b]);
                }
                continue;
            }
            let b = (r >> 8) % BLOCKS;
            let fua = r % 4 == 1;
            seq += 1;
            sent[b as usize].push(seq);
            let (e, _) = c.call(1, fua as u16, b * BS as u64, BS as u32, &stamp(b, seq));
            if e != 0 {
                assert_eq!(e, 5, "a cut fails a write with EIO");
                cuts_mid_write += 1;
                break;
            }
            acked[b as usize] = seq;
            if fua {
                durable[b as usize] = seq;
            }
        }
        killer.join().unwrap();
        drop(c);
        // The host restarts the device on the same flash image.
        let t0 = Instant::now();
        while srv.devices_started() == started {
            assert!(t0.elapsed() < Duration::from_secs(20), "no new device");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut c = Nbd::open(srv.port);
        for b in 0..BLOCKS {
            let got = c.read(b * BS as u64, BS as u32);
            let vs = versions_of(b, &got);
            let d = durable[b as usize];
            for (sector, v) in vs.iter().enumerate() {
                let v = v.unwrap_or_else(|| {
                    panic!("round {round}: block {b} sector {sector} holds data never written to it")
                });
                assert!(
                    sent[b as usize].contains(&v) && v >= d,
                    "round {round}: block {b} sector {sector} reads version {v}; durable was {d}, sent since {:?}",
                    sent[b as usize]
                );
            }
            // A torn block (sectors of two versions) is rewritten whole now, so the model
            // stays one version per block.
            let v = vs[0].unwrap_or(0);
            if vs.iter().any(|x| *x != Some(v)) {
                seq += 1;
                c.write(b * BS as u64, &stamp(b, seq), true);
                sent[b as usize] = vec![seq];
                durable[b as usize] = seq;
                acked[b as usize] = seq;
                torn += 1;
                continue;
            }
            // What is read after a restart is on the flash: durable from now on.
            sent[b as usize] = vec![v];
            durable[b as usize] = v;
            acked[b as usize] = v;
        }
    }
    assert!(seq > 100, "the workload wrote ({seq} writes)");
    eprintln!("{rounds} cuts, {cuts_mid_write} in the middle of a write, {torn} torn blocks, {seq} writes");
}
