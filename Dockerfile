# egresswatch in a small image: build with the Rust toolchain, run on a slim base as a
# non-root user. The build command is the README's: cargo build --release --locked
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/egresswatch

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/egresswatch --create-home egresswatch
COPY --from=build /src/target/release/egresswatch /usr/local/bin/egresswatch
USER 10001:10001
WORKDIR /var/lib/egresswatch
ENTRYPOINT ["/usr/local/bin/egresswatch"]
CMD ["run", "--log-format", "json"]
