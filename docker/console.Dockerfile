# syntax=docker/dockerfile:1.7
# crucible-console: the web console (review queue, human rating, runs, datasets, models, rollouts).
# Build from the repository root: docker build -f docker/console.Dockerfile -t crucible-console .
# Only libs/common and services/console (and their dependencies) go in: docker/console.Dockerfile.dockerignore.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY constraints.txt ./
COPY libs/common libs/common
COPY services/console services/console
# Versions come from constraints.txt and each package's pyproject.toml (hadolint cannot see `-c`).
# hadolint ignore=DL3013
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "./libs/common[s3]" "./services/console"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="crucible-console" \
      org.opencontainers.image.description="Crucible console: review queue, human rating and the loop at a glance" \
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
    CRUCIBLE_METRICS_PORT=9000 \
    CRUCIBLE_CONSOLE_PORT=8090
USER 10001:10001
WORKDIR /var/lib/crucible
# HTTP (the pages, /api/review, /healthz), Prometheus metrics and probes (/livez, /readyz).
EXPOSE 8090 9000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['CRUCIBLE_CONSOLE_PORT'], timeout=4)"]
ENTRYPOINT ["crucible"]
CMD ["serve", "console"]
