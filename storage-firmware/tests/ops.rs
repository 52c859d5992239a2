//! The device's op table in a real ring: the async block op hands its jobs to a flash
//! controller (here the test itself), the DMA op moves data between the host window and
//! staging, and prep refuses bad SQEs with the Linux errno.

use std::sync::Mutex;

use fwring::{BufDesc, Cqe, Errno, OpVTable, Region, Ring, Setup, SetupFlags, SqeFlags};
use fwring_hal::sim::MemFlash;
use fwring_storage_firmware::*;

static JOBS: Mutex<Vec<Job>> = Mutex::new(Vec::new());
static WINDOW: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Port;
impl FlashPort for Port {
    fn geometry() -> Result<Geometry, Errno> {
        Ok(Geometry { block_size: 512, blocks: 64 })
    }
    fn start(job: Job) {
        JOBS.lock().unwrap().push(job);
    }
}

struct Win;
impl HostMemory for Win {
    fn read(off: u64, dst: &mut [u8]) -> Result<(), Errno> {
        let w = WINDOW.lock().unwrap();
        let src = w.get(off as usize..off as usize + dst.len()).ok_or(Errno::EFAULT)?;
        dst.copy_from_slice(src);
        Ok(())
    }
    fn write(off: u64, src: &[u8]) -> Result<(), Errno> {
        let mut w = WINDOW.lock().unwrap();
        w.get_mut(off as usize..off as usize + src.len()).ok_or(Errno::EFAULT)?.copy_from_slice(src);
        Ok(())
    }
}

static BLOCK: OpVTable = OpTable::<Port, Win>::BLOCK;
static DMA: OpVTable = OpTable::<Port, Win>::DMA;

#[test]
fn write_and_read_chains_complete_through_the_flash_controller() {
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i * 13 + 5) as u8).collect();
    *WINDOW.lock().unwrap() = [pattern.clone(), vec![0; 4096]].concat();
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL)).unwrap();
    ring.register_op(&BLOCK).unwrap();
    ring.register_op(&DMA).unwrap();
    ring.register_buffers([Region::new(vec![0u8; 8192].leak())]).unwrap();
    let flash: MemFlash<1, 4096> = MemFlash::new(vec![0xffu8; 64 * 512].leak());
    let mut dev = BlockDev::with_cache(flash, 512, vec![0u8; 4096].leak()).unwrap();
    let (mut sub, mut reaper, completer) = ring.split();
    let mut run = |sqes: &[fwring::Sqe]| -> Vec<Cqe> {
        for s in sqes {
            sub.push(*s).unwrap();
        }
        let _ = sub.submit();
        // The flash controller: every queued job, then the ring picks the completions up.
        let jobs: Vec<Job> = std::mem::take(&mut *JOBS.lock().unwrap());
        for mut job in jobs {
            let res = execute(&mut dev, &mut job);
            job.io.complete(&completer, res).unwrap();
        }
        let _ = sub.submit();
        let _ = sub.submit();
        std::iter::from_fn(|| reaper.pop()).collect()
    };
    let staging = BufDesc::kfixed(0, 0, 4096);
    let back = BufDesc::kfixed(0, 4096, 4096);
    // Write: window 0 -> staging -> LBA 8 (FUA); read: LBA 8 -> staging 4096 -> window 4096.
    let c = run(&[from_host(0, &staging).user_data(1).flags(SqeFlags::IO_LINK), write(8, &staging, true).user_data(2)]);
    assert_eq!(c, [Cqe::new(1, 4096), Cqe::new(2, 4096)]);
    let c = run(&[read(8, &back).user_data(3).flags(SqeFlags::IO_LINK), to_host(4096, &back).user_data(4)]);
    assert_eq!(c, [Cqe::new(3, 4096), Cqe::new(4, 4096)]);
    assert!(WINDOW.lock().unwrap()[4096..] == pattern[..]);
    assert_eq!(run(&[flush().user_data(5), blocks().user_data(6)]), [Cqe::new(5, 0), Cqe::new(6, 64)]);
    assert_eq!(run(&[discard(8, 8).user_data(7)]), [Cqe::new(7, 0)]);

    // Bad SQEs: the errno at prep, nothing reaches the flash controller.
    let odd = BufDesc::kfixed(0, 0, 100);
    let mut unknown = flush().user_data(13);
    unknown.op_flags = (slot::BLOCK as u32) << 24 | 9 << 16;
    let mut bad_flag = flush().user_data(14);
    bad_flag.op_flags |= 1 << 5;
    let c = run(&[
        write(8, &odd, false).user_data(10),                    // not whole blocks
        write(62, &staging, false).user_data(11),               // past the end (64 blocks)
        read(0, &BufDesc::kfixed(0, 8000, 4096)).user_data(12), // outside the staging region
        unknown,                                                // unknown command
        bad_flag,                                               // unknown flag
        discard(0, 0).user_data(15),                            // zero count
        to_host(1 << 20, &staging).user_data(16),               // outside the host window (at issue)
    ]);
    let res: Vec<(u64, i32)> = c.iter().map(|c| (c.user_data, c.res)).collect();
    let (inval, fault) = (Errno::EINVAL.res(), Errno::EFAULT.res());
    assert_eq!(res, [(10, inval), (11, fault), (12, fault), (13, inval), (14, inval), (15, inval), (16, fault)]);
}
