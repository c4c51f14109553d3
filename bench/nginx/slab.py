"""Reads the slab allocator statistics of a running nginx's shared zones.

An nginx shared zone is a MAP_SHARED|MAP_ANONYMOUS mapping (shown as
`/dev/zero (deleted)` in /proc/PID/maps) that starts with nginx's
ngx_slab_pool_t. The master maps it before forking, so every process has it
at the same address and the pool's pointers are absolute addresses inside
the mapping. We read the pool header and its per-size statistics from
/proc/PID/mem (root may read any process's memory) without taking the
zone's lock: read it when nothing is writing, and treat it as a snapshot.

Layout of nginx 1.22.1 on x86_64 (src/core/ngx_slab.h), 8-byte words:

    ngx_shmtx_sh_t    lock;        0  (lock, wait)
    size_t            min_size;   16
    size_t            min_shift;  24
    ngx_slab_page_t  *pages;      32
    ngx_slab_page_t  *last;       40
    ngx_slab_page_t   free;       48  (slab, next, prev)
    ngx_slab_stat_t  *stats;      72
    ngx_uint_t        pfree;      80
    u_char           *start;      88
    u_char           *end;        96

ngx_slab_stat_t is {total, used, reqs, fails}, one per slot size from
min_size (8) to half a page (2048), i.e. pagesize_shift - min_shift entries.
Allocations of more than half a page take whole pages and appear only in
pfree.
"""

import re
import struct

PAGE = 4096
PAGE_SHIFT = 12


def shared_mappings(pid):
    """[(start, size)] of the shared anonymous mappings of `pid`."""
    result = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 6 or not fields[1].endswith("s"):
                continue
            if not line.rstrip().endswith("/dev/zero (deleted)"):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            result.append((lo, hi - lo))
    return result


class SlabStats:
    """One reading of a zone: pages, free pages, and per-slot-size counts."""

    def __init__(self, size, total_pages, free_pages, slots):
        self.size = size                # bytes of the mapping
        self.total_pages = total_pages  # pages the allocator manages
        self.free_pages = free_pages
        self.slots = slots              # [(slot_size, total, used, reqs, fails)]

    @property
    def used_pages(self):
        return self.total_pages - self.free_pages

    @property
    def slot_bytes_used(self):
        """Bytes in used slots (each allocation rounded up to its slot size)."""
        return sum(size * used for size, _, used, _, _ in self.slots)

    @property
    def fails(self):
        return sum(s[4] for s in self.slots)

    def as_dict(self):
        return {
            "size": self.size,
            "total_pages": self.total_pages,
            "free_pages": self.free_pages,
            "used_pages": self.used_pages,
            "slot_bytes_used": self.slot_bytes_used,
            "slots": {s[0]: {"total": s[1], "used": s[2], "reqs": s[3], "fails": s[4]}
                      for s in self.slots},
        }


def read_zone(pid, start, size):
    """SlabStats of the zone mapped at `start` (length `size`) in `pid`."""
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        def read(addr, length):
            mem.seek(addr)
            return mem.read(length)

        header = read(start, 104)
        (_lock, _wait, min_size, min_shift, pages, _last, _fslab, _fnext, _fprev,
         stats_ptr, pfree, pstart, pend) = struct.unpack("<13Q", header)
        if not (start <= pages < start + size and start <= pstart <= pend <= start + size
                and min_size == 1 << min_shift):
            raise ValueError("no nginx slab pool at 0x%x (size %d)" % (start, size))
        count = PAGE_SHIFT - min_shift
        raw = read(stats_ptr, 32 * count)
        slots = []
        for i in range(count):
            total, used, reqs, fails = struct.unpack_from("<4Q", raw, 32 * i)
            slots.append((min_size << i, total, used, reqs, fails))
        return SlabStats(size, (pend - pstart) // PAGE, pfree, slots)


def read_zone_of_size(pid, size):
    """SlabStats of the one shared zone of exactly `size` bytes in `pid`."""
    matches = [(lo, sz) for lo, sz in shared_mappings(pid) if sz == size]
    if len(matches) != 1:
        raise ValueError("pid %d has %d shared zones of %d bytes: %s" %
                         (pid, len(matches), size, shared_mappings(pid)))
    return read_zone(pid, *matches[0])


def parse_size(text):
    """nginx's size syntax: 256k, 1m, 4096."""
    m = re.match(r"^(\d+)([kKmM]?)$", text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
