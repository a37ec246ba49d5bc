"""Glue the notebooks call: build a profile's datasets and train its models, cached.

A notebook cell reads ``train_arssr("cpu", "rdn")``; the loops live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data.sampling import Anisotropic, ArSSRPatches, BaselinePatches, fixed_samples
from ..errors import ArssrError, DataError
from ..paths import REPO_ROOT, checkpoints_dir
from ..profiles import load_profile
from ..train import TrainConfig, checkpoint_finished, require_trained, train, train_config, training_verdict
from . import pretrain
from .methods import section_tags

@dataclass(frozen=True)
class TrainingSet:
    """The volumes a profile trains and validates on, read from its prepared catalog:
    ``train`` and ``val`` ``{record name: array}`` in catalog order."""

    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]


_SETS: dict[tuple, TrainingSet] = {}


def training_set(profile_cfg: dict[str, Any]) -> TrainingSet:
    """The training and validation volumes of a profile: the catalog's ``train`` records of the
    kinds in ``data.train_kinds`` (default real; ``synthetic`` adds the pseudo-subjects) and
    its ``val`` records. The registry stand-ins, or a user's HCP or BIDS subjects when the
    catalog was prepared from a ``data_root``. The catalog is prepared first if missing;
    cached per process and catalog version."""
    from ..data import catalog
    from ..data.prepare import ensure_prepared

    profile = profile_cfg["name"]
    ensure_prepared(profile)
    kinds = tuple(profile_cfg["data"].get("train_kinds", ["real"]))
    key = (profile, kinds, catalog.catalog_path(profile).stat().st_mtime_ns)
    if key not in _SETS:
        load = lambda r: np.asarray(catalog.load(profile, r).data, dtype=np.float32)  # noqa: E731
        train = {r["name"]: load(r) for r in catalog.records(profile, "train") if r["kind"] in kinds}
        val = {r["name"]: load(r) for r in catalog.records(profile, "val")}
        if not train or not val:
            raise ArssrError(f"{catalog.catalog_path(profile)}: no training ({kinds}) or validation records")
        _SETS.clear()
        _SETS[key] = TrainingSet(train, val)
    return _SETS[key]


SEED_STRIDE = 100  # training seed s draws its samples at data seed + 100 s (seed 0: the committed runs' draw)


def training_draw(profile_cfg: dict[str, Any], section: str, seed: int = 0) -> int:
    """The seed of a section's training-sample draw: its data ``seed`` moved by the run's training
    seed (``<section>.train.seed``, which also seeds the initial weights and the batch order).
    Training seed 0 keeps the data seed, so the committed runs draw what they drew; the
    validation samples never move with it, so every training seed is kept on the same ones."""
    return int(seed) + SEED_STRIDE * int(((profile_cfg.get(section) or {}).get("train") or {}).get("seed", 0))


def arssr_data(profile_cfg: dict[str, Any], seed: int = 0, section: str = "arssr") -> tuple[ArSSRPatches, list]:
    """(training dataset, fixed validation samples) for ArSSR in a profile; a ``section`` with
    a ``sampling`` mapping (``anisotropic``) mixes thick-slice samples into both."""
    a = profile_cfg["arssr"]
    data = training_set(profile_cfg)
    seed = int((profile_cfg.get(section) or {}).get("seed", seed))  # a continued run draws fresh samples
    draw = training_draw(profile_cfg, section, seed)
    kw = dict(crop=a["crop"], lr_size=a["lr_size"], scale_range=tuple(a["scale_range"]), k=a["k"],
              min_foreground=a["min_foreground"],
              anisotropic=Anisotropic.from_config((profile_cfg.get(section) or {}).get("sampling")))
    ds = ArSSRPatches(list(data.train.values()), samples_per_volume=a["samples_per_volume"], seed=draw,
                      augment=a["augment"], **kw)
    val = ArSSRPatches(list(data.val.values()), samples_per_volume=max(1, a["val_samples"] // len(data.val)),
                       seed=10_000 + seed, augment=False, **kw)
    return ds, fixed_samples(val, a["val_samples"])


def baseline_data(profile_cfg: dict[str, Any], scale: float, seed: int = 0) -> tuple[BaselinePatches, list]:
    """(training dataset, fixed validation samples) for a per-scale baseline."""
    b = profile_cfg["baselines"]
    data = training_set(profile_cfg)
    kw = dict(scale=scale, patch=b["patch"], min_foreground=b["min_foreground"])
    ds = BaselinePatches(list(data.train.values()), samples_per_volume=b["samples_per_volume"],
                         seed=training_draw(profile_cfg, "baselines", seed), augment=b["augment"], **kw)
    val = BaselinePatches(list(data.val.values()), samples_per_volume=max(1, b["val_samples"] // len(data.val)),
                          seed=10_000 + seed, **kw)
    return ds, fixed_samples(val, b["val_samples"])


def section_config(profile_cfg: dict[str, Any], section: str, model: str) -> TrainConfig:
    """The training config of ``model`` in a profile section. ``steps`` is one budget for
    every model of the section, or a mapping of model name to its own budget."""
    settings = dict(profile_cfg[section]["train"])
    steps = settings.get("steps")
    if isinstance(steps, dict):
        if model not in steps:
            raise ArssrError(f"profile section '{section}' gives no step budget for '{model}' (has {sorted(steps)})")
        settings["steps"] = steps[model]
    return train_config(settings)


def _budget_key(section: str, model: str, profile_cfg: dict[str, Any]) -> str:
    steps = profile_cfg[section]["train"].get("steps")
    return f"{section}.train.steps" + (f".{model}" if isinstance(steps, dict) else "")


def pretrained_dir(profile_cfg: dict[str, Any], tag: str) -> Path | None:
    """The committed run folder of ``tag`` (e.g. ``rescnn-x2``, ``arssr-srresnet``) under the
    profile's ``pretrained_root``, if it holds a ``best.pt``."""
    root = profile_cfg.get("pretrained_root")
    d = REPO_ROOT / root / tag if root else None
    return d if d is not None and (d / "best.pt").is_file() else None


