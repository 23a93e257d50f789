#!/usr/bin/env bash
# Debian's Chromium (the browser tests), HAProxy and OpenSSL (deploy/serve, its HTTPS and users, and their tests), installed where this
# machine allows it (root, or sudo without a password, and apt). Elsewhere it says what to install; the
# tests that need them then skip with that reason on a developer's machine (and fail in CI, CI=true).
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x "$(command -v haproxy || echo /usr/sbin/haproxy)" ] || missing+=(haproxy)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-packages: install ${missing[*]} with this system's package manager for the browser and deploy/serve tests" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "system-packages: ${missing[*]} not installed and no root here: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
fi
echo "system-packages: installing ${missing[*]} (apt)…"
"${SUDO[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null ||
    echo "system-packages: apt could not install ${missing[*]}" >&2
