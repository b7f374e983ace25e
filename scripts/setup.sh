#!/usr/bin/env bash
# Sets up a fresh machine for bireal: npm dependencies (from the lockfile) and the build.
# Idempotent; run from anywhere. Later steps (Debian packages, Jupyter kernel, data cache) go here.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
npm run build
