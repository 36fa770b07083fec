"""A Docker Engine API client for ko's `ko.local`: images loaded into (and read from) a daemon.

One concern a module, as go-containerregistry's `pkg/v1/daemon` and ko's `pkg/publish/daemon.go`:

- `host`: where the daemon is (`DOCKER_HOST`, TLS variables);
- `client`: the HTTP calls over the unix socket or TCP, API version negotiation, errors;
- `jsonmessage`: the JSON message stream a load answers with;
- `archive`: docker archives streamed from an OCI layout, and read back into one;
- `write`: load an image unless the daemon has it, tag it (ggcr `daemon.Write`, `daemon.Tag`);
- `image`: read an image from the daemon (ggcr `daemon.Image`), for `ko.local/...` base images;
- `local`: ko's local publisher (names, tags, the GOOS/GOARCH image of an index), and the
  tags a daemon holds (the read-only publish check).

The tool (`python -m pants_backend_ko.tool`) runs them: a `PushPlan` entry of kind `daemon`
loads an image (`push-plan`, `deploy`), a `StatusQuery` asks which tags the daemon holds
(`status`), a `BaseFetch` of a daemon image reads a `ko.local/...` base (`base`).

No Pants imports here.
"""
