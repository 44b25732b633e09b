# syntax=docker/dockerfile:1
# A first working image; the deployment work hardens it (static binary, health check, labels).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
COPY src ./src
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data portal \
 && mkdir -p /data && chown portal /data
COPY --from=build /src/target/release/partner-portal /usr/local/bin/partner-portal
USER 10001
VOLUME /data
ENV PORTAL_LISTEN=0.0.0.0:8080 \
    PORTAL_DATABASE_URL=sqlite:///data/partner-portal.db
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/partner-portal"]
CMD ["serve"]
