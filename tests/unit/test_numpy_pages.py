"""NumPy's huge-page advice is off inside data prep and as it was after, on error too."""

import pytest
from recs_pipeline.core import numpy_pages


def current() -> bool:
    setting = numpy_pages._set_madvise_hugepage(False)
    numpy_pages._set_madvise_hugepage(setting)
    return setting


@pytest.mark.parametrize("before", [True, False])
def test_regular_pages_inside_the_block_and_the_earlier_setting_after(before):
    earlier = numpy_pages._set_madvise_hugepage(before)
    try:
        with numpy_pages.regular_pages():
            assert current() is False
        assert current() is before
        with pytest.raises(RuntimeError), numpy_pages.regular_pages():
            raise RuntimeError("a failed prepare")
        assert current() is before
    finally:
        numpy_pages._set_madvise_hugepage(earlier)
