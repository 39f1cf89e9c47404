# The jobrec image: one image for compose's `init` and `api` services (docker/entrypoint.sh).
# Multi-stage: scripts/install.sh (the same lock file and CPU torch build as `make install`)
# installs the dependencies (stage deps) and then the package (stage build) into a
# virtualenv; the runtime stage copies only the virtualenv and runs as a non-root user.
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

# 1. deps: the dependencies, rebuilt only when the lock file, pyproject.toml, the install
#    script or the wheelhouse change, not for a change of the source. The package is
#    installed here without its modules (an empty README, no ml/, app/, migrations/) so that
#    scripts/install.sh runs unchanged; the build stage installs it again with the source.
FROM ${BASE_IMAGE:-${DEFAULT_BASE_IMAGE}} AS deps
# PIP_FIND_LINKS: a local wheelhouse (docker/wheels/, empty in git) that scripts/install.sh
# looks in first, e.g. for torch's CPU wheel where PyTorch's index cannot be reached.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_FIND_LINKS=/wheels \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
# Extra CA certificates for the build's downloads (docker/ca-certificates/*.crt, empty in
# git: for a TLS-inspecting proxy). They stay in the build: the runtime image has none.
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY docker/wheels/ /wheels/
COPY requirements.lock pyproject.toml ./
COPY scripts/install.sh ./scripts/
RUN touch README.md && scripts/install.sh /opt/venv/bin/python 0 && rm README.md

# 2. build: the package, with install.sh again (the dependencies are satisfied: nothing is
#    downloaded); its installed files are gathered in /pkg for the runtime stage.
FROM deps AS build
COPY README.md ./
COPY ml ./ml
COPY app ./app
COPY migrations ./migrations
RUN scripts/install.sh /opt/venv/bin/python 0 \
    && /opt/venv/bin/python -I -c "import app, ml, migrations, torch; print('torch', torch.__version__)" \
    && /opt/venv/bin/python -I -c "import importlib.metadata as m; [print(p.relative_to('/')) for p in (f.locate().resolve() for f in m.distribution('jobrec').files) if p.is_file()]" >/tmp/jobrec.files \
    && grep -q 'site-packages/app/__init__.py$' /tmp/jobrec.files \
    && mkdir /pkg && tar -C / -cf - -T /tmp/jobrec.files | tar -C /pkg -xf -

# 3. runtime: the dependencies' virtualenv as one layer (unchanged, and so cached, pulled and
#    pushed once, while the dependencies are), the package on top; a non-root user.
FROM ${BASE_IMAGE:-${DEFAULT_BASE_IMAGE}} AS runtime
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin jobrec \
    && mkdir -p /app/var && chown jobrec:jobrec /app/var
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /pkg/ /
RUN /opt/venv/bin/python -I -c "import app.cli, ml, migrations"
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
