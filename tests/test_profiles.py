"""A profile is loaded once and passed down as one object (issue 36 item 3)."""

from __future__ import annotations

import json
import pickle

import pytest

from arssr_core import profiles
from arssr_core.errors import ArssrError
from arssr_core.profiles import OVERRIDES_ENV, Profile, load_profile


def test_a_profile_is_its_name_and_is_read_once(tmp_path, monkeypatch):
    p = Profile("smoke")
    assert p == "smoke" and isinstance(p, str) and f"results/{p}" == "results/smoke"
    assert load_profile(p) == load_profile("smoke") and Profile(p) is p
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)  # the YAML files gone
    with pytest.raises(ArssrError, match="unknown profile 'smoke'"):
        load_profile("smoke")  # a name is read from disk ...
    assert load_profile(p)["eval"] == p.settings["eval"]  # ... a Profile is not read again
    q = pickle.loads(pickle.dumps(p))  # e.g. into a data-loader worker: settings travel with it
    assert q == "smoke" and q.settings == p.settings


def test_a_copy_handed_out_cannot_change_the_profile():
    p = Profile("smoke")
    before = json.dumps(p.settings, sort_keys=True)
    load_profile(p)["eval"]["precision"] = "changed by a caller"
    assert json.dumps(p.settings, sort_keys=True) == before


def test_an_override_of_the_profile_object_reaches_the_code_that_reads_it(monkeypatch):
    from arssr_core.study.book import _banner

    assert _banner(Profile("cpu")) == ""
    flagged = Profile("cpu", {"plumbing_only": True})  # as --params would set it, but on the object
    assert flagged == "cpu" and _banner(flagged) != ""  # the library reads the object, not the file
    assert _banner(Profile(flagged, {"eval.precision": "bf16"})) != ""  # overrides stack
    monkeypatch.setenv(OVERRIDES_ENV, json.dumps({"cpu": {"eval.precision": "bf16"}}))
    assert Profile("cpu").settings["eval"]["precision"] == "bf16"  # the run's overrides apply when it is made
