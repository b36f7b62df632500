# syntax=docker/dockerfile:1
# Herder: one image, one `herder` command, four roles:
#   herder operator   (the default CMD: the kopf operator the Helm chart runs)
#   herder train      (inside a TrainingJob's batch Job)
#   herder validate   (inside a Dataset's validation Job)
#   herder serve      (the model server inside a ModelDeployment's pods)
#
# Base: CPython 3.11 on Debian slim, pinned to the exact patch release the test suite runs. Pin it by digest in
# your registry mirror with --build-arg PYTHON_IMAGE=python:3.11.7-slim-bookworm@sha256:<digest>.
# Dependencies: constraints.txt is exported from uv.lock, the one lock development and CI install from: every
# runtime distribution pinned, with hashes (pip --require-hashes), binary wheels only.
# No HEALTHCHECK: Kubernetes ignores Docker health checks; the chart's liveness/readiness probes use kopf's
# /healthz (operator) and the generated serving pods use the server's /v2/health/live and /v2/health/ready.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# ---- builder: a virtual environment in /opt/herder with the pinned dependencies and the herder wheel ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/herder \
 && /opt/herder/bin/python -m pip install --no-cache-dir pip==26.3 setuptools==84.2.1 wheel==0.48.0
# Dependencies first: this layer is reused until constraints.txt changes.
COPY constraints.txt ./
RUN /opt/herder/bin/python -m pip install --no-cache-dir --require-hashes --only-binary=:all: -r constraints.txt
COPY pyproject.toml README.md ./
COPY operator ./operator
# Build the wheel with the pinned build tools (no build isolation: nothing unpinned is fetched), install it
# without dependencies (they are all in place, hash-checked), check the environment is consistent, precompile bytecode (the root filesystem is
# read-only at run time), then drop the build tools from the environment.
RUN /opt/herder/bin/python -m pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/herder/bin/python -m pip install --no-cache-dir --no-index --no-deps --find-links=/wheels herder==0.1.0 \
 && /opt/herder/bin/python -m pip check \
 && /opt/herder/bin/python -m compileall -q -j 0 /opt/herder/lib \
 && /opt/herder/bin/python -m pip uninstall --yes setuptools wheel pip

# ---- runtime: the base image, the virtual environment, a non-root user; no compilers, no pip ----
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="herder" \
      org.opencontainers.image.description="Kubernetes operator, trainer and model server for the ML lifecycle" \
      org.opencontainers.image.source="https://github.com/herder-dev/herder" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.vendor="Herder"
# The base image's own pip/setuptools/wheel are build tools too: remove them. Then the unprivileged user the
# chart and the generated pods run as (UID/GID 10001, no home, no shell).
RUN python -m pip uninstall --yes pip setuptools wheel \
 && groupadd --system --gid 10001 herder \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin herder
COPY --from=builder /opt/herder /opt/herder
ENV PATH=/opt/herder/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["herder"]
CMD ["operator"]
