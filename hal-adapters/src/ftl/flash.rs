//! The flash the FTL runs on: any embedded-storage-async `NorFlash`. A blocking
//! embedded-storage flash joins through [`Blocking`] (its futures are ready at once),
//! and [`block_on`] runs an FTL call to the end on a thread or in a ring's issue.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use embedded_storage_async::nor_flash as asyn;

/// A blocking embedded-storage NOR flash as an async one whose operations complete at
/// once.
#[derive(Debug)]
pub struct Blocking<F>(pub F);

impl<F: ErrorType> ErrorType for Blocking<F> {
    type Error = F::Error;
}

impl<F: ReadNorFlash> asyn::ReadNorFlash for Blocking<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<F: NorFlash> asyn::NorFlash for Blocking<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, bytes)
    }
}

/// Run `fut` to completion, polling it in a loop with a no-op waker. Over a
/// [`Blocking`] flash every FTL future is ready at the first poll; over a flash whose
/// operations another thread completes (a simulator's DMA engine) this spins until it
/// has. Firmware with a real async flash awaits the FTL's futures on its executor
/// instead.
pub fn block_on<T>(fut: impl Future<Output = T>) -> T {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        core::hint::spin_loop();
    }
}

/// Poll `fut` once: `Some` if it finished.
pub(crate) fn poll_once<T>(fut: impl Future<Output = T>) -> Option<T> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
