# syntax=docker/dockerfile:1
# partner-portal: a locked, statically linked release build, then a small runtime image (CA
# certificates, time zones, a nonroot user, no shell, no libraries) running as a non-root user.
# Configuration comes only from PORTAL_* variables (and the *_FILE variants for secrets); SQLite
# data lives on the /data volume. The root filesystem can be read-only: the portal writes nothing
# outside /data (SQLite's temporary files included, through SQLITE_TMPDIR).

FROM rust:1.95-bookworm AS build
# The commit `partner-portal --version` reports (the build context has no .git):
# docker build --build-arg PORTAL_COMMIT="$(git rev-parse --short=12 HEAD)" .
ARG PORTAL_COMMIT=unknown
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
COPY .cargo ./.cargo
COPY src ./src
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
# The manifest names the integration-test and benchmark targets, so their sources must be
# present to build.
COPY tests ./tests
COPY benches ./benches
# glibc linked statically (crt-static): the runtime image needs no libc. glibc's built-in `files`
# and `dns` lookups work without NSS libraries, which is all the portal uses. An explicit
# --target keeps the flag away from build scripts and proc macros.
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
 && PORTAL_COMMIT="$PORTAL_COMMIT" RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
 && mkdir -p /out/data \
 && cp "target/$target/release/partner-portal" /out/partner-portal

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="partner-portal" \
      org.opencontainers.image.description="Self-hosted dashboard for Jetpack hosting partners: WordPress.com login, activations and invoices" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="0.10.0"
COPY --from=build /out/partner-portal /usr/local/bin/partner-portal
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
ENV PORTAL_LISTEN=0.0.0.0:8080 \
    PORTAL_DATABASE_URL=sqlite:///data/partner-portal.db \
    PORTAL_LOG_FORMAT=json \
    SQLITE_TMPDIR=/data \
    TMPDIR=/data
EXPOSE 8080
# No shell in the image: the binary checks itself.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/partner-portal", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/partner-portal"]
CMD ["serve"]
