# Lethe's image: the wheel, built in the first stage and installed in the second, run as a
# user without privileges. `lethe worker` by default; the same image runs `lethe migrate`
# (before new workers), `lethe codec-server` and every operator command.
#   docker build -t lethe .
# Checked offline by hadolint (tests/test_deploy_files.py); never built in this repository's CI.

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md worker.py ./
COPY vocabulary vocabulary
COPY connectors connectors
COPY ledger ledger
COPY activities activities
COPY workflows workflows
COPY migrations migrations
COPY lethe lethe
RUN pip install --no-cache-dir build==1.2.2 \
    && python -m build --wheel --outdir /dist

FROM python:3.11-slim-bookworm
# The drivers of a PostgreSQL ledger and of Redis systems come with the image; a MariaDB
# ledger needs the [mysql] extra instead.
ARG LETHE_EXTRAS=postgres,redis
COPY --from=wheel /dist /dist
COPY constraints.txt /dist/
# The wheel is this build's own; every dependency is pinned by constraints.txt.
# hadolint ignore=DL3013
RUN set -eux; \
    wheel="$(ls /dist/lethe_erasure-*.whl)"; \
    pip install --no-cache-dir -c /dist/constraints.txt "${wheel}[${LETHE_EXTRAS}]"; \
    rm -rf /dist; \
    useradd --system --uid 10001 --user-group --home-dir /var/lib/lethe --create-home lethe
USER 10001:10001
WORKDIR /var/lib/lethe
# Keys come from LETHE_*_KEY (a Secret), not from files in the image; logs are JSON lines.
ENV LETHE_HOME=/var/lib/lethe \
    LETHE_LOG_FORMAT=json \
    LETHE_LOG_LEVEL=INFO \
    PYTHONUNBUFFERED=1
# 9464: the worker's /metrics, /healthz, /readyz ([worker] metrics_port); 8089: the codec server.
EXPOSE 9464 8089
ENTRYPOINT ["lethe"]
CMD ["worker"]
