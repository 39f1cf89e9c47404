# syntax=docker/dockerfile:1
# Multi-stage build: dependencies and the package are installed into a virtualenv in the
# build stage; the runtime stage copies only that virtualenv and runs as a non-root user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CPU build of torch (pinned exactly: PyPI's default wheel bundles CUDA, several GB).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ml ./ml
COPY app ./app
COPY migrations ./migrations
RUN pip install .

FROM python:3.11-slim AS runtime
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
