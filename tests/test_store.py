"""Results stored under a key of what produced them (issue 36 item 2): the same inputs by
content give the stored result, any changed input or code computes it again, and nothing is
kept without a store."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from arssr_core import store
from arssr_core.metrics.uncertainty import BlockTerms, block_terms, brain_blocks

CALLS: list[str] = []


@dataclass
class Pair:
    a: np.ndarray
    note: str = field(default="", metadata={"store_key": False})


@store.stored("arssr_core.store", ignore=("what",))
def _work(x: np.ndarray, pair: Pair | None = None, k: int = 2, what: str = "") -> tuple[np.ndarray, float]:
    CALLS.append(what)
    return x * k, float(x.sum())


@pytest.fixture()
def kept(tmp_path, monkeypatch):
    monkeypatch.setenv(store.ENV, str(tmp_path / "store"))
    CALLS.clear()
    return tmp_path / "store"


def test_without_a_store_every_call_computes(monkeypatch):
    monkeypatch.delenv(store.ENV, raising=False)
    CALLS.clear()
    x = np.arange(4.0)
    _work(x)
    _work(x)
    assert len(CALLS) == 2


def test_equal_inputs_by_content_take_the_stored_result_and_any_change_computes_again(kept):
    x = np.arange(6.0).reshape(2, 3)
    first = _work(x, Pair(np.ones(2), "made now"), what="first")
    again = _work(x.copy(), Pair(np.ones(2), "made later"), k=2, what="second")  # a label and a note: not the key
    assert CALLS == ["first"] and isinstance(again, tuple)
    np.testing.assert_array_equal(again[0], first[0])
    assert again[1] == first[1] == 15.0 and len(list(kept.rglob("*.npz"))) == 1
    y = x.copy()
    y[1, 2] = 5.5  # one element
    _work(y, Pair(np.ones(2)))
    _work(x, Pair(np.array([1.0, 2.0])))  # a field of an argument
    _work(x, Pair(np.ones(2)), k=3)  # a plain argument
    _work(x.astype(np.float32), Pair(np.ones(2)))  # the dtype
    assert len(CALLS) == 5


def test_an_edit_of_the_producing_code_computes_again(kept, monkeypatch):
    x = np.arange(3.0)
    _work(x)
    monkeypatch.setitem(store._CODE, "arssr_core.store", "edited")
    _work(x)
    assert len(CALLS) == 2


def test_a_damaged_entry_is_computed_again(kept):
    x = np.arange(3.0)
    _work(x)
    (entry,) = kept.rglob("*.npz")
    entry.write_bytes(b"half written")
    out = _work(x)
    assert len(CALLS) == 2 and out[1] == 3.0


def test_block_terms_come_back_from_the_store_as_they_were_computed(kept):
    rng = np.random.default_rng(0)
    gt = rng.random((32, 32, 32))
    sr = gt + 0.05 * rng.standard_normal(gt.shape)
    blocks = brain_blocks(gt > 0.2, 16, 0.5)
    fresh = block_terms.uncached(sr, gt, blocks, 1.0)
    block_terms(sr, gt, blocks, 1.0)
    back = block_terms(sr, gt, blocks, 1.0)
    assert isinstance(back, BlockTerms) and back.data_range == fresh.data_range
    for name in ("sse", "ssim_sum", "n"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fresh, name))
    assert len(list(kept.rglob("*.npz"))) == 1


def test_an_argument_the_key_cannot_describe_is_refused(kept):
    with pytest.raises(TypeError, match="cannot hash an argument of type object"):
        _work(np.arange(2.0), k=object())
