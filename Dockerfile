# carbonledger's Dagster code location as an image: the user-code deployment of the dagster/dagster Helm chart
# (deploy/helm/values.yaml) and the image its runs execute in. Documented in README.md, "Production deployment".
#
#   docker build -t carbonledger:0.1.0 .
#   docker run -p 4000:4000 -e CARBONLEDGER_CONFIG=/etc/carbonledger/config.yaml -v $PWD/conf:/etc/carbonledger carbonledger:0.1.0
#       (the default command: a gRPC code server on port 4000 that a webserver and daemon load)
#   docker run -p 3000:3000 carbonledger:0.1.0 dagster dev -h 0.0.0.0 -p 3000 -m pipelines.definitions
#       (all in one container: webserver, daemon and code, for a trial)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

WORKDIR /opt/carbonledger

# Dependencies first (a layer that survives code changes), then the code; the k8s extra adds dagster-k8s,
# which a run pod needs to load the Helm chart's instance config (K8sRunLauncher).
COPY pyproject.toml README.md NOTICE.md ./
COPY carbonledger carbonledger
COPY connectors connectors
COPY footprint footprint
COPY intensity intensity
COPY pipelines pipelines
COPY reports reports
RUN pip install ".[k8s]"

# Outside Kubernetes the instance is deploy/dagster.production.yaml (Postgres from DAGSTER_PG_* variables);
# the Helm chart mounts its own dagster.yaml over it.
COPY deploy/dagster.production.yaml ${DAGSTER_HOME}/dagster.yaml

RUN useradd --create-home --uid 10001 carbonledger \
    && mkdir -p /data && chown carbonledger /data ${DAGSTER_HOME}
USER carbonledger
VOLUME ["/data"]

EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "pipelines.definitions"]
