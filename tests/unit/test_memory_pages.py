"""NumPy's huge-page advice is off and Arrow allocates with the system allocator inside data prep;
both are as they were after, on error too."""

import pyarrow as pa
import pytest
from recs_pipeline.core import memory_pages


def numpy_advice() -> bool:
    setting = memory_pages._set_madvise_hugepage(False)
    memory_pages._set_madvise_hugepage(setting)
    return setting


@pytest.mark.parametrize("before", [True, False])
def test_regular_pages_inside_the_block_and_the_earlier_settings_after(before):
    earlier = memory_pages._set_madvise_hugepage(before)
    pool = pa.default_memory_pool()
    try:
        with memory_pages.regular_pages():
            assert numpy_advice() is False
            assert pa.default_memory_pool().backend_name == "system"
            inside = pa.array(range(1000))
        assert numpy_advice() is before
        assert pa.default_memory_pool().backend_name == pool.backend_name
        assert inside.sum().as_py() == 499500  # made by the system pool, still readable after the block
        with pytest.raises(RuntimeError), memory_pages.regular_pages():
            raise RuntimeError("a failed prepare")
        assert numpy_advice() is before
        assert pa.default_memory_pool().backend_name == pool.backend_name
    finally:
        memory_pages._set_madvise_hugepage(earlier)
