# The jobrec image: one image for compose's `init` and `api` services (docker/entrypoint.sh).
# Multi-stage: the build stage installs the dependencies and the package into a virtualenv
# with scripts/install.sh (the same lock file and CPU torch build as `make install`); the
# runtime stage copies only that virtualenv and runs as a non-root user.
#
# Base image, chosen with --build-arg BASE_IMAGE (compose: BASE_IMAGE in .env):
#   unset or empty   DEFAULT_BASE_IMAGE: python:3.11-slim pinned by digest, from Docker Hub
#   jobrec-base:bookworm
#                    Debian 12 with Debian's Python 3.11, made locally by
#                    docker/make-base.sh (debootstrap + docker import) where Docker Hub
#                    cannot be reached
# Both give python3 with venv; the virtualenv links to the base's own interpreter, so the
# build and runtime stages always use the same base. (Empty counts as unset because
# docker-compose v1 passes `args: [BASE_IMAGE]` as an empty value when it is not set.)
#
# The digest is the multi-arch OCI index of python:3.11-slim (Python 3.11.16 on Debian 13,
# pushed 2026-08-16). It was not read from Docker Hub here (unreachable from where this was
# written): it is the index digest that several independent public projects pin for this tag
# and record as such. To move to a newer one: `docker pull python:3.11-slim` and
# `docker image inspect --format '{{index .RepoDigests 0}}' python:3.11-slim`.
ARG DEFAULT_BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
ARG BASE_IMAGE=

FROM ${BASE_IMAGE:-${DEFAULT_BASE_IMAGE}} AS build
# PIP_FIND_LINKS: a local wheelhouse (docker/wheels/, empty in git) that scripts/install.sh
# looks in first, e.g. for torch's CPU wheel where PyTorch's index cannot be reached.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_FIND_LINKS=/wheels \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
# Extra CA certificates for the build's downloads (docker/ca-certificates/*.crt, empty in
# git: for a TLS-inspecting proxy). They stay in this stage: the runtime image has none.
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
RUN python3 -m venv /opt/venv
WORKDIR /src
# 1. Dependencies, in their own layer: rebuilt only when the lock file, the install script,
#    pyproject.toml or the wheelhouse change, not for a change of the source. The package is
#    installed here without its modules (an empty README and no ml/, app/, migrations/), so
#    that scripts/install.sh runs unchanged; step 2 installs it again with the source.
COPY docker/wheels/ /wheels/
COPY requirements.lock pyproject.toml ./
COPY scripts/install.sh ./scripts/
RUN touch README.md && scripts/install.sh /opt/venv/bin/python 0 && rm README.md
# 2. The package. install.sh again: everything above is already satisfied (no download).
COPY README.md ./
COPY ml ./ml
COPY app ./app
COPY migrations ./migrations
RUN scripts/install.sh /opt/venv/bin/python 0 \
    && /opt/venv/bin/python -c "import app, ml, migrations, torch; print('torch', torch.__version__)"

FROM ${BASE_IMAGE:-${DEFAULT_BASE_IMAGE}} AS runtime
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin jobrec \
    && mkdir -p /app/var && chown jobrec:jobrec /app/var
COPY --from=build /opt/venv /opt/venv
COPY configs /app/configs
COPY docker/entrypoint.sh /usr/local/bin/jobrec-entrypoint
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MODEL_PATH=/app/var/model \
    DATABASE_URL=sqlite:////app/var/jobrec.db \
    PORT=8001
USER jobrec
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8001') + '/readyz', timeout=2)"]
ENTRYPOINT ["jobrec-entrypoint"]
CMD ["serve"]
