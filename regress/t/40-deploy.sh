#!/usr/bin/env bash
# Static checks of the deploy files and docs (the images and the compose
# stack run for real in regress/t/60-images.sh):
#   yamllint   every YAML file in the repository (.yamllint)
#   k8s        k8s/base and k8s/overlays/example rendered by `kubectl
#              kustomize`, checked against the code (regress/deploy_check.py)
#   docs       links and commands in README.md and docs/ (regress/doc_check.py)
#   api        docs/api.md is the rendering of docs/openapi.json
#   catalog    docs/schema.md and the settings table of docs/operations.md
#              are what the catalog of a fresh install says (`make docs`
#              regenerates them; scripts/gen-docs.py)
#   errcodes   every own SQLSTATE is raised by its name from sql/errcodes.txt,
#              and docs/errors.md's table is the file's
#   shell      bash -n of the deploy and set-up scripts
# Every check runs; the suite fails if any failed. kubectl comes from
# Debian's kubernetes-client when no kubectl is installed.
set -uo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"
command -v kubectl >/dev/null || scripts/setup.sh --packages kubernetes-client

failed=()
step() {
	local name=$1
	shift
	echo "== $name"
	if "$@"; then
		echo "ok   $name"
	else
		echo "FAIL $name"
		failed+=("$name")
	fi
}

yaml_files() {
	local n
	n=$(git ls-files -co --exclude-standard '*.yaml' '*.yml' | wc -l)
	echo "$n YAML files"
	[ "$n" -gt 0 ] && yamllint -s -c .yamllint .
}

shell_syntax() {
	local f rc=0
	for f in docker/*.sh scripts/*.sh regress/t/*.sh; do
		bash -n "$f" || rc=1
	done
	return $rc
}

# /usr/bin/python3: Debian's, with python3-yaml (yamllint's own dependency).
step yamllint yaml_files
step k8s /usr/bin/python3 regress/deploy_check.py
step docs /usr/bin/python3 regress/doc_check.py
step api /usr/bin/python3 scripts/render-api.py --check
step catalog scripts/gen-docs.py --check
step errcodes python3 scripts/errcodes.py check
step shell shell_syntax

if [ ${#failed[@]} -gt 0 ]; then
	echo "40-deploy: failed: ${failed[*]}"
	exit 1
fi
echo "40-deploy: all checks passed"