def _reuse_pretrained(path: Path) -> dict[str, Any]:
    """A committed matched-budget run, taken as it is: whether it left its starting point
    is reported (``untrained``: why not, or None), not enforced; the verdicts call a
    comparison with a model that did not train untestable."""
    from ..checkpoint import read_checkpoint

    meta = read_checkpoint(path).get("meta", {})
    return {"best": str(path), "reused": "pretrained", "step": None, "untrained": training_verdict(meta)}


def baseline_checkpoint(profile: str, model: str, scale: float, seed: int = 0) -> Path:
    """The weights a per-scale baseline is evaluated with: the committed matched-budget run
    if the profile has one, else the one trained in the profile's run folder; ``seed`` > 0: that
    training seed's run (:func:`arssr_core.study.pretrain.seed_tag`)."""
    tag = pretrain.seed_tag(f"{model}-x{float(scale):g}", seed)
    d = pretrained_dir(load_profile(profile), tag)
    return d / "best.pt" if d else run_dir(profile, tag) / "best.pt"



def baseline_runs(profile: str, models: Sequence[str], scales: Sequence[float]) -> dict[str, Path]:
    """The run folder of each per-scale baseline, ``{"<model> x<scale>": folder}`` in model-then-scale order."""
    return {f"{m} x{float(s):g}": baseline_checkpoint(profile, m, s).parent for m in models for s in scales}


def arssr_parts(encoder: str) -> pd.DataFrame:
    """Trainable parameters of ArSSR with ``encoder`` (default configuration): its encoder, its
    decoder (the MLP) and the total, columns ``part``, ``parameters``."""
    from ..models import build_model, count_parameters

    model = build_model(f"arssr-{encoder}")
    return pd.DataFrame([{"part": "encoder", "parameters": count_parameters(model.encoder)},
                         {"part": "decoder (8 linear layers)", "parameters": count_parameters(model.decoder)},
                         {"part": "total", "parameters": count_parameters(model)}])


def arssr_recipe(profile: str) -> dict[str, Any]:
    """ArSSR's training settings in a profile: the ``arssr.train`` block and the sampling keys
    beside it (crop, LR size, coordinates per patch ``k``, foreground share, augmentation)."""
    cfg = load_profile(profile)["arssr"]
    return {**cfg["train"], **{k: cfg[k] for k in ("crop", "lr_size", "k", "min_foreground", "augment") if k in cfg}}


