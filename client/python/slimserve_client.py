"""Python client of a slimserve server (slimserve.v1.InferenceService over gRPC).

    from slimserve_client import SlimClient, raw_image

    with SlimClient("localhost:50051") as client:
        info = client.model_info()
        response = client.infer(image=open("photo.png", "rb").read(),
                                budget=0.25, weights={"semseg": 1})
        print(response.plan.encoder_width, response.timings.total_ms)
        client.health()           # "SERVING"
        client.list_services()    # via server reflection

Errors are grpc.RpcError with the server's code and message (e.g.
INVALID_ARGUMENT naming the field, OUT_OF_RANGE with the smallest accepted
budget). Calls that fail with a code in RETRYABLE_CODES are retried by
gRPC's retry policy (retry=False turns it off), as the C++ client does.
TLS: root_certificates (PEM bytes; None with tls=True: the system's roots),
and for mutual TLS certificate_chain and private_key. Thread-safe: one
client may serve many threads.

    SlimClient("server.example:50051",
               root_certificates=open("ca.pem", "rb").read(),
               certificate_chain=open("client.pem", "rb").read(),
               private_key=open("client.key", "rb").read())

Needs python3-grpcio and python3-protobuf, and the stubs Bazel generates
beside this file (bazel build //client/python:slimserve_client; then put
bazel-bin/client/python and this directory on PYTHONPATH).
"""

import json

import grpc

from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc
from slimserve.v1 import slimserve_pb2
from slimserve.v1 import slimserve_pb2_grpc

# The server sends RAW outputs of every task of big models in one message.
MAX_RECEIVE_MESSAGE_BYTES = 64 << 20

INFERENCE_SERVICE = "slimserve.v1.InferenceService"

# What a client may retry (client/channel.h says why): no call has side
# effects, and each of these means it did not run or did not finish, for a
# reason that may be gone on the next attempt or replica. Never
# DEADLINE_EXCEEDED, nor the codes of a wrong request.
RETRYABLE_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "CANCELLED")


def _retry_config(max_attempts):
    """The service config's members for the retry policy, as a dict."""
    if not 2 <= max_attempts <= 5:
        raise ValueError("max_attempts must be in [2, 5], got %r" %
                         (max_attempts,))
    return {
        "methodConfig": [{
            "name": [{"service": INFERENCE_SERVICE},
                     {"service": "grpc.health.v1.Health"}],
            "retryPolicy": {
                "maxAttempts": max_attempts,
                "initialBackoff": "0.05s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": list(RETRYABLE_CODES),
            },
        }],
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    }


def retry_service_config(max_attempts=3):
    """gRPC service config (JSON) of the retry policy, as client/channel.cc
    writes it: exponential backoff 50 ms doubling to 1 s, and a throttle
    that stops retrying while more than about 1 call in 10 fails."""
    return json.dumps(_retry_config(max_attempts), separators=(",", ":"))

LB_POLICIES = ("pick_first", "round_robin")


def service_config(retry=True, max_attempts=3, lb_policy="pick_first"):
    """The channel's whole gRPC service config (JSON), as client/channel.cc
    writes it: the retry policy (when `retry`) and, for round_robin, the
    balancing policy with client-side health checks (a replica whose
    health for slimserve.v1.InferenceService is NOT_SERVING, e.g. draining, gets
    no new calls). None when there is nothing to configure."""
    if lb_policy not in LB_POLICIES:
        raise ValueError("lb_policy must be pick_first or round_robin")
    config = _retry_config(max_attempts) if retry else {}
    if lb_policy == "round_robin":
        config["loadBalancingConfig"] = [{"round_robin": {}}]
        config["healthCheckConfig"] = {"serviceName": INFERENCE_SERVICE}
    return json.dumps(config, separators=(",", ":")) if config else None


