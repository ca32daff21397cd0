# syntax=docker/dockerfile:1
# Switchboard: a static musl binary on distroless/static (no shell, no libc), non-root.
#   docker build -t switchboard .
#   docker run --rm switchboard --help

# --- build -------------------------------------------------------------------------------------
# Alpine's Rust targets musl, whose binaries are statically linked by default (crt-static); the
# C parts (ring, the bundled SQLite) build with musl-dev.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
# Dependencies first, so source edits do not rebuild them: a stub crate with the real manifests.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for b in store delivery transform hooks_bare; do echo 'fn main() {}' > benches/$b.rs; done \
 && cargo build --release --locked --bin switchboard \
 && rm -rf src benches
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
# touch: cargo must rebuild the crate, not reuse the stub's artefacts (same mtime range).
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin switchboard \
 && cp target/release/switchboard /switchboard \
 && ! ldd /switchboard 2>/dev/null | grep -q '=>'

# --- run ---------------------------------------------------------------------------------------
# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot (65532); nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /switchboard /usr/local/bin/switchboard
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["controller"]