def train_encoders(profile: str, encoders: Sequence[str], retrain: bool = False) -> dict[str, str]:
    """Train (or reuse) ArSSR with each encoder of the ablation section: ``{encoder: best checkpoint}``."""
    return {enc: train_arssr(profile, enc, retrain=retrain, section="ablation")["best"] for enc in encoders}


def runs_summary(runs: Mapping[str, str | Path], key: str = "run") -> pd.DataFrame:
    """:func:`checkpoint_summary` of each checkpoint of ``runs`` ``{name: path}``, the name in column ``key``."""
    return pd.DataFrame([{key: name, **checkpoint_summary(path)} for name, path in runs.items()])


def parameter_counts(models: Sequence[str]) -> pd.DataFrame:
    """Trainable parameters of each registered model name, built with its default configuration:
    columns ``model``, ``parameters``."""
    from ..models import build_model, count_parameters

    return pd.DataFrame([{"model": m, "parameters": count_parameters(build_model(m))} for m in models])


#: Run folders of ArSSR-RDN continued beyond the paper (notebook 09): on thick-slice samples
#: as well (section ``anisotropic``), and the same steps on the paper's samples (its control).
SECTION_TAGS = section_tags()
CONTINUED_SECTIONS = tuple(SECTION_TAGS)


def run_tag(section: str, encoder: str) -> str:
    """Run folder name of an ArSSR model: ``arssr-<encoder>``, or its section's :data:`SECTION_TAGS`."""
    return SECTION_TAGS.get(section, f"arssr-{encoder}")


def start_weights(profile_cfg: dict[str, Any], section: str) -> Path | None:
    """The weights a section's run starts from (its ``from``, a committed checkpoint), or None
    (identity init, as the paper's run)."""
    src = (profile_cfg.get(section) or {}).get("from")
    if not src:
        return None
    if not (REPO_ROOT / src).is_file():
        raise ArssrError(f"profile section '{section}' starts from {src}, which does not exist")
    return REPO_ROOT / src


def run_dir(profile: str, model: str, scale: float | None = None) -> Path:
    """Checkpoint folder of one trained model in a profile."""
    tag = model if scale is None else f"{model}-x{float(scale):g}"
    return checkpoints_dir(profile) / tag


def run_setup(cfg: dict[str, Any], profile: str, section: str, model: str,
              scale: float | None = None) -> tuple[dict[str, Any], TrainConfig, dict[str, Any]]:
    """(model spec, training config, record meta) of one run of a profile: an ArSSR encoder
    ``model`` in the ``arssr`` or ``ablation`` section, or a per-scale ``model`` of the
    ``baselines`` section at ``scale``."""
    data = training_set(cfg)
    meta = {"profile": profile, "data": list(data.train), "validation": list(data.val), "section": section}
    if section == "baselines":
        margs = (cfg["baselines"].get("model_args") or {}).get(model, {})
        return ({"name": model, "args": {**margs, "scale": float(scale)}}, section_config(cfg, "baselines", model),
                {**meta, "scale": float(scale)})
    margs = cfg[section].get("model_args", cfg["arssr"].get("model_args")) or {}
    tcfg = section_config(cfg, section, f"arssr-{model}" if section == "arssr" else model)
    if cfg[section].get("sampling"):
        meta["sampling"] = dict(cfg[section]["sampling"])
    if cfg[section].get("from"):
        meta["started_from"] = cfg[section]["from"]
    return {"name": f"arssr-{model}", "args": dict(margs.get(model, {}))}, tcfg, meta


