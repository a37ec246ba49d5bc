"""One method registry (issue 36 item 3): the command line, the experiments and the claims take
method names, runs and display names from it; the library knows no study run name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from arssr_core.errors import ArssrError
from arssr_core.study import advice, evaluation, experiments, methods, paper_claims, pretrain


def test_the_cli_offers_the_registrys_methods_and_finds_each_ones_committed_weights():
    from arssr_core.cli import build_parser

    action = next(a for a in build_parser()._subparsers._group_actions[0].choices["upsample"]._actions
                  if a.dest == "method")
    assert tuple(action.choices) == methods.cli_methods() == ("cubic", "arssr", "arssr-iso", "arssr-thick")
    for key in methods.cli_methods():
        if key != "cubic":
            path = methods.default_checkpoint(key)
            assert path.parent.name == methods.method(key).run and path.is_file()
    assert advice.CLI_NAMES == {"Cubic": "cubic", "ArSSR": "arssr", "ArSSR-iso": "arssr-iso", "ArSSR-thick": "arssr-thick"}


def test_the_study_names_runs_and_methods_as_the_registry_does():
    assert [m.name for m in evaluation.baseline_methods("cpu")] == [methods.display_name(k) for k in ("srcnn3d", "dcsrn", "rescnn")]
    assert evaluation.arssr_method("cpu").name == "ArSSR" and Path(evaluation.arssr_method("cpu").checkpoint).parent.name == "arssr-rdn"
    assert experiments.SECTION_TAGS == {"anisotropic": "arssr-rdn-aniso", "isotropic_control": "arssr-rdn-iso"}
    assert paper_claims._CNNS == ("SRCNN3D", "DCSRN", "ResCNN")
    tags = {j.tag for j in pretrain.jobs("cpu")}
    for m in methods.METHODS.values():
        if m.kind == "arssr":
            assert m.run_tag() in tags
        elif m.kind == "baseline":
            assert {m.run_tag(s) for s in (2, 3, 4)} <= tags
    assert methods.key_of("ArSSR-iso") == "arssr-iso"
    with pytest.raises(ArssrError, match="unknown method 'arssr-xl'"):
        methods.method("arssr-xl")
    with pytest.raises(ArssrError, match="per scale"):
        methods.method("rescnn").run_tag()


def test_the_library_holds_no_study_run_name():
    import arssr_core
    from arssr_core.models import STUDY_MODELS

    pkg = Path(arssr_core.__file__).parent
    runs = {m.run for m in methods.METHODS.values() if m.run} | {m.run_tag(2) for m in methods.METHODS.values() if m.kind == "baseline"}
    runs -= set(STUDY_MODELS)  # arssr-rdn, rescnn, ...: also the architectures' names in the model registry
    found = []
    for p in pkg.rglob("*.py"):
        rel = p.relative_to(pkg)
        if rel.parts[0] == "study" or rel.name in ("cli.py", "command.py"):
            continue
        strings = {n.value for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        found += [f"{rel}: {r}" for r in runs for s in strings if s == r]
    assert found == []


def test_the_baselines_run_folders_and_parameter_counts_the_training_notebook_shows():
    from arssr_core.models import build_model, count_parameters

    runs = experiments.baseline_runs("cpu", ["srcnn3d", "rescnn"], [2, 3])
    assert list(runs) == ["srcnn3d x2", "srcnn3d x3", "rescnn x2", "rescnn x3"]
    assert runs["rescnn x3"] == experiments.baseline_checkpoint("cpu", "rescnn", 3).parent
    assert (runs["rescnn x3"] / "best.pt").is_file()
    counts = experiments.parameter_counts(["srcnn3d", "dcsrn"])
    assert list(counts["model"]) == ["srcnn3d", "dcsrn"]
    assert list(counts["parameters"]) == [count_parameters(build_model(m)) for m in ("srcnn3d", "dcsrn")]


def test_arssrs_parts_add_up_and_its_recipe_is_the_profiles():
    from arssr_core.profiles import load_profile

    parts = experiments.arssr_parts("rdn").set_index("part")["parameters"]
    assert parts["encoder"] + parts["decoder (8 linear layers)"] == parts["total"] > 0
    recipe, cfg = experiments.arssr_recipe("cpu"), load_profile("cpu")["arssr"]
    assert recipe["steps"] == cfg["train"]["steps"] and recipe["crop"] == cfg["crop"] and recipe["k"] == cfg["k"]
