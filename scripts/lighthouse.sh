#!/usr/bin/env bash
# Lighthouse scores of the built site: `make lighthouse` (or `bash scripts/lighthouse.sh`).
#
# NOT part of `make test`: it takes about a minute (Lighthouse loads each page several times
# under simulated throttling), and performance scores are noisy on a busy machine. Run it before
# a release, or after a change to the templates or the stylesheet.
#
# It builds the project into a temporary folder (build.py --out), serves it on 127.0.0.1 (free
# port, under the base path of site.yaml's base_url), and runs Lighthouse 12.8.2 with the system
# Chromium on the home page and on one claim page (a rated one when there is one), each with the
# mobile preset (Lighthouse's default: phone emulation and throttling) and the desktop preset.
# Chromium gets a fresh profile per run, and every host name but the loopback fails to resolve.
#
# Prints the four category scores per page and preset, then the audits that lost points.
# Exit 1 when accessibility or SEO is below 1.00, or performance or best practices below 0.95;
# 2 on a tool error. Needs `bash scripts/install-browser-tools.sh` first.
#
# Env: CONSTAT_TOOLS (default ~/.cache/constat-tools), CHROMIUM (default /usr/bin/chromium),
#      LH_PATHS="/ /affirmations/a/b/" (paths under the base path, instead of the two defaults),
#      LH_OUT (default /tmp/constat-lighthouse: JSON and HTML reports, kept after the run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS="${CONSTAT_TOOLS:-$HOME/.cache/constat-tools}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
LH="$TOOLS/node_modules/.bin/lighthouse"
OUT="${LH_OUT:-/tmp/constat-lighthouse}"
PY=.venv/bin/python
INSTALL='run `bash scripts/install-browser-tools.sh`'
die() { echo "lighthouse.sh: $*" >&2; exit 2; }

[ -x "$LH" ] || die "no Lighthouse in $TOOLS/node_modules: $INSTALL"
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM: $INSTALL"
[ -x "$PY" ] || die "no $PY: run \`make site\` first"
command -v node >/dev/null || die "node is not on PATH"

WORK="$(mktemp -d /tmp/constat-lighthouse-work.XXXXXX)"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$PY" build.py build --out "$WORK/site" >&2 || die "the build failed"

# The base path and the default pages: the home page and the first claim page with a rating.
read -r BASE_PATH CLAIM_PATH < <("$PY" - "$WORK/site" <<'EOF'
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

site = Path(sys.argv[1])
base_path = urlsplit(yaml.safe_load(Path("site.yaml").read_text("utf-8"))["base_url"]).path or "/"
rated = {s["key"] for s in yaml.safe_load(Path("statuses.yaml").read_text("utf-8")) if s["rating"] is not None}
pages = sorted(p.parent.relative_to(site).as_posix() for p in site.glob("affirmations/*/*/index.html"))
status = {page: yaml.safe_load(Path("claims", *page.split("/")[1:]).with_suffix(".yaml").read_text("utf-8"))["status"]
          for page in pages}
claim = next((page for page in pages if status[page] in rated), pages[0] if pages else "")
print(base_path, base_path + claim + "/" if claim else "-")
EOF
)
PATHS=()
if [ -n "${LH_PATHS:-}" ]; then
  read -r -a PATHS <<< "$LH_PATHS"
else
  PATHS=("$BASE_PATH")
  [ "$CLAIM_PATH" = - ] || PATHS+=("$CLAIM_PATH")
fi

# A static server on 127.0.0.1, on a free port, serving the folder under the base path.
python3 - "$WORK/site" "$BASE_PATH" "$WORK/port" <<'EOF' &
import functools, http.server, os, sys

root, base, port_file = sys.argv[1:]

class Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path):
        if not path.startswith(base):
            return os.path.join(root, ".outside-the-base-path")
        return super().translate_path("/" + path[len(base):])

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
EOF
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || die "the local server did not start"
ORIGIN="http://127.0.0.1:$(cat "$WORK/port")"

HOST_RULES='MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost'
FLAGS="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
FLAGS+=" --disable-component-update --disable-sync --disable-default-apps --disable-extensions"
FLAGS+=" --no-default-browser-check --mute-audio"
mkdir -p "$OUT"
echo "lighthouse $("$LH" --version), $("$CHROMIUM" --version 2>/dev/null | head -1); reports in $OUT" >&2

status=0
for PAGE in "${PATHS[@]}"; do
  for PRESET in mobile desktop; do
    # Lighthouse drops whatever follows a dot in --output-path: the name has none.
    name="$(printf '%s' "$PAGE" | tr -c 'A-Za-z0-9_-' '_')-$PRESET"
    profile="$WORK/profile-$name"
    mkdir -p "$profile"
    preset=()
    [ "$PRESET" = desktop ] && preset=(--preset=desktop)
    # Single quotes inside --chrome-flags keep the resolver rule (it has spaces) one argument.
    if ! CHROME_PATH="$CHROMIUM" timeout 240 "$LH" "$ORIGIN$PAGE" "${preset[@]}" \
        --chrome-flags="$FLAGS --host-resolver-rules='$HOST_RULES' --user-data-dir=$profile" \
        --only-categories=performance,accessibility,best-practices,seo \
        --output=json --output=html --output-path="$OUT/$name" --quiet; then
      echo "$PAGE [$PRESET]: lighthouse failed" >&2
      status=2
      continue
    fi
    rm -rf "$profile"
    node - "$OUT/$name.report.json" "$PAGE" "$PRESET" <<'EOF' || { rc=$?; [ "$status" = 2 ] || status=$rc; }
const [file, page, preset] = process.argv.slice(2);
const report = JSON.parse(require('fs').readFileSync(file, 'utf8'));
if (report.runtimeError) {
  console.log(`${page} [${preset}]: runtime error ${report.runtimeError.code}: ${report.runtimeError.message}`);
  process.exit(2);
}
const floors = { performance: 0.95, accessibility: 1, 'best-practices': 0.95, seo: 1 };
const cats = Object.values(report.categories);
console.log(`${page} [${preset}] ` + cats.map(c => `${c.id}=${c.score === null ? 'n/a' : c.score.toFixed(2)}`).join(' '));
let below = false;
for (const c of cats) {
  if (c.score === null || c.score < floors[c.id]) {
    below = true;
    console.log(`  BELOW ${floors[c.id].toFixed(2)}: ${c.id}`);
  }
  for (const ref of c.auditRefs) {
    const a = report.audits[ref.id];
    if (ref.weight > 0 && a.score !== null && a.score < 1)
      console.log(`  ${c.id}: ${a.id} (${a.score}) ${a.title}${a.displayValue ? ' — ' + a.displayValue : ''}`);
  }
}
process.exit(below ? 1 : 0);
EOF
  done
done
exit $status
