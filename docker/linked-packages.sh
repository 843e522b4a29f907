#!/usr/bin/env bash
# Print the Debian packages that hold the shared libraries the ELF files
# under each PATH (a file or a directory) link, one a line (ldd, dpkg -S).
# docker/Dockerfile runs it where each image's programs are built or
# installed, so a run-time image installs the libraries of what it runs and
# no more. A library that is not found, or that no package holds, fails it.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 PATH..." >&2; exit 2; }
libs=$(find "$@" -type f \( -name '*.so*' -o -perm -u+x \) -print0 |
	{ xargs -0 ldd 2>/dev/null || true; })  # ldd fails on scripts and static files
if grep -q 'not found' <<<"$libs"; then
	echo "linked-packages: libraries not found: $(grep 'not found' <<<"$libs" | sort -u | tr -s ' \t\n' ' ')" >&2
	exit 1
fi
awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$libs" | sort -u |
	while read -r lib; do
		# dpkg knows a library by the path its package ships, which on a
		# merged /usr may be the /lib one.
		lib=$(realpath "$lib")
		dpkg -S "$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
			{ echo "linked-packages: no package holds $lib" >&2; exit 1; }
	done | cut -d: -f1 | sort -u
