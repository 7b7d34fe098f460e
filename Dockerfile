# One image for the API, the worker and the one-shot migration (docker-compose.yml picks the command).
# PyPI's torch wheel for Linux x86_64 bundles CUDA, so the worker uses the GPU the NVIDIA container
# runtime hands it; the backbones' weights come inside pip packages (no download at run time).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/app HF_HUB_OFFLINE=1 SSNAS_DATA_DIR=/data

WORKDIR /app
# dependencies first (from pyproject.toml), so code changes do not reinstall torch
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *deps])"

# the code runs from /app (not pip-installed) so alembic finds migrations/ beside api/
COPY alembic.ini ./
COPY migrations migrations
COPY ssnas_core ssnas_core
COPY api api
COPY worker worker
COPY scripts scripts

RUN useradd --create-home --uid 1000 ssnas && mkdir -p /data && chown ssnas /data
USER ssnas
EXPOSE 8000
CMD ["uvicorn", "api.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
