# Herald: build the release binary, run it on a small Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p herald-cli --bin herald

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/herald herald && mkdir -p /var/lib/herald && chown herald /var/lib/herald
COPY --from=build /src/target/release/herald /usr/local/bin/herald
USER herald
ENV HERALD_BIND=0.0.0.0:8080 HERALD_DATA_DIR=/var/lib/herald
EXPOSE 8080
ENTRYPOINT ["herald"]
CMD ["serve"]
