"""NumPy's huge-page advice, off while data prep runs.

NumPy asks the kernel for transparent huge pages (madvise) for every array of 4 MB or more. Where
the kernel's THP defrag setting is `madvise` (the default of Debian and Ubuntu) and free memory is
fragmented, as it is once the page cache holds a large input file, every such allocation waits for
the kernel to compact memory: on a 2-core machine a fresh 80 MB array took 190 ms where regular
pages took 25 ms. Data prep makes a few dozen arrays of a row per input row, each filled once and
read a few times, so huge pages buy it nothing and the stalls were a third of its time at 10M rows
(benchmarks/prep_scale.py). See NumPy's "Global state" documentation, which names this switch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

try:
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # NumPy 1.26, before the module's rename
    from numpy.core.multiarray import _set_madvise_hugepage


@contextmanager
def regular_pages() -> Iterator[None]:
    """Arrays allocated inside the block use regular pages; the earlier setting returns after it."""
    before = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(before)
