#!/usr/bin/env bash
# Fetch swagger-ui-dist, at the version pinned here, into a directory
# (default build/swagger-ui) for the shim to serve at /swagger/: `npm pack`
# downloads the package's tarball from the npm registry and tar unpacks it,
# so none of its install scripts runs. Its LICENSE is kept beside the files.
# Never committed (build/ is ignored). Safe to re-run: a directory that
# holds this version already is left alone.
set -euo pipefail
VERSION=5.35.0
dest=${1:-"$(cd "$(dirname "$0")/.." && pwd)/build/swagger-ui"}

if [ "$(cat "$dest/.version" 2>/dev/null)" = "$VERSION" ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "swagger-ui: npm is needed (Debian's npm package)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tar -xzf "$work/swagger-ui-dist-$VERSION.tgz" -C "$work"
rm -rf "$dest"
mkdir -p "$dest"
# The distribution's files (its own index.html and initializer are replaced
# by web/swagger/'s, which the shim serves first).
cp -a "$work/package/." "$dest/"
[ -f "$dest/LICENSE" ] || { echo "swagger-ui: the package has no LICENSE" >&2; exit 1; }
echo "$VERSION" >"$dest/.version"
echo "swagger-ui: swagger-ui-dist $VERSION in $dest"
