# Builds one virtualcluster binary into a small image:
#   docker build --build-arg BIN=syncer -t virtualcluster/syncer:latest .
# BIN is one of vc-manager, syncer, vn-agent, apiserver, nodesim, vcctl.
FROM rust:1.95-bookworm AS build
ARG BIN
WORKDIR /src
COPY . .
RUN cargo build --release --bin "${BIN}" && cp "target/release/${BIN}" /app

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /app /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
