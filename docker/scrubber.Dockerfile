# syntax=docker/dockerfile:1.7
# crucible-scrubber: removes PII: crucible.records.raw -> crucible.records.scrubbed.
# Build from the repository root: docker build -f docker/scrubber.Dockerfile -t crucible-scrubber .
# Only libs/common and services/scrubber (and their dependencies) go in: docker/scrubber.Dockerfile.dockerignore.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive
# gcc compiles the scrubber's rules below (native.py) and stays in this stage. It follows the pinned
# base image's Debian release; exact deb pins break on every security update.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY constraints.txt ./
COPY libs/common libs/common
COPY services/scrubber services/scrubber
# Versions come from constraints.txt and each package's pyproject.toml (hadolint cannot see `-c`).
# The rules are compiled where they are installed (mypyc, about 1.4x faster detection); mypy, the
# build tool, leaves the venv again.
# hadolint ignore=DL3013
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "./libs/common[s3]" "./services/scrubber" \
 && /opt/venv/bin/pip install --no-cache-dir mypy==2.4.1 \
 && /opt/venv/bin/crucible scrubber compile \
 && /opt/venv/bin/pip uninstall -y mypy

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="crucible-scrubber" \
      org.opencontainers.image.description="Crucible scrubber: removes PII: crucible.records.raw -> crucible.records.scrubbed" \
      org.opencontainers.image.source="https://github.com/crucible/crucible"
# A fixed non-root uid/gid (10001) so the chart's runAsUser matches; home is CRUCIBLE_HOME.
RUN groupadd --system --gid 10001 crucible \
 && useradd --system --uid 10001 --gid crucible --home-dir /var/lib/crucible --no-create-home --shell /usr/sbin/nologin crucible \
 && install -d -o crucible -g crucible /var/lib/crucible
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CRUCIBLE_HOME=/var/lib/crucible \
    HF_HOME=/var/lib/crucible/hf \
    CRUCIBLE_METRICS_PORT=9000
USER 10001:10001
WORKDIR /var/lib/crucible
# Prometheus /metrics of `crucible serve` (the only port: workers talk to NATS, they serve nothing).
EXPOSE 9000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ['CRUCIBLE_METRICS_PORT'], timeout=4)"]
ENTRYPOINT ["crucible"]
CMD ["serve", "scrubber"]
