# The Keycard sidecar (and CLI) as a container image, for those who build
# with Docker: make sidecar-image builds the same image without one.
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN make build && CGO_ENABLED=0 go build -trimpath -tags keycard_embed -o /keycard ./cmd/keycard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /keycard /keycard
USER 65532:65532
EXPOSE 8181
ENV KEYCARD_LISTEN=0.0.0.0:8181
ENTRYPOINT ["/keycard"]
CMD ["sidecar"]
