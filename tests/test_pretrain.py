"""Matched budgets, snapshots, chunked resumable pretraining and the committed runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from arssr_core.study import experiments as ex
from arssr_core.study import pretrain
from arssr_core.profiles import load_profile
from arssr_core.train import TrainConfig


def test_cpu_budgets_give_every_compared_model_arssr_rdns_idle_cpu_time():
    cfg = load_profile("cpu")
    rates, minutes = cfg["budget"]["cpu_s_per_step"], cfg["budget"]["minutes"]
    jobs = [j for j in pretrain.jobs("cpu") if j.section not in ex.CONTINUED_SECTIONS]
    assert {j.tag for j in jobs} == {"arssr-rdn", "arssr-rescnn", "arssr-srresnet",
                                     *(f"{m}-x{s}" for m in ("srcnn3d", "dcsrn", "rescnn") for s in (2, 3, 4))}
    for j in jobs:
        rate = rates[j.tag.split("-x")[0]]
        assert j.steps * rate / 60 == pytest.approx(minutes, rel=0.01), j


def test_the_thick_slice_run_and_its_control_continue_arssr_rdn_for_the_same_steps():
    """Notebook 09's two runs start from ArSSR-RDN's committed weights and train equally long
    with ArSSR-RDN's recipe at half its learning rate; only the samples differ (thick-slice ones
    mixed in, or none)."""
    cfg = load_profile("cpu")
    cont = {j.section: j for j in pretrain.jobs("cpu") if j.section in ex.CONTINUED_SECTIONS}
    assert set(cont) == {"anisotropic", "isotropic_control"}
    assert cont["anisotropic"].steps == cont["isotropic_control"].steps > 0
    for section in cont:
        assert ex.start_weights(cfg, section) == ex.REPO_ROOT / cfg["arssr"]["pretrained"]
        a, b = ex.section_config(cfg, section, "rdn"), ex.section_config(cfg, "arssr", "arssr-rdn")
        assert (a.batch_size, a.lr_step, a.precision, a.init) == (b.batch_size, b.lr_step, b.precision, b.init)
        assert a.lr == b.lr / 2  # fine-tuning: half ArSSR-RDN's rate, the same for both
    assert ex.arssr_data(cfg, section="isotropic_control")[0].anisotropic is None
    assert ex.arssr_data(cfg, section="anisotropic")[0].anisotropic.fraction == 0.5


def test_snapshot_steps_are_fractions_of_the_budget_plus_named_steps():
    cfg = TrainConfig(steps=6350, snapshots=(0.125, 0.25, 0.5, 1.0), snapshot_steps=(0, 4000, 9000))
    assert cfg.snapshot_at() == [0, 794, 1588, 3175, 4000, 6350]
    with pytest.raises(Exception, match="fractions"):
        TrainConfig(steps=10, snapshots=(1.5,))


def test_run_job_trains_in_chunks_to_the_budget_keeps_snapshots_and_stops_when_told(tmp_path):
    job = next(j for j in pretrain.jobs("smoke") if j.tag == "srcnn3d-x2")
    state = pretrain.run_job("smoke", job, tmp_path, chunk=1, stop_by=0.0)  # past its deadline: no chunk starts
    assert state == {"tag": "srcnn3d-x2", "step": 0, "steps": 2, "finished": False}
    state = pretrain.run_job("smoke", job, tmp_path, chunk=1)
    assert state["finished"] and state["step"] == 2
    assert pretrain.snapshot_steps(tmp_path / "srcnn3d-x2") == [0, 1, 2]


def test_committed_runs_are_taken_as_they_are_and_say_whether_they_trained():
    rdn = ex.train_arssr("cpu", "rdn", progress=False)
    assert rdn["reused"] == "pretrained" and rdn["untrained"] is None
    for model in ("srcnn3d", "dcsrn", "rescnn"):
        for s in (2.0, 3.0, 4.0):
            run = ex.train_baseline("cpu", model, s, progress=False)
            assert run["reused"] == "pretrained" and run["untrained"] is None, (model, s, run["untrained"])
    assert ex.baseline_checkpoint("cpu", "dcsrn", 4.0).parts[-3:] == ("pretrained", "dcsrn-x4", "best.pt")
    summary = ex.checkpoint_summary(ex.baseline_checkpoint("cpu", "srcnn3d", 2.0))
    assert summary["steps_run"] == 33650
    assert summary["trained_on"] == "cuda (bf16) and cpu (bf16), 6 sessions (new optimiser at steps 9250, 20750)"
    curves = ex.learning_curves("cpu")
    b = pretrain.continued_from(ex.baseline_checkpoint("cpu", "dcsrn", 2.0).parent)
    steps = set(curves.loc[curves["tag"] == "dcsrn-x2", "step"])
    # the second stretch went on from step 5500 (the first stretch's 7600 dropped), the third from
    # 14750 (the second's 15200 dropped); the curve ends at the snapshot at 22800 and best.pt at 22750
    assert steps == {0, 950, 1900, 3800, 7600, 11400, 17100, 22750, 22800} and b == 14750


def test_a_committed_run_without_its_resume_state_is_never_trained_again(tmp_path):
    import shutil

    src = ex.baseline_checkpoint("cpu", "dcsrn", 4.0).parent
    shutil.copytree(src, tmp_path / "dcsrn-x4", ignore=shutil.ignore_patterns("last.pt"))  # as committed
    before = (tmp_path / "dcsrn-x4" / "best.pt").read_bytes()
    job = next(j for j in pretrain.jobs("cpu") if j.tag == "dcsrn-x4")
    assert pretrain.run_job("cpu", job, tmp_path)["finished"]
    assert (tmp_path / "dcsrn-x4" / "best.pt").read_bytes() == before
    assert not (tmp_path / "dcsrn-x4" / "last.pt").exists()


def test_a_run_continued_from_its_kept_weights_keeps_its_records_and_says_what_it_dropped(tmp_path):
    import torch

    from arssr_core.train import load_curves, read_checkpoint, train

    cfg = load_profile("smoke")
    ds, val = ex.baseline_data(cfg, 2.0)
    spec = {"name": "srcnn3d", "args": {"scale": 2.0}}
    tcfg = ex.section_config(cfg, "baselines", "srcnn3d")
    first = TrainConfig(**{**tcfg.__dict__, "steps": 3, "val_every": 1, "ckpt_every": 1, "snapshots": ()})
    train(spec, ds, val, first, tmp_path, progress=False)
    (tmp_path / "last.pt").unlink()  # a committed run: weights and records, no resume state
    kept = read_checkpoint(tmp_path / "best.pt")
    b = int(kept["meta"]["best_step"])
    longer = TrainConfig(**{**first.__dict__, "steps": 5})
    train(spec, ds, val, longer, tmp_path, progress=False, init_from=tmp_path / "best.pt", continue_run=True)
    hist, vals = load_curves(tmp_path)
    assert hist["step"].tolist() == list(range(1, 6))  # the old run to its kept step, then the new stretch
    assert vals["step"].tolist() == list(range(0, 6))
    last = read_checkpoint(tmp_path / "last.pt")
    seg = last["meta"]["segments"][-1]
    assert last["train_state"]["step"] == 5 and seg["from_step"] == b and seg["optimizer"] == "new"
    assert seg["dropped_steps"] == ([b + 1, 3] if b < 3 else None)
    assert pretrain.continued_from(tmp_path) == b
    assert not torch.equal(last["state_dict"]["body.0.weight"] if "body.0.weight" in last["state_dict"]
                           else next(iter(last["state_dict"].values())), next(iter(kept["state_dict"].values())))


def test_a_curve_ends_at_the_kept_weights_where_the_last_snapshots_were_not_kept(tmp_path):
    """``kept_weights``: the snapshots, plus ``best.pt`` at its best step when no snapshot holds
    that step; ``--only-new`` scoring skips the (run, step) points scored before."""
    import shutil

    from arssr_core.train import read_checkpoint

    src = ex.baseline_checkpoint("cpu", "srcnn3d", 2.0).parent
    run = tmp_path / "srcnn3d-x2"
    shutil.copytree(src, run)
    best = int(read_checkpoint(run / "best.pt")["meta"]["best_step"])
    kept = pretrain.kept_weights(run)
    assert kept[0].name == "step-000000.pt" and list(kept) == sorted(kept)
    if (run / f"step-{best:06d}.pt").exists():
        assert all(p.name != "best.pt" for p in kept.values())
    else:
        assert kept[best].name == "best.pt"
    for p in run.glob("step-*.pt"):
        if int(p.stem.split("-")[1]) > 0:
            p.unlink()  # snapshots not kept: the curve ends at best.pt
    assert pretrain.kept_weights(run) == {0: run / "step-000000.pt", best: run / "best.pt"}
    scored = pretrain.score_snapshots("cpu", tmp_path, only=["srcnn3d-x2"], progress=False, cubic=True,
                                      skip={("srcnn3d-x2", 0)})
    net, cubic = scored[scored["tag"] != "cubic"], scored[(scored["tag"] == "cubic") & (scored["scale"] == 2.0)]
    assert net["step"].tolist() == [best] and net["weights"].tolist() == ["best.pt"]
    assert net["psnr"].iloc[0] > cubic["psnr"].iloc[0]  # the kept weights beat cubic interpolation at x2


def _cooled(tmp_path, name: str, chunk: int):
    """A smoke thick-slice run of 6 steps, then a cool-down of 6 steps at a lower lr in chunks."""
    import shutil

    cfg = load_profile("smoke", {"anisotropic.cooldown": {"steps": 6, "lr": 2.0e-5}})
    spec, tcfg, meta = ex.run_setup(cfg, "smoke", "anisotropic", "rdn")
    main = tmp_path / "main"
    if not main.exists():
        ex.train_arssr("smoke", "rdn", section="anisotropic", out_dir=main, progress=False, check=False)
    out = tmp_path / name
    shutil.copytree(main, out)
    job = pretrain.Job("anisotropic", "rdn", None, name, tcfg.steps)
    state = pretrain.run_cooldown(cfg, job, out, spec, tcfg, meta, cfg["anisotropic"]["cooldown"], chunk, None)
    return out, state


def test_a_cool_down_goes_on_from_the_kept_weights_at_its_lower_lr_and_resumes_exactly(tmp_path):
    import torch

    from arssr_core.train import load_curves, read_checkpoint

    whole, state = _cooled(tmp_path, "whole", chunk=10**9)
    kept = read_checkpoint(tmp_path / "main" / "best.pt")["meta"]
    b = int(kept["best_step"])
    assert state == {"tag": "whole", "step": b + 6, "steps": b + 6, "finished": True}
    hist, vals = load_curves(whole)
    assert hist["step"].tolist() == list(range(1, b + 7))  # the main run to its kept step, then the cool-down
    assert set(hist.loc[hist["step"] > b, "lr"]) == {2.0e-5} and set(hist.loc[hist["step"] <= b, "lr"]) == {1.0e-4}
    best = read_checkpoint(whole / "best.pt")["meta"]
    assert best["cooldown"] == {"from_step": b, "steps": 6, "lr": 2.0e-5}
    assert best["best_step"] > b  # kept weights chosen within the cool-down, not against the main run's best
    assert best["best_val_psnr"] == pytest.approx(vals.loc[vals["step"] > b, "val_psnr"].max())
    assert pretrain.in_cooldown(whole) and not pretrain.in_cooldown(tmp_path / "main")
    # in chunks (a stop and an exact resume from last.pt), the same weights as in one go
    chunked, _ = _cooled(tmp_path, "chunked", chunk=3)
    a, c = read_checkpoint(whole / "last.pt")["state_dict"], read_checkpoint(chunked / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], c[k]) for k in a)
    # a finished cool-down is not trained again; one of other settings is refused
    before = (whole / "best.pt").read_bytes()
    spec, tcfg, meta = ex.run_setup(load_profile("smoke"), "smoke", "anisotropic", "rdn")
    job = pretrain.Job("anisotropic", "rdn", None, "whole", tcfg.steps)
    cool = {"steps": 6, "lr": 2.0e-5}
    assert pretrain.run_cooldown(load_profile("smoke"), job, whole, spec, tcfg, meta, cool, 3, None)["finished"]
    assert (whole / "best.pt").read_bytes() == before
    with pytest.raises(ValueError, match="not the profile's"):
        pretrain.run_cooldown(load_profile("smoke"), job, whole, spec, tcfg, meta, {"steps": 9, "lr": 2.0e-5}, 3, None)


def test_the_thick_slice_run_and_its_control_cool_down_alike():
    """Both notebook-09 runs end with the same cool-down (steps, a tenth of their lr)."""
    cfg = load_profile("cpu")
    cools = [cfg[s]["cooldown"] for s in ex.CONTINUED_SECTIONS]
    assert cools[0] == cools[1] and cools[0]["lr"] == pytest.approx(cfg["anisotropic"]["train"]["lr"] / 10)
    tcfg = ex.section_config(cfg, "anisotropic", "rdn")
    c = pretrain.cooldown_config(tcfg, 20250, cools[0])
    assert (c.steps, c.lr, c.batch_size) == (20250 + cools[0]["steps"], cools[0]["lr"], tcfg.batch_size)
    with pytest.raises(ValueError, match="cool-down"):
        pretrain.cooldown_config(tcfg, 0, {"steps": 10, "lr": 1.0})
    # the committed weights are those of the cool-down: kept within it, records to its end
    from arssr_core.study import evaluation, thick_slices
    from arssr_core.train import load_curves, read_checkpoint

    methods = [evaluation.continued_method("cpu", s, s) for s in ex.CONTINUED_SECTIONS]
    facts = thick_slices.model_table(methods)
    for section, m in zip(ex.CONTINUED_SECTIONS, methods):
        meta = read_checkpoint(m.checkpoint)["meta"]
        c = meta["cooldown"]
        assert (c["steps"], c["lr"]) == (cools[0]["steps"], cools[0]["lr"]), section
        assert c["from_step"] < meta["best_step"] <= c["from_step"] + c["steps"]
        hist, _ = load_curves(Path(m.checkpoint).parent)
        assert int(hist["step"].iloc[-1]) == c["from_step"] + c["steps"]
        assert facts.loc["cool-down", section] == f"{c['steps']} steps at lr 1e-05 from the kept step {c['from_step']}"


def test_train_arssr_runs_a_sections_cool_down_after_its_main_stretch_and_reuses_it(tmp_path):
    from arssr_core.train import load_curves, read_checkpoint

    over = {"anisotropic.cooldown": {"steps": 3, "lr": 2.0e-5}}
    res = ex.train_arssr("smoke", "rdn", section="anisotropic", overrides=over, out_dir=tmp_path, progress=False,
                         check=False)
    best = read_checkpoint(tmp_path / "best.pt")["meta"]
    c = best["cooldown"]
    assert (c["steps"], c["lr"]) == (3, 2.0e-5) and c["from_step"] <= 6
    assert res["finished"] and res["step"] == c["from_step"] + 3
    hist, _ = load_curves(tmp_path)
    assert hist["step"].tolist() == list(range(1, c["from_step"] + 4))
    before = (tmp_path / "best.pt").read_bytes()
    again = ex.train_arssr("smoke", "rdn", section="anisotropic", overrides=over, out_dir=tmp_path, progress=False,
                           check=False)
    assert again["finished"] and (tmp_path / "best.pt").read_bytes() == before  # a finished cool-down is kept


def test_the_continued_runs_caveat_states_their_budgets_and_that_each_is_one_training_run():
    """Notebook 09's verdicts carry the continued runs' steps and learning rates, read from the
    profile, and say that the intervals do not cover another draw of the training data."""
    from arssr_core.study.experiments import continued_caveat

    cfg = load_profile("cpu")
    text = continued_caveat("cpu")
    for section, tag in (("anisotropic", "arssr-rdn-aniso"), ("isotropic_control", "arssr-rdn-iso")):
        steps, cool = cfg[section]["train"]["steps"], cfg[section]["cooldown"]
        assert f"{tag} {steps} steps at lr {float(cfg[section]['train']['lr']):g}" in text
        assert f"then {cool['steps']} from its kept weights at lr {float(cool['lr']):g}" in text
    assert text.startswith(f"Continued from {cfg['anisotropic']['from']}")
    assert "one training run" in text and "not another draw of the training data" in text


def test_a_training_seed_is_a_run_of_its_own_that_draws_and_starts_elsewhere_and_resumes_exactly(tmp_path):
    """Issue 35: seed s of a run trains into ``<tag>-s<s>`` with other initial weights, batch
    order and training samples but the same validation samples; stopped and resumed in chunks
    it ends with the weights of one uninterrupted run; seed 0 is the committed run, unmoved."""
    import torch

    from arssr_core.errors import ArssrError
    from arssr_core.train import read_checkpoint

    cfg = load_profile("smoke")
    s0, s1 = pretrain.seed_jobs("smoke", [0, 1], ["rescnn-x2"])
    assert (s0.tag, s1.tag, s0.seed, s1.seed) == ("rescnn-x2", "rescnn-x2-s1", 0, 1)
    assert s0 == next(j for j in pretrain.jobs("smoke") if j.tag == "rescnn-x2")  # seed 0: the committed job
    seeded = load_profile("smoke", s1.overrides())
    assert ex.run_setup(seeded, "smoke", "baselines", "rescnn", 2.0)[1].seed == 1
    (d0, v0), (d1, v1) = ex.baseline_data(cfg, 2.0), ex.baseline_data(seeded, 2.0)
    assert all(torch.equal(a["inp"], b["inp"]) for a, b in zip(v0, v1))  # validation: the same samples
    assert not torch.equal(d0[0]["inp"], d1[0]["inp"])  # training: another draw
    with pytest.raises(ArssrError, match="no run"):
        pretrain.seed_jobs("smoke", [1], ["rescnn-x7"])
    with pytest.raises(ArssrError, match=">= 0"):
        pretrain.seed_jobs("smoke", [-1], ["rescnn-x2"])

    whole = pretrain.run_job("smoke", s1, tmp_path / "whole", chunk=10**9)
    chunked = pretrain.run_job("smoke", s1, tmp_path / "chunked", chunk=1)  # a stop after every step
    assert whole["finished"] and chunked["finished"] and whole["tag"] == "rescnn-x2-s1"
    a = read_checkpoint(tmp_path / "whole" / "rescnn-x2-s1" / "last.pt")
    b = read_checkpoint(tmp_path / "chunked" / "rescnn-x2-s1" / "last.pt")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["meta"]["seed"] == 1 and not pretrain.snapshot_steps(tmp_path / "whole" / "rescnn-x2-s1")
    pretrain.run_job("smoke", s0, tmp_path / "whole", chunk=10**9)
    c = read_checkpoint(tmp_path / "whole" / "rescnn-x2" / "last.pt")
    assert not all(torch.equal(a["state_dict"][k], c["state_dict"][k]) for k in a["state_dict"])
