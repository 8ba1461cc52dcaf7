#!/usr/bin/env bash
# The one test command (README, .ci/run): installs the system packages the test lab needs, a virtual
# environment with the package and its test tools, then runs ruff, mypy and the whole pytest suite.
# The tests start their own Dovecot, Postfix, NSD/Knot and Unbound on loopback and stop them after.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-packages.sh
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"
.venv/bin/ruff check mailmig_tui tests bench scripts
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