def train_arssr(profile: str = "cpu", encoder: str = "rdn", retrain: bool = False,
                overrides: dict[str, Any] | None = None, out_dir: str | Path | None = None,
                section: str = "arssr", progress: bool = True, check: bool = True) -> dict[str, Any]:
    """Train (or reuse) ArSSR with ``encoder`` under a profile's ``section`` settings.

    With ``retrain`` False, a finished run in the folder is reused, and in the ``arssr``
    section a committed ``pretrained`` checkpoint is taken as the trained model. A model
    that did not train stops here (:func:`arssr_core.train.require_trained`) unless
    ``check`` is False. Returns the train summary with ``best`` (checkpoint path).
    """
    cfg = load_profile(profile, overrides)
    spec, tcfg, meta = run_setup(cfg, profile, section, encoder)
    setting = f"{_budget_key(section, encoder, cfg)} in the {profile} profile"
    out = Path(out_dir) if out_dir else run_dir(profile, run_tag(section, encoder))
    pre = cfg[section].get("pretrained") if (section in ("arssr",) + CONTINUED_SECTIONS and encoder == "rdn") else None
    if not retrain and section == "ablation" and pretrained_dir(cfg, f"arssr-{encoder}"):
        return _reuse_pretrained(pretrained_dir(cfg, f"arssr-{encoder}") / "best.pt")
    if not retrain and pre and (REPO_ROOT / pre).exists():
        return _reuse_pretrained(REPO_ROOT / pre)
    ds, val = arssr_data(cfg, section=section)
    cool = cfg[section].get("cooldown")  # a cool-down at a lower lr after the main stretch (pretrain.run_cooldown)
    if cool and not retrain and pretrain.in_cooldown(out):
        res = _cooldown(cfg, section, encoder, out, spec, tcfg, meta, cool)
    elif not cool and not retrain and checkpoint_finished(out / "last.pt", tcfg.steps):
        if check and cfg.get("require_trained", True):
            require_trained(out / "best.pt", setting, val)
        return {"best": str(out / "best.pt"), "reused": "cached", "step": None}
    else:
        res = train(spec, ds, val, tcfg, out, resume=not retrain, progress=progress, meta=meta,
                    init_from=start_weights(cfg, section))  # train() resumes from last.pt before it looks at this
        if cool:
            res = _cooldown(cfg, section, encoder, out, spec, tcfg, meta, cool)
    if check and cfg.get("require_trained", True):
        require_trained(out / "best.pt", setting, val)
    return {**res, "best": str(out / "best.pt"), "reused": None}


def _cooldown(cfg: dict[str, Any], section: str, encoder: str, out: Path, spec: dict[str, Any], tcfg: TrainConfig,
              meta: dict[str, Any], cool: dict[str, Any]) -> dict[str, Any]:
    """The section's cool-down of the finished run in ``out`` (resumed if under way), in one chunk."""
    job = pretrain.Job(section, encoder, None, out.name, tcfg.steps)
    state = pretrain.run_cooldown(cfg, job, out, spec, tcfg, meta, cool, chunk=10**9, stop_by=None)
    return {"step": state["step"], "finished": state["finished"]}


def train_baseline(profile: str, model: str, scale: float, retrain: bool = False,
                   overrides: dict[str, Any] | None = None, progress: bool = True,
                   check: bool = True) -> dict[str, Any]:
    """Train (or reuse) one per-scale baseline at ``scale``; stops if it did not train
    (unless ``check`` is False)."""
    cfg = load_profile(profile, overrides)
    spec, tcfg, meta = run_setup(cfg, profile, "baselines", model, scale)
    setting = f"{_budget_key('baselines', model, cfg)} in the {profile} profile"
    out = run_dir(profile, model, scale)
    pre = pretrained_dir(cfg, f"{model}-x{float(scale):g}")
    if not retrain and pre:
        return _reuse_pretrained(pre / "best.pt")
    ds, val = baseline_data(cfg, scale)
    if not retrain and checkpoint_finished(out / "last.pt", tcfg.steps):
        if check and cfg.get("require_trained", True):
            require_trained(out / "best.pt", setting, val)
        return {"best": str(out / "best.pt"), "reused": "cached", "step": None}
    res = train(spec, ds, val, tcfg, out, resume=not retrain, progress=progress, meta=meta)
    if check and cfg.get("require_trained", True):
        require_trained(out / "best.pt", setting, val)
    return {**res, "best": str(out / "best.pt"), "reused": None}


