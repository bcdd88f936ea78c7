# Hourglass ECS worker: the same binary as the worker Lambda, run as an SQS
# long-poller (HOURGLASS_WORKER_MODE=poll). Build context: the repo root, after
# `make build` has written build/lambda/worker/bootstrap (linux/arm64, static,
# CGO_ENABLED=0). The CDK app builds this image at deploy time.
FROM gcr.io/distroless/static-debian12:nonroot
COPY build/lambda/worker/bootstrap /usr/local/bin/hourglass-worker
ENV HOURGLASS_WORKER_MODE=poll
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/hourglass-worker"]
