# syntax=docker/dockerfile:1.7
# crucible-synthesizer: dataset deficits -> conversations from a fallback chain of LLM endpoints -> records.raw.
# Build from the repository root: docker build -f docker/synthesizer.Dockerfile -t crucible-synthesizer .
# Only libs/common and services/synthesizer (and their dependencies) go in: docker/synthesizer.Dockerfile.dockerignore.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY constraints.txt ./
COPY libs/common libs/common
COPY services/synthesizer services/synthesizer
# Versions come from constraints.txt and each package's pyproject.toml (hadolint cannot see `-c`). The CPU torch wheel
# (MiniLM for the distribution check) keeps this CPU-only service from pulling a multi-GB CUDA build.
# hadolint ignore=DL3013
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt "./libs/common[s3]" "./services/synthesizer"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="crucible-synthesizer" \
      org.opencontainers.image.description="Crucible synthesizer: dataset deficits -> synthetic conversations through a fallback chain of LLM endpoints -> records.raw" \
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
# Prometheus /metrics of `crucible serve` (the only port: it talks to NATS and the LLM endpoints, it serves nothing).
EXPOSE 9000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ['CRUCIBLE_METRICS_PORT'], timeout=4)"]
ENTRYPOINT ["crucible"]
CMD ["serve", "synthesizer"]
