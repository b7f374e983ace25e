#!/usr/bin/env bash
# Sets up a fresh machine for bireal: Debian's Jupyter (for the notebooks) and Chromium (for the
# site's browser tests), npm dependencies (from the lockfile), the build, and the project's
# TypeScript Jupyter kernel (tslab) registered in ./.jupyter (use it with
# JUPYTER_PATH=$PWD/.jupyter/share/jupyter). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! /usr/bin/python3 -c 'import nbclient, nbformat' 2>/dev/null || ! command -v jupyter-nbconvert >/dev/null ||
  [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  # Playwright cannot download its own browser here: the tests drive Debian's Chromium.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    jupyter-nbconvert jupyter-client python3-ipython python3-nbclient python3-nbformat \
    chromium fonts-dejavu-core
fi

npm ci --no-audit --no-fund
npm run build

# Notebooks import the package by name: link it into node_modules (npm ci removes the link).
ln -sfn .. node_modules/bireal
# The kernel, registered in the project. tslab compiles cells to CommonJS; Node 20 needs the
# flag below to require() this ES-module package.
/usr/bin/python3 node_modules/tslab/python/install.py \
  --tslab="$PWD/node_modules/.bin/tslab" --prefix="$PWD/.jupyter" >/dev/null
/usr/bin/python3 - <<'PY'
import json, pathlib
spec = pathlib.Path('.jupyter/share/jupyter/kernels/tslab/kernel.json')
kernel = json.loads(spec.read_text())
kernel['env'] = {'NODE_OPTIONS': '--experimental-require-module --disable-warning=ExperimentalWarning'}
spec.write_text(json.dumps(kernel, indent=1))
PY

# Real data for the notebooks and experiments: extracted into data/cache from the archives
# beside the checkout when they are there (elsewhere `bireal data fetch NAME` downloads them).
if [ -d ../shared/data ]; then
  for dataset in imagenette cifar10; do
    node dist/src/cli/main.js data fetch "$dataset" --from ../shared/data
  done
fi
