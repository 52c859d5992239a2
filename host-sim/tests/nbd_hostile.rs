//! Hostile NBD clients: every bad input gets the protocol's error reply or a clean
//! disconnect of that client only; other clients and the data are unaffected.

mod support;

use std::io::Write;
use std::time::Duration;

use support::*;

const NAME: &str = "fwring";
const EINVAL: u32 = 22;
const ENOSPC: u32 = 28;
const REP_ACK: u32 = 1;
const REP_SERVER: u32 = 2;
const REP_INFO: u32 = 3;
const ERR_UNSUP: u32 = (1 << 31) + 1;
const ERR_INVALID: u32 = (1 << 31) + 3;
const ERR_UNKNOWN: u32 = (1 << 31) + 6;
const ERR_TOO_BIG: u32 = (1 << 31) + 9;

fn server(dir: &TempDir) -> Server {
    Server::start(&dir.path("flash.img"), &["--no-latency"])
}

/// A witness: a block written and flushed before the abuse, read back after it by a
/// fresh client — the server still serves and the data is intact.
fn plant(port: u16) -> Vec<u8> {
    let mut c = Nbd::open(port);
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    c.write(1 << 20, &data, true);
    data
}

fn check(port: u16, data: &[u8]) {
    let mut c = Nbd::open(port);
    assert_eq!(c.read(1 << 20, data.len() as u32), data, "witness data changed");
}

/// After the greeting and client flags, in option haggling.
fn haggling(port: u16) -> std::net::TcpStream {
    let mut s = connect(port);
    let flags = greeting(&mut s);
    assert_eq!(flags, 0b11, "FIXED_NEWSTYLE | NO_ZEROES");
    s.write_all(&3u32.to_be_bytes()).unwrap();
    s
}

