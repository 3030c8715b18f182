"""Regular memory pages, not transparent huge pages, for data prep's arrays: NumPy's and Arrow's.

NumPy asks the kernel for transparent huge pages (madvise) for every array of 4 MB or more, and
pyarrow's default allocator (mimalloc in its Linux wheels) gets them for its arenas too. Where the
kernel's THP setting is `madvise` (the default of Debian and Ubuntu), a fault on such memory must
find, and may first have to compact, 2 MB of free contiguous memory, which is slow when free
memory is fragmented or, in a virtual machine, not yet backed by the host. Data prep makes a few
dozen arrays of a row per input row, each filled once and read a few times, so huge pages buy it
little and their faults made its time swing from run to run. benchmarks/prep_scale.py
--huge-pages, 10M rows, best of 5 alternated runs (2026-12-06): prepare took 1.84x (invoice lines)
and 1.22x (ISO-text log) as long with both defaults left on. pyarrow's read alone of the invoice
file took 0.93 to 2.41 s with its default allocator, 1.09 to 1.21 s with the system one: where
huge-page faults are cheap, the default reads faster, and that is what the switch gives up.

NumPy documents the NUMPY_MADVISE_HUGEPAGE variable, read once at import; the switch it sets is
the private `_set_madvise_hugepage`, used here so the step needs no environment of its own.
Arrow's pool is switched with pyarrow's public `set_memory_pool`, the pool pyarrow's functions
take when given none; a buffer is freed by the pool that made it, so arrays made inside the block
may outlive it. Arrow's C++ code that takes no pool (a chunked column's `to_numpy`, the Parquet
writer's dictionary encoder) still uses Arrow's own default, huge pages and all: the 10M-row path
converts chunk by chunk instead (data.timestamps, data.identifiers) and writes no dictionary for
columns whose values never repeat (data.prepared_data). Both settings are process-wide: the
block is not for threads that run work of their own beside it (each pipeline step runs in its own
process). The other steps keep both defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

try:
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # NumPy < 2 without the numpy._core compatibility stub (1.26.0)
    from numpy.core.multiarray import _set_madvise_hugepage


@contextmanager
def regular_pages() -> Iterator[None]:
    """Arrays allocated inside the block use regular pages; the earlier settings return after it."""
    advice = _set_madvise_hugepage(False)
    pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(pool)
        _set_madvise_hugepage(advice)
