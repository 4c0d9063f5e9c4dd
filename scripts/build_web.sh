#!/usr/bin/env bash
# Copy the pages' npm packages (web/package-lock.json) into web/static/vendor/, which the API
# serves at /assets/vendor/: socket.io-client, hls.js, Swagger UI and ReDoc, so nothing loads
# from a CDN at run time. Run by `make` (install, run, test); the copies are not committed.
# Without Node.js/npm it warns and exits 0: the API still runs, the pages do not.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null 2>&1; then
  echo "[web] npm not found: the H5 pages and /docs need Node.js 20+ and npm (make web)" >&2
  exit 0
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # --legacy-peer-deps: ReDoc's standalone bundle carries React and friends inside it.
  npm ci --no-audit --no-fund --legacy-peer-deps --ignore-scripts --loglevel=error
fi
out=static/vendor
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp node_modules/socket.io-client/dist/socket.io.esm.min.js "$out.tmp/"
cp node_modules/hls.js/dist/hls.min.js "$out.tmp/"
cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css "$out.tmp/"
cp node_modules/redoc/bundles/redoc.standalone.js "$out.tmp/"
rm -rf "$out" && mv "$out.tmp" "$out"
touch "$out/.built"
echo "[web] assets copied to web/$out"
