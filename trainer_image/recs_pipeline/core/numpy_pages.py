"""NumPy's huge-page advice, off while data prep runs.

NumPy asks the kernel for transparent huge pages (madvise) for every array of 4 MB or more. Where
the kernel's THP defrag setting is `madvise` (the default of Debian and Ubuntu) and free memory is
fragmented, as it is once the page cache holds a large input file, such an allocation can wait for
the kernel to compact memory, for many times what filling the array costs. Data prep makes a few
dozen arrays of a row per input row, each filled once and read a few times, so huge pages buy it
nothing: with them on, prepare took 1.29x (invoice lines) and 1.13x (ISO-text log) as long at 10M
rows (benchmarks/prep_scale.py --huge-pages). The other steps keep NumPy's default.

NumPy documents the NUMPY_MADVISE_HUGEPAGE variable, read once at import; the switch it sets is
the private `_set_madvise_hugepage`, used here so the step needs no environment of its own. The
setting is process-wide: the block is not for threads that run numpy work of their own beside it
(each pipeline step runs in its own process).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

try:
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # NumPy < 2 without the numpy._core compatibility stub (1.26.0)
    from numpy.core.multiarray import _set_madvise_hugepage


@contextmanager
def regular_pages() -> Iterator[None]:
    """Arrays allocated inside the block use regular pages; the earlier setting returns after it."""
    before = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(before)