def train_baselines(profile: str = "cpu", models: list[str] | None = None, scales: list[float] | None = None,
                    retrain: bool = False, progress: bool = True) -> "pd.DataFrame":
    """Train every (baseline, scale) of a profile; one summary row each."""
    import pandas as pd

    cfg = load_profile(profile)["baselines"]
    rows = []
    for model in models or cfg["models"]:
        for s in scales or cfg["scales"]:
            res = train_baseline(profile, model, float(s), retrain=retrain, progress=progress)
            rows.append({"model": model, "scale": float(s), **checkpoint_summary(res["best"]),
                         "untrained": res.get("untrained")})
    return pd.DataFrame(rows)


def trained_on(meta: dict[str, Any]) -> str:
    """Where a run was trained, short enough for a table cell: ``cuda (bf16)``; ``cuda (bf16)
    and cpu (bf16), 6 sessions (new optimiser at steps 9250, 20750)`` for a run resumed in
    several sessions, some continued from kept weights with a new optimiser."""
    segs = meta.get("segments") or [{"from_step": 0, "device": meta.get("device"), "precision": meta.get("precision")}]
    where = list(dict.fromkeys(f"{sg.get('device')} ({sg.get('precision')})" for sg in segs))
    restarts = [str(sg["from_step"]) for sg in segs if sg.get("continued_from")]
    out = " and ".join(where) + (f", {len(segs)} sessions" if len(segs) > 1 else "")
    return out + (f" (new optimiser at step{'s' if len(restarts) > 1 else ''} {', '.join(restarts)})" if restarts else "")


def checkpoint_summary(path: str | Path) -> dict[str, Any]:
    """What a trained checkpoint says of itself: model, steps, minutes, device, data, best validation PSNR.

    ``best_step``/``minutes_to_best``: where the kept (best) weights were saved;
    ``steps_run``/``minutes``: the whole run, from the ``history.csv`` beside the
    checkpoint when there is one (else the checkpoint's own step and time)."""
    from ..checkpoint import read_checkpoint
    from ..models import build_model, count_parameters

    blob = read_checkpoint(path)
    meta = blob.get("meta", {})
    cfg = meta.get("config", {})
    at_best = round(float(meta["elapsed_s"]) / 60, 1) if meta.get("elapsed_s") else None
    steps_run, minutes = meta.get("step"), at_best
    hist = Path(path).with_name("history.csv")
    if hist.is_file():
        h = pd.read_csv(hist)
        if len(h) and {"step", "time_s"} <= set(h.columns):
            steps_run, minutes = int(h["step"].iloc[-1]), round(float(h["time_s"].iloc[-1]) / 60, 1)
    return {
        "checkpoint": str(Path(path).relative_to(REPO_ROOT)) if Path(path).is_relative_to(REPO_ROOT) else str(path),
        "model": blob["spec"]["name"],
        "parameters": count_parameters(build_model(blob["spec"])),
        "best_step": meta.get("best_step", meta.get("step")),
        "steps_run": steps_run,
        "batch_size": cfg.get("batch_size"),
        "lr": cfg.get("lr"),
        "init": cfg.get("init", "default"),
        "precision": meta.get("precision"),
        "device": meta.get("device"),
        "minutes": minutes,
        "minutes_to_best": at_best,
        "best_val_psnr": meta.get("best_val_psnr"),
        "start_val_psnr": meta.get("start_val_psnr"),
        "native_bf16": (meta.get("machine") or {}).get("cpu_native_bf16"),
        "trained_on": trained_on(meta),
        "data": ", ".join(meta.get("data", [])),
    }


def learning_curves(profile: str) -> pd.DataFrame:
    """The scored snapshots of the profile's committed matched-budget runs
    (``<pretrained_root>/learning_curves.csv``, written by :mod:`arssr_core.study.pretrain`); in a
    profile without committed runs, the snapshots its own runs kept, scored now."""
    root = load_profile(profile).get("pretrained_root")
    path = REPO_ROOT / root / "learning_curves.csv" if root else None
    if path is not None and path.is_file():
        return pd.read_csv(path)
    from .pretrain import score_snapshots  # no committed runs: score the snapshots this profile's runs kept

    return score_snapshots(profile, checkpoints_dir(profile), progress=False)


