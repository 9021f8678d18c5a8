# syntax=docker/dockerfile:1.7
# crucible-trainer: LoRA/QLoRA fine-tuning (PEFT, Transformers, DeepSpeed) on GPUs.
# Build from the repository root: docker build -f docker/trainer.Dockerfile -t crucible-trainer .
# Only libs/common and services/trainer (and their dependencies) go in: docker/trainer.Dockerfile.dockerignore.

ARG CUDA_IMAGE=nvidia/cuda:13.0.0-runtime-ubuntu24.04
# The CUDA build of torch: PyPI's torch 2.13.0 Linux wheel is built for CUDA 13.0 and pulls its CUDA libraries
# (cuda-toolkit 13.0, cuDNN, NCCL) as wheels, so the base only needs a matching CUDA 13.0 runtime and the driver.
# Another CUDA line: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 and a matching CUDA_IMAGE.
ARG TORCH_INDEX_URL=https://pypi.org/simple

FROM ${CUDA_IMAGE} AS build
ARG TORCH_INDEX_URL
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive
# Ubuntu's python3 follows the pinned base image's release; exact deb pins break on every security update.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY constraints.txt ./
COPY libs/common libs/common
COPY services/trainer services/trainer
# Versions come from constraints.txt and each package's pyproject.toml (hadolint cannot see `-c`).
# hadolint ignore=DL3013
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" torch==2.13.0 \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt "./libs/common[s3]" "./services/trainer[gpu]"

FROM ${CUDA_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# Same reason as above: python3 comes with the pinned base's release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
LABEL org.opencontainers.image.title="crucible-trainer" \
      org.opencontainers.image.description="Crucible trainer: LoRA/QLoRA fine-tuning (PEFT, Transformers, DeepSpeed) on GPUs" \
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
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /var/lib/crucible
# Prometheus /metrics of `crucible serve` (the only port: workers talk to NATS, they serve nothing).
EXPOSE 9000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ['CRUCIBLE_METRICS_PORT'], timeout=4)"]
ENTRYPOINT ["crucible"]
CMD ["serve", "trainer"]
