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
# Liveness: the HTTP server answers /healthz (readiness, with database, Redis and carrier binds, is /readyz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SMSENGINE_HTTP_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["smsengine", "--config", "/app/config.toml"]
CMD ["run"]
