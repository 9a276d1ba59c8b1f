# wsgw's container image. Build it with `make image`: the Makefile stages the
# root filesystem under build/image-root/ (the release binary, exactly the
# shared libraries it loads and the dynamic loader, the CA bundle for https
# backends, passwd/group with the unprivileged user) and builds this file
# with podman; .dockerignore keeps everything else out of the build context.
# FROM scratch: nothing is pulled from a registry. After `make image-root`,
# `docker build -t wsgw .` builds the same image.
FROM scratch
COPY build/image-root/ /
# Every interface inside the container; a flag given to `docker run ...
# wsgw:latest --listen ...` still wins over these.
ENV WSGW_LISTEN=0.0.0.0:8080 \
    WSGW_MGMT_LISTEN=0.0.0.0:9090
EXPOSE 8080 9090
# Numeric, so Kubernetes' runAsNonRoot can verify it; /etc/passwd names it
# wsgw (the Makefile's IMAGE_UID).
USER 10001:10001
ENTRYPOINT ["/wsgw"]
