#!/usr/bin/env bash
# Issue 15's matched-from-scratch probe (scripts/probe_matched_scratch.py) on a lent GPU machine:
# four runs side by side as parallel processes (ArSSR-thick's samples and the paper's isotropic
# samples, data seeds 0 and 1), each ArSSR-RDN's 12000 steps from the identity initialisation.
# Each call carries .whl (nibabel, absent there) and .prep (the prepared catalog's catalog.json,
# val/ and the four real train/ volumes, copied here from data/prepared/; both ignored by git);
# the tracked checkpoints/pretrained and results are larger than a call may carry (move them
# out of the checkout for the calls). The runs wait in $G between calls on the same warm machine.
# Usage there:  bash scripts/probe_matched_device.sh train [DEADLINE_S]   (again: goes on, exact resume)
#               bash scripts/probe_matched_device.sh back RUN...         (their best.pt and records, in 15 MiB parts)
set -uo pipefail
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 ARSSR_DATA=$PWD/data
G=${G:-/tmp/probe}
python3 -c "import nibabel" 2>/dev/null || PYTHONPATH= python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
mkdir -p data/prepared $G && cp -rn .prep/. data/prepared/
case "${1:-train}" in
train)
  nvidia-smi -L 2>/dev/null
  python3 -c "import torch, nibabel; print(torch.__version__, torch.cuda.is_available(), nibabel.__version__)" || exit 1
  for r in thick-0 iso-0 thick-1 iso-1; do
    python3 scripts/probe_matched_scratch.py train $G/${r%-*}-s${r#*-} --sampling ${r%-*} --seed ${r#*-} \
        --deadline-s "${2:-420}" >> $G/log-$r.txt 2>&1 &
  done
  wait
  tail -n 2 $G/log-*.txt
  (cd $G && tar cf $OUT/records.tar */history.csv */validation.csv log-*.txt)
  ;;
back)
  shift
  (cd $G && tar cf - $(for r in "$@"; do echo $r/best.pt $r/history.csv $r/validation.csv; done) | split -b 15m - $OUT/b-)
  ls -la $OUT
  ;;
esac
