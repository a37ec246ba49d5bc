#!/usr/bin/env bash
# Train, or continue from their committed weights, a profile's compared models at their matched
# step budgets on a lent GPU machine (the device tool of the study's workplace: at most 64 MiB
# travel with a call, 8 files of 16 MiB come back), then score the new snapshots.
#
# The committed run folders (best.pt and records, no resume state) are larger than one call
# may carry, so they travel in parts: here, copy them into .stage/<n>/<tag>/ (ignored by git)
# and carry one part per call, with some of the data's raw files; there, `stage` keeps each
# part in $G and the data in /tmp/data (a call keeps only the carried paths it names). `train` then continues
# every run to the profile's budget (python -m arssr_core.study.pretrain; a committed run of a smaller
# budget goes on from its best.pt, see checkpoints/README.md) and returns "a-*" parts: every
# record and learning_curves.csv, the best weights but those of ArSSR-RDN and SRResNet, and the
# small baselines' snapshots made here. `back` returns "b-*" parts: the two largest best.pt and the
# resume state of any small run not yet finished (to finish it here).
# The ArSSR runs alone (e.g. ONLY="arssr-rdn-aniso arssr-rdn-iso" SCORE=0: no snapshots to score) need only the
# prepared catalog's real training and validation volumes, carried as data/prepared/<profile>:
# copy catalog.json, val/ and the real train/ records into an ignored folder (.prep/<profile>),
# call 1 carries it with .whl (`cp -r .prep/. data/prepared/ && bash scripts/pretrain_device.sh
# stage`), call 2 carries .stage (stage, then train); the machine stays warm 30 s between calls.
# The tracked tree (checkpoints/pretrained, results) is larger than a call may carry: move those
# two folders out of the checkout for the calls and back after them (2026-11-27: tree 1.2 MiB,
# call 1 .prep + .whl 38 MiB, call 2 .stage 49 MiB). To go further on the same warm machine, raise
# the budget in the profile and call `train` again at once, without staging: each run's last.pt
# (exact resume) waits in $G; the budget a run reached is the one to record (constant lr).
# Usage there:  bash scripts/pretrain_device.sh stage   (once per carried part)
#               bash scripts/pretrain_device.sh train   then at once   bash scripts/pretrain_device.sh back
set -uo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=$(command -v ${PY:-python3}) PROFILE=${PROFILE:-cpu} G=${G:-/tmp/runs}
export PYTHONPATH=/tmp/site
if ! $PY -c "import nibabel" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
fi
# a call keeps only the carried paths it names: what earlier calls carried waits in /tmp
# (raw registry files, or a prepared catalog: data/prepared/<profile>, smaller for the ArSSR runs)
mkdir -p /tmp/data data/raw && cp -rn /tmp/data/. data/raw/ && cp -rn data/raw/. /tmp/data/
mkdir -p /tmp/prepared data/prepared && cp -rn /tmp/prepared/. data/prepared/ && cp -rn data/prepared/. /tmp/prepared/
case "${1:-train}" in
stage)
  mkdir -p $G && for part in .stage/*/; do [ -d "$part" ] && cp -r "$part". $G/; done
  touch $G/.staged   # snapshots newer than this were made here (only those travel back)
  nvidia-smi -L 2>/dev/null; (cd $G && ls -d */ 2>/dev/null | tr '\n' ' '); echo; du -sh $G data/raw/* data/prepared/* 2>/dev/null
  true   # a call that stages only the data has no run folders yet
  ;;
train)
  $PY -c "import torch, nibabel; print(torch.__version__, torch.cuda.is_available(), nibabel.__version__)" || exit 1
  timeout "${TRAIN_TIMEOUT:-540}" $PY -m arssr_core.study.pretrain --profile $PROFILE --out $G --workers ${WORKERS:-12} \
      --chunk 1000 --stop-after-s "${STOP_AFTER:-400}" $([ "${SCORE:-1}" = 1 ] && echo --score) ${ONLY:+--only $ONLY} 2>&1 \
      | tr '\r' '\n' | grep -v "it/s\]$" | tee $OUT/log.txt
  (cd $G && ls -la */ > $OUT/files.txt)
  (cd $G && tar cf - $(ls learning_curves.csv 2>/dev/null) */history.csv */validation.csv \
      $(ls */best.pt | grep -v -e arssr-rdn/ -e arssr-srresnet/) $(find srcnn3d-* dcsrn-* -name 'step-*.pt' -newer .staged 2>/dev/null) \
      | split -b 15m - $OUT/a-)
  ls -la $OUT
  ;;
back)
  unfinished=$(cd $G && $PY -c "
import glob, torch
for p in sorted(glob.glob('srcnn3d-*/last.pt') + glob.glob('dcsrn-*/last.pt')):
    if not torch.load(p, weights_only=True)['meta'].get('finished'): print(p)")
  (cd $G && tar cf - arssr-rdn/best.pt arssr-srresnet/best.pt $unfinished | split -b 15m - $OUT/b-)
  ls -la $OUT
  ;;
esac
