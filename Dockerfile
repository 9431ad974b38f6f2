# The Python scheduler (python -m scheduler) as a container image:
#   docker build -t scheduler-lab/py-scheduler:0.1.0 .
# Two stages: the builder turns the project and its dependencies into wheels; the runtime
# stage installs those wheels and nothing else (no compiler, no pip cache, no sources).
#
# Base image: pinned by tag (Python 3.11 patch + Debian release). It is not pinned by digest
# because the digest could not be checked from where this file was written; to pin it, run
#   docker pull python:3.11.11-slim-bookworm
#   docker inspect --format '{{index .RepoDigests 0}}' python:3.11.11-slim-bookworm
# and build with --build-arg PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm@sha256:<digest>.
#
# With no image registry (the kind lab built offline, `python -m lab build --kind-node-image`):
#   docker build --build-arg PYTHON_IMAGE=scheduler-lab/python:3.11-bookworm -t scheduler-lab/py-scheduler:0.1.0 .
# That base is a debootstrapped Debian bookworm with Debian's python3 (3.11), pip/setuptools/wheel
# and a /wheelhouse of this project's dependencies downloaded from PyPI on the host; it sets
# PIP_FIND_LINKS=/wheelhouse and PIP_NO_INDEX=1, so the steps below run unchanged and offline.
# The name is fully qualified so that builders without short-name resolution (buildah, used on
# the Vagrant VMs) accept it; only plain Dockerfile instructions are used, for the same reason.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is made of (.dockerignore keeps the rest of the repository out).
COPY pyproject.toml README.md ./
COPY scheduler ./scheduler
# One wheel for scheduler-lab plus one per pinned dependency.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Install from the builder's wheels only (no index), then remove the wheels and the installers:
# the running image never installs anything again. (A BuildKit bind mount would also keep the
# few MB of wheels out of the COPY layer, but buildah on the Vagrant VMs may not support it.)
COPY --from=builder /wheels /wheels
RUN pip install --no-index --find-links=/wheels scheduler-lab==0.1.0 \
    && rm -rf /wheels /wheelhouse \
    && pip uninstall --yes pip setuptools wheel
# Bytecode was compiled at install time; at run time the root filesystem is read-only, so
# Python must not try to write .pyc files, and logs go straight to stdout.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# The only writable place (an emptyDir in the Deployment).
WORKDIR /tmp
# Numeric, so the kubelet can verify runAsNonRoot without an /etc/passwd lookup.
USER 65532:65532
# The secure port (HTTPS /healthz, /readyz, /livez, /metrics).
EXPOSE 10259
ENTRYPOINT ["python", "-m", "scheduler"]
CMD ["--help"]
