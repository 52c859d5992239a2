//! The FTL as ring ops, with the SQE encoding of [`crate::blk`]: a host driver cannot
//! tell which block layer is behind the slot.
//!
//! | command | A | B | `len` | `file_index` | flags | CQE `res` |
//! |---|---|---|---|---|---|---|
//! | [`cmd::READ`] | — | required | LBA | 0 | — | bytes read |
//! | [`cmd::WRITE`] | required | — | LBA | 0 | `CHAIN_LEN`, [`FUA`](crate::blk::FUA) | bytes written |
//! | [`cmd::FLUSH`] | — | — | 0 | 0 | — | 0 |
//! | [`cmd::DISCARD`] | — | — | LBA | block count | — | 0 |
//! | [`cmd::BLOCKS`] | — | — | 0 | 0 | — | number of blocks |
//!
//! Checked at prep, as `blk` does: the transfer length must be a non-zero multiple of
//! the block size and every destination segment a multiple of the flash's `READ_SIZE`
//! (-EINVAL); the blocks must lie inside the device (-EFAULT). At issue: -ENOSPC when
//! garbage collection finds no room, -EIO for a block whose CRC fails, flash errors
//! through their kind. Build SQEs with [`crate::blk::read`], [`crate::blk::write`],
//! [`crate::blk::write_fua`], [`crate::blk::flush`], [`crate::blk::discard`],
//! [`crate::blk::blocks`].

use core::marker::PhantomData;

use embedded_storage::nor_flash::NorFlash as BlockingNorFlash;
use embedded_storage_async::nor_flash::NorFlash;
use fwring::{Errno, Issue, IssueCx, Op, PrepCx, Sqe};

pub use crate::blk::cmd;
use crate::blk::{check_command, check_transfer};
use crate::driver::StaticDriver;
use crate::io::{self, Done};
use crate::nor::check_range;
use crate::sqe::{self, Args, Use};

use super::Ftl;
use super::flash::{Blocking, poll_once};

/// The FTL op over a blocking flash: each request runs to the end in `issue`.
pub struct FtlBlock<D>(PhantomData<D>);

op_debug!(FtlBlock);

/// What prep needs to know of the device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub block_size: u64,
    pub blocks: u64,
    pub read_size: usize,
}

impl Shape {
    pub(crate) fn of<F: NorFlash>(f: &Ftl<F>) -> Self {
        Shape { block_size: u64::from(f.block_size()), blocks: u64::from(f.blocks()), read_size: F::READ_SIZE }
    }
}

/// Check an FTL SQE (the `blk` encoding) and import its buffers.
pub(crate) fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe, g: Shape) -> Result<Args, Errno> {
    let command = check_command(cx, sqe)?;
    let (a, b) = match command {
        cmd::READ => (Use::No, Use::Required),
        cmd::WRITE => (Use::Required, Use::No),
        _ => (Use::No, Use::No),
    };
    let p = sqe::parse(cx, sqe, a, b)?;
    let lba = u64::from(p.args.arg0);
    check_transfer(cx, &p, command, g.block_size, g.blocks, g.read_size)?;
    if command == cmd::DISCARD {
        let count = u64::from(p.args.arg1);
        if count == 0 {
            return Err(Errno::EINVAL);
        }
        check_range(g.blocks as usize, lba, count)?;
    }
    Ok(p.args)
}

/// Carry out one request on `ftl` with its buffers in place: `src` (descriptor A's
/// segments), `dst` (B's). Returns the CQE result (bytes moved, 0, or the block
/// count). This is what a worker or a simulator's DMA-engine thread runs for a
/// request it took as a [`fwring::PendingIo`].
pub async fn serve<F: NorFlash>(
    ftl: &mut Ftl<F>,
    args: &Args,
    src: &[&[u8]],
    dst: &mut [&mut [u8]],
) -> Result<usize, Errno> {
    let lba = args.arg0();
    let r = match args.cmd() {
        cmd::READ => ftl.read(lba, dst).await.map(|()| dst.iter().map(|s| s.len()).sum()),
        cmd::WRITE => ftl.write(lba, src).await.map(|()| src.iter().map(|s| s.len()).sum()),
        cmd::FLUSH => ftl.flush().await.map(|()| 0),
        cmd::DISCARD => ftl.discard(lba, args.arg1()).await.map(|()| 0),
        cmd::BLOCKS => Ok(ftl.blocks() as usize),
        _ => return Err(Errno::EINVAL),
    };
    r.map_err(|e| e.errno())
}

impl<D, F> Op for FtlBlock<D>
where
    D: StaticDriver<Hal = Ftl<Blocking<F>>>,
    F: BlockingNorFlash + 'static,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        let g = D::with(|f| Shape::of(f))?;
        prep(cx, sqe, g)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let args = *args;
        io::run(cx, &args, |v| {
            D::with(|ftl| {
                let src = v.src.as_ref().map(|s| s.slices()).unwrap_or_default();
                let mut none: [&mut [u8]; 0] = [];
                let dst = match v.dst.as_mut() {
                    Some(d) => d.slices_mut(),
                    None => &mut none[..],
                };
                // A `Blocking` flash finishes every operation at the first poll.
                let n = poll_once(serve(ftl, &args, src, dst)).ok_or(Errno::EIO)??;
                let produced = (args.cmd() == cmd::READ).then_some(n);
                Ok(Done { res: n, produced })
            })?
        })
    }
}
