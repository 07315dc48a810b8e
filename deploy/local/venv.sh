#!/usr/bin/env bash
# Creates the project's virtualenv at <repo>/.venv (Python 3.11) if it is
# absent and installs the project into it, editable, with the `dev` extras.
#
# Versions are pinned by deploy/constraints.txt. Re-running is cheap: a hash of
# pyproject.toml and the constraints is kept in a stamp file in the venv, and
# pip only runs again when either has changed (or the last install did not
# finish).
#
# Environment (optional):
#   SHOUYING_PYTHON  interpreter to build the venv with (default python3.11)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO_ROOT/.venv"
STAMP="$VENV/.shouying-pyproject.sha256"
PYTHON="${SHOUYING_PYTHON:-python3.11}"

cd "$REPO_ROOT"

if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null || {
        echo "venv.sh: $PYTHON not found (set SHOUYING_PYTHON)" >&2
        exit 1
    }
    echo "venv.sh: creating $VENV with $("$PYTHON" --version)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

want="$(cat pyproject.toml deploy/constraints.txt | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

echo "venv.sh: installing the project and its dev extras into .venv"
rm -f "$STAMP"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c deploy/constraints.txt -e '.[dev]'
echo "$want" >"$STAMP"
