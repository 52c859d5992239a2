//! The demo's storage-device section: a device process behind the shared-memory queue,
//! a few block requests, a power cut, the data still there.

use std::io;
use std::time::{Duration, Instant};

use crate::driver::{DeviceProcessConfig, Driver, Kind};
use crate::flash::{self, Faults, Geometry, Latency, Layer};
use crate::narrate::Demo;

/// Run the section on a scratch flash image (removed afterwards).
pub(crate) fn storage(d: &mut Demo<'_>) -> io::Result<()> {
    d.step(
        "A storage device: firmware in one process, the host driver in another",
        "fwring-sim starts a device process: its ring runs feed -> submit -> flush on a shared-memory\n\
         queue pair, with the device's op table (fwring-storage-firmware, which also builds for Cortex-M):\n\
         a block op whose requests go as PendingIo to a flash-controller thread that completes them\n\
         through the Completer, and a DMA op between the host's data window and device RAM. The block\n\
         layer is fwring-hal's power-safe flash translation layer over a NOR flash image file.",
    )?;
    let path = std::env::temp_dir().join(format!("fwring-demo-{}.img", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let g = Geometry { layer: Layer::Ftl, erase_size: 4096, block_size: 512, image_size: 2 << 20 };
    flash::create(&path, g).map_err(io::Error::other)?;
    let r = run(d, &path);
    let _ = std::fs::remove_file(&path);
    r
}

fn run(d: &mut Demo<'_>, path: &std::path::Path) -> io::Result<()> {
    let cfg = DeviceProcessConfig {
        flash: path.to_path_buf(),
        latency: Latency::ZERO,
        faults: Faults::default(),
        seed: 1,
        verbose: false,
        trace: None,
    };
    let drv = Driver::start(cfg).map_err(io::Error::other)?;
    let first = drv.device_pid();
    writeln!(d.out, "   device process up; it exports {} bytes in {}-byte blocks", drv.size, drv.block_size)?;
    let data: Vec<u8> = b"fwring!\n".iter().copied().cycle().take(4096).collect();
    drv.call(Kind::Write { fua: true }, 8192, 4096, data.clone()).map_err(io::Error::other)?;
    writeln!(d.out, "   WRITE 4 KiB at 8192 with FUA: chain DMA FROM_HOST -> BLOCK WRITE, acknowledged")?;
    let back = drv.call(Kind::Read, 8192, 4096, Vec::new()).map_err(io::Error::other)?;
    let text = String::from_utf8_lossy(&back[..7]);
    writeln!(d.out, "   READ it back: chain BLOCK READ -> DMA TO_HOST: {text:?}…, equal: {}", back == data)?;
    // SAFETY: kill with a pid this process started and a signal number.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    writeln!(d.out, "   kill -9 the device process (a power cut): the host restarts it on the same image")?;
    let t0 = Instant::now();
    while drv.device_pid() == first && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let back = loop {
        match drv.call(Kind::Read, 8192, 4096, Vec::new()) {
            Ok(b) => break b,
            Err(_) if t0.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(io::Error::other(e)),
        }
    };
    writeln!(d.out, "   after the restart: READ gives the same bytes: {}", back == data)?;
    writeln!(
        d.out,
        "   Serve it to real clients over NBD:\n     fwring-sim serve --flash disk.img --size 64M\n     \
         qemu-io -f raw nbd://127.0.0.1:10809/fwring -c 'write -P 0xab 0 64k' -c 'read -P 0xab 0 64k'"
    )?;
    Ok(())
}
