#!/usr/bin/env bash
# Installs what the quality tests (tests/test_quality.py) and scripts/lighthouse.sh need, outside
# the repository. Idempotent: a second run checks and prints the versions in about a second.
#
#   bash scripts/install-browser-tools.sh          (FORCE=1 reinstalls the npm tools)
#
# - Debian packages, only those missing (apt-get update runs only when something is missing):
#   chromium, fonts-liberation, fonts-dejavu-core, and default-jre-headless when there is no
#   `java` on PATH. Needs root, or sudo.
# - npm tools pinned in scripts/browser-tools/package.json (axe-core, playwright-core, vnu-jar,
#   lighthouse) into ${CONSTAT_TOOLS:-$HOME/.cache/constat-tools}/node_modules. A stamp holding
#   the hash of package.json skips the install when it is up to date.
#
# Offline pitfalls (see the shared tools' README): never run `npx playwright install` (it
# downloads a browser; the tests drive Debian's /usr/bin/chromium instead), and install with
# --ignore-scripts: vnu-jar's postinstall would download a Java runtime from GitHub.
# Reaches only Debian's apt mirrors and the npm registry.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGE_JSON="$HERE/browser-tools/package.json"
TOOLS="${CONSTAT_TOOLS:-$HOME/.cache/constat-tools}"
mkdir -p "$TOOLS" && TOOLS="$(cd "$TOOLS" && pwd)"   # absolute: node resolves it as a path
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
T0=$SECONDS

log() { echo "[install-browser-tools] $*" >&2; }
die() { echo "[install-browser-tools] error: $*" >&2; exit 1; }

# --- Debian packages -------------------------------------------------------------------------
have_deb() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
need_apt=()
[ -x "$CHROMIUM" ] || have_deb chromium || need_apt+=(chromium)
for font in fonts-liberation fonts-dejavu-core; do have_deb "$font" || need_apt+=("$font"); done
command -v java >/dev/null || need_apt+=(default-jre-headless)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${need_apt[*]}"
    SUDO=(sudo)
  fi
  log "apt-get install ${need_apt[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM (set CHROMIUM to its path)"
command -v java >/dev/null || die "java is still missing after the install"
command -v node >/dev/null && command -v npm >/dev/null \
  || die "node and npm are needed (node >= 18; Lighthouse 12.8.2 runs on node 20)"

# --- npm tools -------------------------------------------------------------------------------
HASH="$(sha256sum "$PACKAGE_JSON" | cut -d' ' -f1)"
STAMP="$TOOLS/.constat-tools-stamp"
installed() {  # every pinned package is in node_modules at its pinned version
  node -e '
    const want = require(process.argv[1]).dependencies;
    for (const [name, version] of Object.entries(want)) {
      let got = null;
      try { got = require(process.argv[2] + "/node_modules/" + name + "/package.json").version; } catch {}
      if (got !== version) process.exit(1);
    }' "$PACKAGE_JSON" "$TOOLS"
}
if [ "${FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && installed; then
  log "npm tools up to date in $TOOLS"
else
  log "npm install into $TOOLS"
  rm -f "$STAMP"
  cp "$PACKAGE_JSON" "$TOOLS/package.json"
  (cd "$TOOLS" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error)
  installed || die "npm install finished but the pinned versions are not all in $TOOLS/node_modules"
  echo "$HASH" > "$STAMP"
fi

# --- report ----------------------------------------------------------------------------------
{
  echo "chromium:        $("$CHROMIUM" --version 2>/dev/null | head -1)"
  echo "java:            $(java -version 2>&1 | head -1)"
  echo "node:            $(node --version)"
  node -e '
    for (const p of Object.keys(require(process.argv[1]).dependencies))
      console.log((p + ":").padEnd(17) + require(process.argv[2] + "/node_modules/" + p + "/package.json").version)
  ' "$PACKAGE_JSON" "$TOOLS"
} >&2
log "done in $((SECONDS - T0)) s (tools in $TOOLS)"
