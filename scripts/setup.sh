#!/usr/bin/env bash
# Sets up a fresh machine for bireal: Debian's Jupyter (for the notebooks) and Chromium (for the
# site's browser tests), Debian's PyTorch and PIL (python/bireal_torch), Debian's oneDNN and C++
# compiler with the native training kernels (native/, node-gyp against Node's own headers), npm
# dependencies (from the lockfile), the build, and the project's TypeScript Jupyter kernel (tslab)
# registered in ./.jupyter (use it with JUPYTER_PATH=$PWD/.jupyter/share/jupyter). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $sudo apt-get update -q && apt_updated=1; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

if ! /usr/bin/python3 -c 'import nbclient, nbformat' 2>/dev/null || ! command -v jupyter-nbconvert >/dev/null ||
  [ ! -x /usr/bin/chromium ]; then
  # Playwright cannot download its own browser here: the tests drive Debian's Chromium.
  apt_install jupyter-nbconvert jupyter-client python3-ipython python3-nbclient python3-nbformat \
    chromium fonts-dejavu-core
fi
# The front end of `npm run notebook` (Debian has no JupyterLab).
if ! command -v jupyter-notebook >/dev/null; then apt_install jupyter-notebook; fi

# The native kernels need Debian's oneDNN (the one Debian's PyTorch uses), a C++ compiler and
# Node's headers (/usr/include/node). Where apt cannot provide them, training runs on wasm alone.
if command -v apt-get >/dev/null && { [ ! -f /usr/include/oneapi/dnnl/dnnl.hpp ] || ! command -v g++ >/dev/null; }; then
  apt_install libdnnl-dev g++ make || echo "setup: could not install libdnnl-dev and g++ with apt-get"
fi

# python/bireal_torch (training bireal's recipes on PyTorch, `bireal export --format torch`,
# `bireal import --torch`): Debian's PyTorch and PIL (image decoding), nothing from pip.
if ! /usr/bin/python3 -c 'import torch, PIL' 2>/dev/null; then
  apt_install python3-torch python3-pil || echo "setup: could not install python3-torch and python3-pil with apt-get"
fi

# onnxruntime-node (the benchmark's and tests' ONNX Runtime) ships its CPU binary in the npm
# package; skip its install script, which would download more from outside the npm registry.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build
# node-gyp builds against Node's installed headers (--nodedir): nothing is downloaded.
if ! node node_modules/node-gyp/bin/node-gyp.js rebuild --nodedir="$(dirname "$(dirname "$(command -v node)")")" \
  -C native >native/build.log 2>&1; then
  echo "setup: native kernels not built (see native/build.log); training runs on wasm alone"
fi

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
# Jupyter Notebook's renderer for the notebooks' Plotly charts (npm run notebook).
renderer=.jupyter/share/jupyter/nbextensions/bireal-plotly
mkdir -p "$renderer" .jupyter/etc/jupyter/nbconfig
cp notebooks/jupyter/plotly-renderer.js "$renderer/main.js"
cp node_modules/plotly.js-cartesian-dist-min/plotly-cartesian.min.js "$renderer/plotly.min.js"
# Debian enables the ipywidgets extension for every notebook; its comm messages make the
# TypeScript kernel print "unknown msg_type: comm_open" under the first cell that runs.
echo '{"load_extensions": {"bireal-plotly/main": true, "jupyter-js-widgets/extension": false}}' \
  >.jupyter/etc/jupyter/nbconfig/notebook.json

# Real data for the notebooks and experiments: extracted into data/cache from the archives
# beside the checkout when they are there (elsewhere `bireal data fetch NAME` downloads them).
if [ -d ../shared/data ]; then
  for dataset in imagenette cifar10; do
    node dist/src/cli/main.js data fetch "$dataset" --from ../shared/data
  done
fi
