"""Does a second sync in flight buy anything on this disk? In one sitting:
one thread doing pwrite 4 KiB + fdatasync in a loop (as the log's writer
does), two threads doing the same on their own zero-filled files, two on
one file, and one thread with O_DSYNC writes instead of fdatasync.

Usage: python3 bench/disk/sync_overlap.py [REPEATS]  (default 2; 8 s a
case; files in a temporary directory under SYNC_DIR, default the current
directory, which must be on the disk under test)."""
import os, shutil, sys, tempfile, threading, time
D = tempfile.mkdtemp(prefix="sync-overlap-", dir=os.environ.get("SYNC_DIR", "."))
SIZE = 64 << 20
def prep(name, flags=0):
    p = os.path.join(D, name)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(fd, b"\0" * SIZE, 0); os.fsync(fd); os.close(fd)
    return os.open(p, os.O_RDWR | flags)
def loop(fd, start, lat, stop, dsync=False):
    off = start
    buf = os.urandom(4096)
    while not stop[0]:
        t = time.perf_counter()
        os.pwrite(fd, buf, off)
        if not dsync: os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
        off = (off + 8192) % SIZE
def run(label, fds, secs=8, dsync=False):
    stop = [False]; lats = [[] for _ in fds]
    ths = [threading.Thread(target=loop, args=(fd, i * 4096, lats[i], stop, dsync)) for i, fd in enumerate(fds)]
    for t in ths: t.start()
    time.sleep(secs); stop[0] = True
    for t in ths: t.join()
    allv = sorted(x for l in lats for x in l)
    n = len(allv)
    print(f"{label:32s} {n/secs:8.0f} syncs/s  p50 {allv[n//2]*1e3:.3f} ms  p99 {allv[int(n*.99)]*1e3:.3f} ms")
a = prep("a"); b = prep("b"); c = prep("c", os.O_DSYNC)
try:
    for rep in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2):
        run("1 writer", [a])
        run("2 writers, own files", [a, b])
        run("2 writers, one file", [a, a])
        run("1 writer, O_DSYNC writes", [c], dsync=True)
finally:
    shutil.rmtree(D)
