#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's Chromium for the browser journey) and run
# the whole suite. `.ci/run` calls exactly this; so does the README's second command.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    sudo sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium' >/dev/null
  fi
fi

# A throwaway PostgreSQL server for the `--storage postgresql://...` tests (stopped on exit).
# shellcheck source=scripts/postgres.sh
source scripts/postgres.sh

# Tests make their own KNOBS_HOME; this keeps anything else they start away from ~/.knobs.
KNOBS_HOME="$(mktemp -d)"
export KNOBS_HOME
mkdir -p artifacts/screenshots
python -m ruff check knobs app.py app_pages components tests bench
python -m pytest -p no:cacheprovider "$@"
