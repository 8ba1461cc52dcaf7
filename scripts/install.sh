#!/usr/bin/env bash
# Install mailmig into a virtual environment beside this checkout, put `mailmig` on ~/.local/bin,
# and open it: on the project file in the current folder, or on the demo project if there is none.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
start="$PWD"

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "installing python3-venv (Debian) …"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq python3-venv >/dev/null
  else sudo apt-get install -y -qq python3-venv >/dev/null; fi
fi
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install -q --disable-pip-version-check "$here"
mkdir -p "$HOME/.local/bin"
ln -sf "$here/.venv/bin/mailmig" "$HOME/.local/bin/mailmig"
echo "mailmig installed: $HOME/.local/bin/mailmig ($("$here/.venv/bin/mailmig" --version))"
# shellcheck source=lib/path_hint.sh
. "$here/scripts/lib/path_hint.sh"
path_hint "$HOME/.local/bin"
cd "$start"
# No standard input (a script, CI): install only.
if [ -t 0 ] && [ -t 1 ]; then
  exec "$here/.venv/bin/mailmig" "$@"
fi
