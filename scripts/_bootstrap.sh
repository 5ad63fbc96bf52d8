# Sourced by scripts/run and scripts/test: installs what the project needs on a
# fresh Debian/Ubuntu machine, then activates the virtual environment.
# Idempotent: a second run only checks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ALERTA_VENV:-$ROOT/.venv}"

need_apt=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "alerta: installing system packages: ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "alerta: missing system packages: ${need_apt[*]} (run as root, or: sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

stamp="$VENV/.alerta-lock.sha256"
want="$(sha256sum "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "alerta: preparing $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q --require-hashes -r "$ROOT/requirements.lock"
  "$VENV/bin/python" -m pip install -q --no-deps -e "$ROOT"
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"

# Real Asterisk 22 and SIPp for the end-to-end tests (tests/test_e2e_asterisk_*.py), in
# this order: what is on PATH; the distribution's `asterisk` package where there is one
# (Ubuntu; Debian 12 has none); the prebuilt bundle in $ALERTA_ASTERISK_BUNDLE (a folder
# holding install.sh, run as root; a relative path is taken from the repository root).
# Installed is not enough: it must boot here (a build for another CPU dies with SIGILL).
# When none boots, Debian's own asterisk package (its development suite carries 22.10.1)
# is installed in a root of its own under /opt/alerta-asterisk (scripts/asterisk-debian-root,
# as root; ALERTA_ASTERISK_DEBIAN_ROOT=0 turns this off); else stop and say how to get one.
# SIPp: the bundle's 3.7 (in /usr/local/bin, ahead of Debian's sip-tester 3.6), else the
# sip-tester package.
ALERTA_DEBIAN_ASTERISK=/opt/alerta-asterisk
alerta_have_asterisk() { command -v asterisk >/dev/null 2>&1 || [ -x /usr/sbin/asterisk ]; }
alerta_asterisk_boots() { alerta_have_asterisk && python -m ivr.testing.asterisk --check >&2; }
ensure_asterisk() {
  local bundle="${ALERTA_ASTERISK_BUNDLE:-}" how
  how="install Asterisk 22 with chan_pjsip and SIPp 3.7 and put them on PATH, or run this as
root with ALERTA_ASTERISK_BUNDLE=<folder with install.sh> (the prebuilt bundle; .ci/run uses
../shared/asterisk), or on Ubuntu as root (apt-get install asterisk sip-tester), or on Debian
as root (scripts/asterisk-debian-root, then put /opt/alerta-asterisk/sbin first on PATH)"
  if ! alerta_have_asterisk; then
    if [ -n "$bundle" ] && [ "${bundle#/}" = "$bundle" ]; then bundle="$ROOT/$bundle"; fi
    if [ "$(id -u)" = 0 ] && apt-cache policy asterisk 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      echo "alerta: installing the distribution's asterisk package" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends asterisk >/dev/null
      systemctl disable --now asterisk >/dev/null 2>&1 || true  # the tests start their own
    elif [ -n "$bundle" ] && [ -f "$bundle/install.sh" ] && [ "$(id -u)" = 0 ]; then
      echo "alerta: installing Asterisk and SIPp from $bundle" >&2
      bash "$bundle/install.sh" >&2
    elif [ -n "$bundle" ] && [ ! -f "$bundle/install.sh" ]; then
      echo "alerta: ALERTA_ASTERISK_BUNDLE=$bundle holds no install.sh" >&2
    fi
  fi
  if ! command -v sipp >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sip-tester >/dev/null
    else
      echo "alerta: SIPp is not installed; $how" >&2
      return 1
    fi
  fi
  hash -r
  if ! alerta_asterisk_boots; then
    if [ "${ALERTA_ASTERISK_DEBIAN_ROOT:-1}" != 0 ] && { [ -x "$ALERTA_DEBIAN_ASTERISK/sbin/asterisk" ] ||
        { [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ]; }; }; then
      echo "alerta: no Asterisk that boots here; using Debian's package in $ALERTA_DEBIAN_ASTERISK" >&2
      bash "$ROOT/scripts/asterisk-debian-root" "$ALERTA_DEBIAN_ASTERISK" >&2
      export PATH="$ALERTA_DEBIAN_ASTERISK/sbin:$PATH"
      hash -r
    fi
    if ! alerta_asterisk_boots; then
      echo "alerta: no Asterisk that boots on this machine; $how" >&2
      return 1
    fi
  fi
  echo "alerta: $(asterisk -V 2>/dev/null | head -1), SIPp $(sipp -v 2>&1 | grep -o 'v[0-9][0-9.]*' | head -1) at $(command -v sipp)" >&2
}
