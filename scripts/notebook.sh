#!/usr/bin/env bash
# The tutorial notebooks in Jupyter Notebook (Debian's classic front end), with the project's
# TypeScript kernel and its Plotly renderer (both set up in ./.jupyter by scripts/setup.sh), on
# 127.0.0.1 only. Prints the URL to open (with its access token); Ctrl+C stops the server.
#
#   npm run notebook                # port 8888
#   PORT=9000 npm run notebook      # another port
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v jupyter-notebook >/dev/null || [ ! -f .jupyter/share/jupyter/kernels/tslab/kernel.json ]; then
  echo "notebook: Jupyter Notebook or the TypeScript kernel is missing; run bash scripts/setup.sh" >&2
  exit 1
fi
export JUPYTER_PATH="$PWD/.jupyter/share/jupyter"
export JUPYTER_CONFIG_PATH="$PWD/.jupyter/etc/jupyter"
port=${PORT:-8888}
token=${JUPYTER_TOKEN:-$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(16))')}
# Containers and CI machines often run as root, which Jupyter refuses unless told.
as_root=()
if [ "$(id -u)" = 0 ]; then as_root=(--allow-root); fi
echo "bireal notebooks: open http://127.0.0.1:$port/tree?token=$token"
exec jupyter-notebook --no-browser --ip=127.0.0.1 --port="$port" --port-retries=0 \
  --NotebookApp.token="$token" --notebook-dir=notebooks "${as_root[@]}"