def curves_by_minutes(curves: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Test PSNR (dB) of the labelled runs' kept weights (``labels``: run tag -> method) by scale
    and idle-CPU minutes of training (rows, to 0.1 min) and method (columns); step 0 left out.
    A run's last point may be its ``best.pt`` at its best step, off the shared minutes."""
    at = curves[curves["tag"].isin(list(labels)) & (curves["step"] > 0)].assign(
        method=lambda d: d["tag"].map(labels), minutes=lambda d: d["cpu_minutes"].round(1))
    return at.pivot_table(index=["scale", "minutes"], columns="method", values="psnr").rename_axis(
        index=["scale", "idle-CPU minutes"])


def budget_caveat(profile: str) -> str:
    """One sentence on the budgets behind a profile's compared models, for every verdict
    (after the profile's own ``caveat``, if it has one)."""
    from .pretrain import jobs

    cfg = load_profile(profile)
    steps: dict[str, int] = {}
    for j in jobs(profile):  # the compared runs (per-scale networks share one budget)
        if j.section in CONTINUED_SECTIONS:  # beyond the paper (notebook 09): its own caveat
            continue
        steps.setdefault("ArSSR-RDN" if j.tag == "arssr-rdn" else
                         f"ArSSR-{j.model}" if j.section == "ablation" else j.model, j.steps)
    listed = ", ".join(f"{k} {v}" for k, v in steps.items())
    b = cfg.get("budget")
    what = (f"Matched budgets far below the paper's: each model {b['minutes']:g} idle-CPU minutes of training "
            f"as optimiser steps ({listed})" if b else f"Budgets in optimiser steps: {listed}")
    return " ".join(x for x in (cfg.get("caveat", ""), f"{what}; {subjects_phrase(profile)}.") if x)


def subjects_phrase(profile: str) -> str:
    """``"one test subject (Colin27)"`` or ``"2 test subjects (Colin27; MRBrainTumor2, ...)"``:
    the test records of the profile's prepared catalog, by title."""
    from ..data import catalog

    try:
        titles = [r.get("title", r["name"]) for r in catalog.records(profile, role="test")]
    except DataError:  # no prepared catalog yet
        titles = []
    if not titles:
        return "no test subject prepared yet"
    return f"one test subject ({titles[0]})" if len(titles) == 1 else f"{len(titles)} test subjects ({'; '.join(titles)})"


def continued_caveat(profile: str) -> str:
    """One sentence on the runs that continue ArSSR-RDN beyond the paper (notebook 09)."""
    cfg = load_profile(profile)
    parts = []
    for section, tag in SECTION_TAGS.items():
        if cfg.get(section):
            c, cool = section_config(cfg, section, "rdn"), cfg[section].get("cooldown")
            parts.append(f"{tag} {c.steps} steps at lr {c.lr:g}"
                         + (f", then {cool['steps']} from its kept weights at lr {cool['lr']:g}" if cool else ""))
    start = cfg.get("anisotropic", {}).get("from")
    return ((f"Continued from {start} (new Adam state): " if start else "Trained from the identity start: ")
            + "; ".join(parts) + "; both runs draw the same number of samples, differing only in their kind. "
            + "Each model is one training run: the intervals cover where in the brain a difference is measured, "
            + "not another draw of the training data, which moved runs of ArSSR-RDN's recipe from scratch "
            + "by tenths of a dB (checkpoints/probe/matched-scratch).")


def ablation_at_steps(profile: str, encoders: Sequence[str], steps: Iterable[int]) -> pd.DataFrame:
    """Paper Table 5 at equal steps: the test-set PSNR of each ablation encoder's kept weights
    at each of ``steps`` (:func:`learning_curves`), with cubic at every step for reference.
    Long table (step, method, scale, psnr); a step an encoder did not keep is absent."""
    curves = learning_curves(profile)
    tags = {f"arssr-{e}": f"ArSSR-{e}" for e in encoders}
    steps = [int(s) for s in steps]
    enc = curves[curves["tag"].isin(list(tags)) & curves["step"].isin(steps)].assign(method=lambda d: d["tag"].map(tags))
    cubic = curves[curves["tag"] == "cubic"]
    rows = [enc[["step", "method", "scale", "psnr"]]]
    rows += [cubic.assign(step=s, method="Cubic")[["step", "method", "scale", "psnr"]] for s in steps]
    return pd.concat(rows, ignore_index=True).sort_values(["step", "method", "scale"]).reset_index(drop=True)
