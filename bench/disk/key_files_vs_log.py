"""Do the personal-data key table's syncs slow the log's? A log-like loop
(2 KiB pwrite + fdatasync into a zero-filled file) for 30 s, alone and
with a second thread making 16 key files (32 bytes each, each fsynced)
and syncing their directory 2.1 times a second (34 keys/s, the
celine-2016 spike's checkout rate). Prints the loop's syncs and latency.

Usage: python3 bench/disk/key_files_vs_log.py [REPEATS]  (default 2; files
in a temporary directory under SYNC_DIR, default the current directory)."""
import os, shutil, sys, tempfile, threading, time
D = tempfile.mkdtemp(prefix="key-files-", dir=os.environ.get("SYNC_DIR", "."))
SIZE = 64 << 20
def keyer(keys, stop):
    n = 0
    while not stop[0]:
        started = time.time()
        for i in range(16):
            fd = os.open(os.path.join(keys, f"{n}-{i}.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, os.urandom(32)); os.fsync(fd); os.close(fd)
        dfd = os.open(keys, os.O_RDONLY); os.fsync(dfd); os.close(dfd)
        n += 1
        time.sleep(max(0, 16 / 34 - (time.time() - started)))
def run(label, wal, with_keys, secs=30):
    keys = tempfile.mkdtemp(dir=D); stop = [False]
    helper = threading.Thread(target=keyer, args=(keys, stop)) if with_keys else None
    if helper: helper.start()
    lat, off, end = [], 0, time.time() + secs
    while time.time() < end:
        t = time.perf_counter()
        os.pwrite(wal, os.urandom(2048), off); os.fdatasync(wal)
        lat.append(time.perf_counter() - t)
        off = (off + 4096) % SIZE
    stop[0] = True
    if helper: helper.join()
    shutil.rmtree(keys)
    lat.sort(); q = lambda p: lat[int(len(lat) * p)] * 1e3
    print(f"{label:10s} {len(lat):7d} syncs  p50 {q(.5):.3f}  p99 {q(.99):.3f}  p99.9 {q(.999):.3f} ms")
try:
    wal = os.open(os.path.join(D, "wal"), os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(wal, b"\0" * SIZE, 0); os.fsync(wal)
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2):
        run("alone", wal, False)
        run("with keys", wal, True)
finally:
    shutil.rmtree(D)
