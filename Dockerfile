# syntax=docker/dockerfile:1
# Build stage: install the bot and its dependencies into /opt/venv.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY cogs ./cogs
RUN /opt/venv/bin/pip install .

# Runtime stage: the venv, tini as PID 1, a non-root user, the database on a volume.
FROM python:3.11-slim
LABEL org.opencontainers.image.title="seedream-bot" \
      org.opencontainers.image.description="Seedream image models in Discord" \
      org.opencontainers.image.licenses="MIT"
# tini forwards SIGTERM to the bot, which then shuts down cleanly within 10 s. WenQuanYi Micro
# Hei (5 MB) gives the /quota usage chart its Chinese and Japanese glyphs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.* fonts-wqy-microhei=0.2.* \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin seedream \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_PATH=/data/seedream-bot.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    METRICS_HOST=127.0.0.1 \
    METRICS_PORT=9108 \
    LOG_FORMAT=json \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
VOLUME ["/data"]
# Only the public side (callbacks, /healthz); metrics stay on 127.0.0.1:9108, unexposed.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "seedream-bot"]
CMD ["run"]
