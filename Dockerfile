# smsengine: the engine as a container. Point it at PostgreSQL and Redis with SMSENGINE_DATABASE_URL and
# SMSENGINE_REDIS_URL; without them it starts embedded servers under /data (fine for trials, not production).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    SMSENGINE_DATA_DIR=/data SMSENGINE_SMPP_HOST=0.0.0.0 SMSENGINE_HTTP_HOST=0.0.0.0

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md config.toml ./
COPY engine ./engine
COPY smpp ./smpp
COPY http_api ./http_api
COPY routing ./routing
COPY billing ./billing
COPY smsengine ./smsengine
RUN pip install . && apt-get purge -y gcc libc6-dev && apt-get autoremove -y

RUN useradd --system --create-home --uid 10001 smsengine && mkdir -p /data && chown smsengine /data
USER smsengine
VOLUME ["/data"]
EXPOSE 2775 8080
ENTRYPOINT ["smsengine", "--config", "/app/config.toml"]
CMD ["run"]
