#!/bin/bash
# Side-by-side 4 KiB random read/write at QD 1 and 32: fwring-sim serve vs qemu-nbd vs nbdkit memory (fio nbd engine), and fwring-sim run.
set -u
SIM=${SIM:-target/release/fwring-sim}  # cargo build --release -p fwring-sim; needs fio, qemu-utils, nbdkit, libnbd-bin
RT=${RT:-6}
D=/dev/shm/fwbench; rm -rf $D; mkdir -p $D
cleanup() { kill $P1 $P2 $P3 2>/dev/null; wait 2>/dev/null; rm -rf $D; }
trap cleanup EXIT
$SIM serve --no-latency --flash $D/fw.img --size 64M --nbd 127.0.0.1:10941 > $D/serve.log 2>&1 & P1=$!
sleep 2
SIZE=$(nbdinfo --size nbd://127.0.0.1:10941/fwring)
head -c $SIZE /dev/urandom > $D/q.img
nbdcopy $D/q.img nbd://127.0.0.1:10941/fwring
qemu-nbd -f raw --cache=writeback -b 127.0.0.1 -p 10942 -t $D/q.img & P2=$!
nbdkit -f -i 127.0.0.1 -p 10943 memory size=$SIZE & P3=$!
sleep 1
nbdcopy $D/q.img nbd://127.0.0.1:10943/
echo "export size $SIZE"
for rw in randread randwrite; do for qd in 1 32; do
  for t in "fwring-sim serve:10941" "qemu-nbd:10942" "nbdkit memory:10943"; do
    name=${t%%:*}; port=${t##*:}
    out=$(fio --name=j --ioengine=nbd --uri=nbd://127.0.0.1:$port/ --rw=$rw --bs=4k --iodepth=$qd --runtime=$RT --time_based --output-format=json 2>/dev/null)
    echo "$out" | python3 -c "
import json,sys
s=sys.stdin.read(); j=json.loads(s[s.index('{'):])['jobs'][0]; k='read' if '$rw'=='randread' else 'write'
p=j[k]['clat_ns']['percentile']
print('%-10s QD%-3s %-17s %9.0f IOPS  p50 %7.1f us  p99 %7.1f us' % ('$rw','$qd','$name (fio)',j[k]['iops'],p['50.000000']/1e3,p['99.000000']/1e3))"
  done
done; done
kill $P1; wait $P1 2>/dev/null
for rw in randwrite randread; do for qd in 1 32; do
  $SIM run --no-latency --flash $D/fw.img --rw $rw --qd $qd --duration $RT --json 2>/dev/null | python3 -c "
import json,sys
j=json.load(sys.stdin); l=j['latency_us']
print('%-10s QD%-3s %-17s %9.0f IOPS  p50 %7.1f us  p99 %7.1f us' % ('$rw','$qd','fwring-sim run',j['iops'],l['p50'],l['p99']))"
done; done
