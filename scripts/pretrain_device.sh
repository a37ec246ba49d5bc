#!/usr/bin/env bash
# Train a profile's compared models at their matched step budgets on a lent GPU machine (the
# device tool of the study's workplace; $OUT is the folder whose files come back, at most
# 16 MiB a file and 64 MiB a call), then score their snapshots (learning curves).
# The runs land in checkpoints/gpu/ there and come back as tar parts: "a-*" holds every
# model's record and best weights but ArSSR-RDN's, "b-*" ArSSR-RDN's weights, the small
# baselines' snapshots and the last.pt of any run not yet finished (to resume it here).
# Usage there:  bash scripts/pretrain_device.sh train   then at once   bash scripts/pretrain_device.sh rdn
set -uo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
PY=$(command -v ${PY:-python3}) PROFILE=${PROFILE:-cpu} G=${G:-checkpoints/gpu}
if ! $PY -c "import nibabel" 2>/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
case "${1:-train}" in
train)
  nvidia-smi -L 2>/dev/null; $PY -c "import torch; print(torch.__version__, torch.cuda.is_available())"
  timeout "${TRAIN_TIMEOUT:-420}" $PY -m arssr_core.pretrain --profile $PROFILE --out $G --workers ${WORKERS:-12} \
      --chunk 1000 --stop-after-s "${STOP_AFTER:-300}" --score ${ONLY:+--only $ONLY} 2>&1 | tr '\r' '\n' | grep -v "it/s\]$" | tee $OUT/log.txt
  (cd $G && ls -la */ > $OUT/files.txt)
  runs=$(if [ -n "${ONLY:-}" ]; then printf '%s\n' $ONLY; else (cd $G && ls -d */ | tr -d /); fi)
  (cd $G && tar cf - learning_curves.csv $(for r in $runs; do [ "$r" = arssr-rdn ] || ls $r/best.pt; \
      ls $r/history.csv $r/validation.csv; done) \
      | split -b 15m - $OUT/a-)
  ;;
rdn)
  unfinished=$(cd $G && $PY -c "
import glob, torch
for p in sorted(glob.glob('*/last.pt')):
    if not torch.load(p, weights_only=True)['meta'].get('finished'): print(p)")
  (cd $G && tar cf - arssr-rdn/best.pt arssr-rdn/*.csv $(ls srcnn3d-*/step-*.pt dcsrn-*/step-*.pt 2>/dev/null) $unfinished \
      | split -b 15m - $OUT/b-)
  ls -la $OUT
  ;;
esac