RAW = slimserve_pb2.OUTPUT_FORMAT_RAW
PNG = slimserve_pb2.OUTPUT_FORMAT_PNG
OUTPUT_SIZE_MODEL = slimserve_pb2.OUTPUT_SIZE_MODEL
OUTPUT_SIZE_INPUT = slimserve_pb2.OUTPUT_SIZE_INPUT


def raw_image(pixels, height, width, channels):
    """An Image of uint8 HWC pixels (bytes of height*width*channels)."""
    return slimserve_pb2.Image(raw=slimserve_pb2.RawImage(
        data=bytes(pixels), height=height, width=width, channels=channels))


def _image(image):
    if isinstance(image, slimserve_pb2.Image):
        return image
    return slimserve_pb2.Image(encoded=bytes(image))


def _budget(budget, budget_mflops):
    if budget is not None and budget_mflops is not None:
        raise ValueError("budget and budget_mflops are exclusive")
    if budget_mflops is not None:
        return slimserve_pb2.Budget(mflops=budget_mflops)
    return slimserve_pb2.Budget(fraction=1.0 if budget is None else budget)


class SlimClient:
    """A channel to one slimserve server and the stubs on it."""

    def __init__(self, target, connect_timeout=10.0, options=(), tls=False,
                 root_certificates=None, certificate_chain=None,
                 private_key=None, server_name=None, retry=True,
                 max_attempts=3, lb_policy="pick_first"):
        """Connects to `target` (host:port or a gRPC target URI).

        Waits up to `connect_timeout` seconds for the channel to be ready
        (grpc.FutureTimeoutError if it is not; with TLS also when the
        handshake is refused); None: do not wait. TLS when `tls` or any of
        the PEM arguments is given; `server_name`: the name the server's
        certificate must carry when it is not the target's host.
        `lb_policy`: pick_first (one connection) or round_robin (every
        address the target resolves to, e.g.
        "ipv4:10.0.0.1:50051,10.0.0.2:50051" or
        "dns:///slimserve-headless:50051"; each call to the next replica
        that is connected and SERVING).
        """
        if (certificate_chain is None) != (private_key is None):
            raise ValueError("certificate_chain and private_key go together")
        tls = tls or any(x is not None for x in (
            root_certificates, certificate_chain, server_name))
        channel_options = [("grpc.max_receive_message_length",
                            MAX_RECEIVE_MESSAGE_BYTES)]
        channel_options.append(("grpc.enable_retries", 1 if retry else 0))
        config = service_config(retry, max_attempts, lb_policy)
        if config is not None:
            channel_options.append(("grpc.service_config", config))
        # A replica that went away and came back gets calls again within
        # 5 s (gRPC's default backoff grows to 120 s), as in channel.h.
        channel_options += [("grpc.initial_reconnect_backoff_ms", 1000),
                            ("grpc.max_reconnect_backoff_ms", 5000)]
        if server_name is not None:
            channel_options.append(("grpc.ssl_target_name_override",
                                    server_name))
        channel_options += list(options)
        if tls:
            self._channel = grpc.secure_channel(
                target,
                grpc.ssl_channel_credentials(
                    root_certificates=root_certificates,
                    private_key=private_key,
                    certificate_chain=certificate_chain),
                options=channel_options)
        else:
            self._channel = grpc.insecure_channel(target,
                                                  options=channel_options)
        try:
            if connect_timeout is not None:
                grpc.channel_ready_future(self._channel).result(
                    timeout=connect_timeout)
        except Exception:
            self._channel.close()
            raise
        self._inference = slimserve_pb2_grpc.InferenceServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._reflection = reflection_pb2_grpc.ServerReflectionStub(
            self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def infer(self, image, budget=None, budget_mflops=None, weights=None,
              output_format=RAW, output_formats=None, request_id="",
              timeout=None, output_size=OUTPUT_SIZE_MODEL):
        """Runs the model on one image.

        image: PNG/JPEG bytes, or an Image (see raw_image).
        budget: fraction in (0, 1] of the full cost (default 1); or
        budget_mflops: absolute MFLOPs. weights: {task: weight}; empty or
        None computes every task. output_size: OUTPUT_SIZE_MODEL (the
        model's input size) or OUTPUT_SIZE_INPUT (the image's). Returns an
        InferResponse.
        """
        request = slimserve_pb2.InferRequest(
            request_id=request_id,
            image=_image(image),
            budget=_budget(budget, budget_mflops),
            task_weights=weights or {},
            output_formats=output_formats or {},
            default_output_format=output_format,
            output_size=output_size)
        return self.infer_request(request, timeout=timeout)

    def infer_request(self, request, timeout=None):
        """Infer with a ready InferRequest."""
        return self._inference.Infer(request, timeout=timeout)

    def infer_stream(self, frames, budget=None, budget_mflops=None,
                     weights=None, output_format=RAW, output_formats=None,
                     output_size=OUTPUT_SIZE_MODEL, frame_timeout_ms=0,
                     timeout=None):
        """Streams frames through InferStream; yields one
        InferStreamResponse per frame, in order.

        frames: an iterable (a generator is read lazily, as the server asks
        for more: a slow consumer of the responses slows the reading of
        `frames`) of images (PNG/JPEG bytes or an Image; ids "0", "1", ...)
        or of InferStreamRequest messages (own ids, per-frame budget,
        weights, timeout_ms). The other arguments are the stream's defaults,
        as in infer(); frame_timeout_ms: each frame's time limit (0: none).
        A frame that failed has `error` (code, message) set instead of
        `response`; the stream goes on. Cancel it with .cancel() on the
        returned iterator (a grpc call object).
        """
        defaults = slimserve_pb2.StreamDefaults(
            budget=_budget(budget, budget_mflops),
            task_weights=weights or {},
            output_formats=output_formats or {},
            default_output_format=output_format,
            output_size=output_size,
            frame_timeout_ms=frame_timeout_ms)

        def requests():
            first = True
            for index, frame in enumerate(frames):
                if not isinstance(frame, slimserve_pb2.InferStreamRequest):
                    frame = slimserve_pb2.InferStreamRequest(
                        frame=slimserve_pb2.InferRequest(
                            request_id=str(index), image=_image(frame)))
                if first and not frame.HasField("defaults"):
                    own = slimserve_pb2.InferStreamRequest()
                    own.CopyFrom(frame)  # the caller's message stays as it is
                    own.defaults.CopyFrom(defaults)
                    frame = own
                first = False
                yield frame
        return self._inference.InferStream(requests(), timeout=timeout)

    def plan(self, budget=None, budget_mflops=None, weights=None,
             request_id="", timeout=None):
        """The plan infer() would use; runs nothing. A PlanResponse."""
        return self._inference.Plan(
            slimserve_pb2.PlanRequest(request_id=request_id,
                                      budget=_budget(budget, budget_mflops),
                                      task_weights=weights or {}),
            timeout=timeout)

    def model_info(self, timeout=None):
        """Tasks, widths, input size and costs: a GetModelInfoResponse."""
        return self._inference.GetModelInfo(
            slimserve_pb2.GetModelInfoRequest(), timeout=timeout)

    def health(self, service="", timeout=None):
        """grpc.health.v1 status name of `service` ("" = the whole server):
        "SERVING" or "NOT_SERVING". NOT_FOUND (RpcError) for an unknown one.
        """
        response = self._health.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(
            response.status)

    def list_services(self, timeout=None):
        """Names of the services the server offers, via server reflection."""
        request = reflection_pb2.ServerReflectionRequest(list_services="*")
        for response in self._reflection.ServerReflectionInfo(
                iter([request]), timeout=timeout):
            if response.HasField("error_response"):
                raise RuntimeError("reflection: " +
                                   response.error_response.error_message)
            return sorted(s.name for s in
                          response.list_services_response.service)
        raise RuntimeError("reflection: no response")
