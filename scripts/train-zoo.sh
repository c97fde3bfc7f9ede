#!/usr/bin/env bash
# Train (or resume) the zoo's A2C agents exactly as a user would, one game per core.
# Re-running resumes each run from cfsal/zoo/<name>.safetensors(.train/) towards the same budget.
# Usage: scripts/train-zoo.sh [breakout|amidar ...]   (default: breakout amidar)
#        scripts/train-zoo.sh ale_pong               (real Atari Pong through the ALE → cfsal/zoo/ale_pong-a2c)
#        scripts/train-zoo.sh ale_breakout           (real Atari Breakout → cfsal/zoo/ale_breakout-a2c; in training)
set -euo pipefail
cd "$(dirname "$0")/.."
games=("${@:-breakout amidar}")
for game in ${games[@]}; do
  nice -n 19 cfsal train --game "$game" --alg a2c --steps 1e7 \
    --out "cfsal/zoo/${game}-a2c.safetensors" --no-progress &
done
wait
