#!/usr/bin/env bash
# Runs the Django example with one command: herd on :8080 (allowing the
# page's origin) and the Django app on :8000. Ctrl-C stops both.
#
#   ./examples/django/run.sh        then open http://localhost:8000
set -euo pipefail
cd "$(dirname "$0")/../.."
# Debian's python3-django; a python3 earlier on the PATH may lack Django.
python=python3
$python -c 'import django' 2>/dev/null || python=/usr/bin/python3
$python -c 'import django' 2>/dev/null || { echo "Django is missing: apt-get install -y python3-django" >&2; exit 1; }
go run ./cmd/herd --store memory --cors-origins http://localhost:8000 &
herd=$!
trap 'kill $herd 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf http://localhost:8080/readyz >/dev/null 2>&1 && break; sleep 0.2; done
$python examples/django/app.py --hub http://localhost:8080
