# syntax=docker/dockerfile:1
# SmartFlow: one binary. Build: docker build -t smartflow .
# Run (production needs its own token signing key and encryption key):
#   docker run -p 3000:3000 -e DATABASE_URL=postgres://... \
#     -e SMARTFLOW__AUTH__JWT_SECRET="$(openssl rand -base64 48)" \
#     -e SMARTFLOW__SECURITY__ENCRYPTION_KEY="$(openssl rand -base64 32)" smartflow
# Another port: -e PORT=8080 -p 8080:8080 (the health check follows it).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/smartflow --create-home smartflow
COPY --from=build /src/target/release/smartflow /usr/local/bin/smartflow
# Configuration comes from the environment only (SMARTFLOW__SECTION__KEY, DATABASE_URL, REDIS_URL,
# PORT); no config files are shipped, so Settings' defaults apply underneath. The port is left to
# its default (3000) rather than set here: SMARTFLOW__SERVER__PORT would win over PORT.
ENV SMARTFLOW_ENV=production \
    SMARTFLOW_CONFIG_DIR=/etc/smartflow \
    SMARTFLOW__SERVER__HOST=0.0.0.0 \
    SMARTFLOW__TELEMETRY__LOG_FORMAT=json
USER 10001
WORKDIR /var/lib/smartflow
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["smartflow", "healthcheck"]
# `serve` applies pending migrations before it accepts traffic.
ENTRYPOINT ["smartflow"]
CMD ["serve"]