#[test]
fn handshake_errors_get_option_replies_or_a_disconnect() {
    let dir = TempDir::new("hostile-hs");
    let srv = server(&dir);
    let witness = plant(srv.port);
    let size = Nbd::open(srv.port).size;

    // Unknown options (STARTTLS, STRUCTURED_REPLY, 9999) are refused; the haggling goes on.
    let mut s = haggling(srv.port);
    for opt in [5u32, 8, 9, 10, 11, 9999] {
        send_option(&mut s, opt, b"xyz");
        let (o, ty, _) = option_reply(&mut s);
        assert_eq!((o, ty), (opt, ERR_UNSUP), "option {opt}");
    }
    // LIST with data is invalid; without, the one export then ACK.
    send_option(&mut s, 3, b"junk");
    assert_eq!(option_reply(&mut s).1, ERR_INVALID);
    send_option(&mut s, 3, &[]);
    let (_, ty, d) = option_reply(&mut s);
    assert_eq!(ty, REP_SERVER);
    assert_eq!(d, [&6u32.to_be_bytes()[..], b"fwring"].concat());
    assert_eq!(option_reply(&mut s).1, REP_ACK);
    // INFO/GO whose lengths do not add up: invalid; an unknown export: unknown.
    for bad in [vec![0, 0, 0, 9, b'f'], go_data(NAME, &[1])[..13].to_vec(), vec![1, 2]] {
        send_option(&mut s, 6, &bad);
        assert_eq!(option_reply(&mut s).1, ERR_INVALID, "{bad:?}");
    }
    send_option(&mut s, 7, &go_data("nope", &[]));
    assert_eq!(option_reply(&mut s).1, ERR_UNKNOWN);
    // INFO answers with the export (size, flags), block sizes, name and description.
    send_option(&mut s, 6, &go_data(NAME, &[1, 2]));
    let mut infos = Vec::new();
    loop {
        let (_, ty, d) = option_reply(&mut s);
        if ty == REP_ACK {
            break;
        }
        assert_eq!(ty, REP_INFO);
        infos.push(u16::from_be_bytes([d[0], d[1]]));
        if d[..2] == [0, 0] {
            assert_eq!(u64::from_be_bytes(d[2..10].try_into().unwrap()), size);
            // HAS_FLAGS | SEND_FLUSH | SEND_FUA | SEND_TRIM | SEND_WRITE_ZEROES | CAN_MULTI_CONN.
            assert_eq!(u16::from_be_bytes([d[10], d[11]]), 1 | 4 | 8 | 32 | 64 | 256);
        }
        if d[..2] == [0, 3] {
            let v: Vec<u32> = d[2..].chunks(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect();
            assert_eq!(v, [512, 4096, 4 << 20]);
        }
    }
    infos.sort();
    assert_eq!(infos, [0, 1, 2, 3]);
    // An option too long to take is refused, and one far too long disconnects.
    send_option(&mut s, 6, &vec![0u8; 5000]);
    assert_eq!(option_reply(&mut s).1, ERR_TOO_BIG);
    let mut m = IHAVEOPT.to_be_bytes().to_vec();
    m.extend_from_slice(&7u32.to_be_bytes());
    m.extend_from_slice(&u32::MAX.to_be_bytes());
    s.write_all(&m).unwrap();
    assert!(closed(&mut s), "an option of 4 GiB disconnects");

    // ABORT: ACK, then the server closes.
    let mut s = haggling(srv.port);
    send_option(&mut s, 2, &[]);
    assert_eq!(option_reply(&mut s).1, REP_ACK);
    assert!(closed(&mut s));

    // Wrong option magic: disconnect.
    let mut s = haggling(srv.port);
    s.write_all(&[0x55; 16]).unwrap();
    assert!(closed(&mut s), "wrong option magic disconnects");

    // Unknown client flags: disconnect.
    let mut s = connect(srv.port);
    greeting(&mut s);
    s.write_all(&0x8000_0001u32.to_be_bytes()).unwrap();
    assert!(closed(&mut s), "unknown client flags disconnect");

    // EXPORT_NAME of an unknown export: disconnect.
    let mut s = haggling(srv.port);
    send_option(&mut s, 1, b"nope");
    assert!(closed(&mut s));

    // Truncated handshakes: the client goes away at every point.
    for cut in [0usize, 2, 4, 10, 16, 20] {
        let mut s = connect(srv.port);
        greeting(&mut s);
        let mut m = 3u32.to_be_bytes().to_vec();
        m.extend_from_slice(&IHAVEOPT.to_be_bytes());
        m.extend_from_slice(&7u32.to_be_bytes());
        m.extend_from_slice(&100u32.to_be_bytes());
        m.extend_from_slice(&[1, 2, 3]);
        s.write_all(&m[..cut.min(m.len())]).unwrap();
        drop(s);
    }
    // EXPORT_NAME still works (the old way in), and without NO_ZEROES the 124 zeros come.
    let mut s = connect(srv.port);
    greeting(&mut s);
    s.write_all(&1u32.to_be_bytes()).unwrap();
    send_option(&mut s, 1, NAME.as_bytes());
    let mut b = [0u8; 8 + 2 + 124];
    std::io::Read::read_exact(&mut s, &mut b).unwrap();
    assert_eq!(u64::from_be_bytes(b[..8].try_into().unwrap()), size);
    assert!(b[10..].iter().all(|&x| x == 0));

    check(srv.port, &witness);
}

#[test]
fn bad_requests_get_nbd_errors_and_the_connection_goes_on() {
    let dir = TempDir::new("hostile-req");
    let srv = server(&dir);
    let witness = plant(srv.port);
    let mut c = Nbd::open(srv.port);
    let size = c.size;
    let cases: [(&str, u16, u16, u64, u32, u32); 14] = [
        ("read past the end", 0, 0, size - 512, 1024, EINVAL),
        ("read at a huge offset", 0, 0, u64::MAX - 511, 512, EINVAL),
        ("trim past the end", 4, 0, size, 512, EINVAL),
        ("write past the end", 1, 0, size - 512, 1024, ENOSPC),
        ("write zeroes past the end", 6, 0, size, 512, ENOSPC),
        ("unaligned read offset", 0, 0, 100, 512, EINVAL),
        ("unaligned read length", 0, 0, 0, 100, EINVAL),
        ("unaligned write", 1, 0, 512, 100, EINVAL),
        ("zero-length read", 0, 0, 0, 0, EINVAL),
        ("read longer than the maximum block", 0, 0, 0, (4 << 20) + 512, EINVAL),
        ("unknown command", 77, 0, 0, 512, EINVAL),
        ("cache (not advertised)", 5, 0, 0, 512, EINVAL),
        ("unknown flag on read", 0, 1 << 9, 0, 512, EINVAL),
        ("FUA on flush", 3, 1, 0, 0, EINVAL),
    ];
    for (what, ty, flags, off, len, want) in cases {
        let payload = if ty == 1 { vec![0xee; len as usize] } else { Vec::new() };
        let (e, d) = c.call(ty, flags, off, len, &payload);
        assert_eq!(e, want, "{what}");
        assert!(d.is_empty(), "{what}: no data on an error");
    }
    // A write longer than the maximum block: its payload is read and skipped, EINVAL.
    let big = (4 << 20) + 4096;
    let (e, _) = c.call(1, 0, 0, big, &vec![0x5a; big as usize]);
    assert_eq!(e, EINVAL);
    // The connection still works, and nothing was written.
    assert_eq!(c.read(0, 512), vec![0; 512]);
    assert_eq!(c.read(size - 512, 512), vec![0; 512]);
    check(srv.port, &witness);
}

#[test]
fn protocol_violations_disconnect_only_that_client() {
    let dir = TempDir::new("hostile-disc");
    let srv = server(&dir);
    let witness = plant(srv.port);
    // A bystander with a request in the middle of it all.
    let mut by = Nbd::open(srv.port);

    // Wrong request magic.
    let mut c = Nbd::open(srv.port);
    c.s.write_all(&[0xab; 28]).unwrap();
    assert!(c.closed(), "wrong request magic disconnects");
    // A write longer than the protocol's 32 MiB cap.
    let mut c = Nbd::open(srv.port);
    c.send(1, 0, 1, 0, u32::MAX, &[]);
    assert!(c.closed(), "a 4 GiB write disconnects");
    // A client that vanishes mid-payload: its write never happens.
    let mut c = Nbd::open(srv.port);
    c.send(1, 0, 1, 2 << 20, 65536, &[0x42; 30000]);
    drop(c);
    // A client that vanishes mid-request header.
    let mut c = Nbd::open(srv.port);
    c.s.write_all(&0x2560_9513u32.to_be_bytes()).unwrap();
    drop(c);
    // A client that sends requests and vanishes without reading the replies.
    let mut c = Nbd::open(srv.port);
    for i in 0..50 {
        c.send(0, 0, i, 0, 65536, &[]);
    }
    drop(c);

    by.write(3 << 20, &[0x77; 4096], false);
    assert_eq!(by.read(3 << 20, 4096), vec![0x77; 4096]);
    assert_eq!(by.read(2 << 20, 65536), vec![0; 65536], "the half-sent write did not happen");
    check(srv.port, &witness);
}

#[test]
fn a_flood_beyond_the_queue_depth_is_served_in_full() {
    let dir = TempDir::new("hostile-flood");
    let srv = server(&dir);
    let mut c = Nbd::open(srv.port);
    // 2000 writes and reads sent without reading a reply: far beyond the client's 64
    // in flight and the device's queue. The server stops reading until replies drain.
    let n = 1000u64.min(c.size / 4096);
    let mut w = c.s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut buf = Vec::new();
        for i in 0..n {
            let block = vec![(i % 251) as u8; 4096];
            for (ty, cookie, len, data) in [(1u16, 2 * i, 4096u32, &block[..]), (0, 2 * i + 1, 4096, &[][..])] {
                buf.extend_from_slice(&0x2560_9513u32.to_be_bytes());
                buf.extend_from_slice(&0u16.to_be_bytes());
                buf.extend_from_slice(&ty.to_be_bytes());
                buf.extend_from_slice(&cookie.to_be_bytes());
                buf.extend_from_slice(&(i * 4096).to_be_bytes());
                buf.extend_from_slice(&len.to_be_bytes());
                buf.extend_from_slice(data);
            }
        }
        w.write_all(&buf).unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut seen = vec![false; 2 * n as usize];
    for _ in 0..2 * n {
        let (e, cookie, d) = c.reply(|ck| if ck % 2 == 1 { 4096 } else { 0 }).unwrap();
        assert_eq!(e, 0, "cookie {cookie}");
        assert!(!std::mem::replace(&mut seen[cookie as usize], true), "cookie {cookie} answered twice");
        if cookie % 2 == 1 {
            // The read follows its write on the same connection only if the write
            // completed first; either way it reads erased flash or the write's bytes.
            let i = cookie / 2;
            assert!(d == vec![(i % 251) as u8; 4096] || d == vec![0; 4096], "read {i}");
        }
    }
    sender.join().unwrap();
    for i in (0..n).step_by(97) {
        assert_eq!(c.read(i * 4096, 4096), vec![(i % 251) as u8; 4096]);
    }
}

#[test]
fn a_corrupt_flash_image_is_refused_with_a_clear_message() {
    let dir = TempDir::new("corrupt");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("garbage", vec![0x5a; 64 * 1024], "wrong magic"),
        ("empty", Vec::new(), "shorter than its superblock"),
        (
            "bad-crc",
            {
                let mut v = vec![0xff; 64 * 1024];
                v[..8].copy_from_slice(b"FWRFLASH");
                v
            },
            "checksum",
        ),
        ("truncated", Vec::new(), "truncated"),
    ];
    for (name, bytes, needle) in cases {
        let p = dir.path(name);
        if name == "truncated" {
            // A good image cut short.
            let g = fwring_sim::flash::Geometry {
                layer: fwring_sim::flash::Layer::Ftl,
                erase_size: 4096,
                block_size: 512,
                image_size: 1 << 20,
            };
            fwring_sim::flash::create(&p, g).unwrap();
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.set_len(512 * 1024).unwrap();
        } else {
            std::fs::write(&p, &bytes).unwrap();
        }
        let out = std::process::Command::new(BIN)
            .args(["serve", "--nbd", "127.0.0.1:0", "--flash"])
            .arg(&p)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("not a usable flash image") && err.contains(needle), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn replies_come_as_requests_complete_out_of_order_matched_by_cookie() {
    let dir = TempDir::new("ooo");
    // With the flash latency on, a 3 MiB read takes milliseconds.
    let srv = Server::start(&dir.path("flash.img"), &["--latency", "1"]);
    let mut c = Nbd::open(srv.port);
    let big = 3u32 << 20;
    // Two 3 MiB reads need 96 window slots of 64 KiB; there are 64, so the second
    // waits for the first. The FLUSH sent after them needs no slot: it overtakes the
    // second read, and its reply comes before that read's.
    c.send(0, 0, 1, 0, big, &[]);
    c.send(0, 0, 2, u64::from(big), big, &[]);
    c.send(3, 0, 3, 0, 0, &[]);
    let mut order = Vec::new();
    for _ in 0..3 {
        let (e, cookie, d) = c.reply(|ck| if ck == 3 { 0 } else { big as usize }).unwrap();
        assert_eq!(e, 0);
        assert_eq!(d.len(), if cookie == 3 { 0 } else { big as usize });
        order.push(cookie);
    }
    let pos = |k| order.iter().position(|&x| x == k).unwrap();
    assert!(pos(3) < pos(2), "the flush overtakes the waiting read: {order:?}");
}
