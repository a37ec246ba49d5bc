"""Shared test fixtures: small pieces of a real brain volume (MNI152 2009a T1).

``mni_volume``: the whole training volume as the study loads it (RAS, robustly normalised
to [0, 1], cropped to the head), loaded once per session.
``mni_crop``: a 48^3 cube from the middle of the brain (float32, [0, 1]), for tests that
need real anatomy but must stay fast on 2 CPU cores. Both are read-only: copy before
changing them.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mni_volume() -> np.ndarray:
    """The normalised MNI152 training volume (about 149 x 185 x 157), float32 in [0, 1]."""
    from arssr_core.data.prepare import training_head

    data = np.ascontiguousarray(training_head("mni152").data, dtype=np.float32)
    data.setflags(write=False)
    return data


@pytest.fixture(scope="session")
def mni_crop(mni_volume: np.ndarray) -> np.ndarray:
    """A 48^3 cube at the centre of the head (mostly brain tissue), float32 in [0, 1]."""
    c = [n // 2 for n in mni_volume.shape]
    crop = np.ascontiguousarray(mni_volume[tuple(slice(m - 24, m + 24) for m in c)], dtype=np.float32)
    crop.setflags(write=False)
    return crop


@pytest.fixture
def seeded():
    """Seed torch and numpy's global generators (returns the seed) for tests that build models."""
    import torch

    torch.manual_seed(0)
    np.random.seed(0)
    return 0


@pytest.fixture
def one_thread():
    """Run a test with one torch intra-op thread (restored afterwards).

    Small convolutions on a shared 2-core machine are many times faster single-threaded
    (thread oversubscription); use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def write_notebook(path, *code: str) -> None:
    """A runnable notebook at ``path``: a ``parameters`` cell (``profile``), then ``code`` cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('profile = "x"')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, *(nbformat.v4.new_code_cell(c) for c in code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
