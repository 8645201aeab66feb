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

Native forms (numpy and Pillow, both optional: Debian's python3-numpy and
python3-pil): predict() takes a numpy uint8 array (HxWxC or HxW), a PIL
image, file bytes or a path, and returns a Result whose as_numpy(task) is
the output as an array, like tritonclient's:

    result = client.predict(numpy_image, budget=0.25, weights={"depth": 2})
    depth = result.as_numpy("depth")          # float32 (1, H, W), metres
    result.plan.encoder_width, result.timings.total_ms
    for r in client.predict_stream(frames, budget=0.25):  # video
        r.as_numpy("semseg")

Needs python3-grpcio and python3-protobuf, and the stubs Bazel generates
beside this file (bazel build //client/python:slimserve_client; then put
bazel-bin/client/python and this directory on PYTHONPATH), or install the
package: bazel build //client/python:package, then
pip install bazel-bin/client/python/slimserve_client-0.1.0.tar.gz.
"""

import io
import json
import os
import sys

import grpc

# Installed as a package, the generated stubs sit in _stubs beside this file
# (at their upstream module paths, so an installed grpcio-health-checking
# wins and nothing is registered twice).
_STUBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_stubs")
if os.path.isdir(_STUBS) and _STUBS not in sys.path:
    sys.path.append(_STUBS)

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
    """An Image from an Image, file bytes, a path, a numpy uint8 array
    (HxWxC with C in 1, 3, 4, or HxW) or a PIL image."""
    if isinstance(image, slimserve_pb2.Image):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        return slimserve_pb2.Image(encoded=bytes(image))
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            return slimserve_pb2.Image(encoded=f.read())
    if hasattr(image, "getbands") and hasattr(image, "tobytes"):  # PIL
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGB")
        return raw_image(image.tobytes(), image.height, image.width,
                         len(image.getbands()))
    if hasattr(image, "__array_interface__") and hasattr(image, "shape"):
        import numpy as np
        array = np.asarray(image)
        if array.dtype != np.uint8:
            raise TypeError("numpy images must be uint8, got %s" % array.dtype)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError("numpy images are HxWxC or HxW, got shape %s" %
                             (array.shape,))
        return raw_image(np.ascontiguousarray(array).tobytes(),
                         array.shape[0], array.shape[1], array.shape[2])
    raise TypeError("image: an Image, bytes, a path, a numpy array or a PIL "
                    "image, got %s" % type(image).__name__)


_NUMPY_DTYPES = {}


def _numpy_dtype(dtype):
    import numpy as np
    if not _NUMPY_DTYPES:
        _NUMPY_DTYPES.update({
            slimserve_pb2.DATA_TYPE_FLOAT32: np.dtype("<f4"),
            slimserve_pb2.DATA_TYPE_UINT8: np.dtype("u1"),
            slimserve_pb2.DATA_TYPE_UINT16: np.dtype("<u2"),
        })
    return _NUMPY_DTYPES[dtype]


class Result:
    """One answer as arrays: as_numpy(task), with the plan and timings.

    Wraps an InferResponse (`response`); RAW outputs become float32 (C, H, W)
    arrays, PNG outputs are decoded with Pillow into (C, H, W) arrays of the
    PNG's samples (uint8, or uint16 for depth in millimetres).
    """

    def __init__(self, response):
        self.response = response
        self.request_id = response.request_id
        self.plan = response.plan
        self.timings = response.timings
        self._outputs = {o.task: o for o in response.outputs}

    @property
    def tasks(self):
        """The tasks answered, in model order."""
        return [o.task for o in self.response.outputs]

    def as_numpy(self, task):
        """The output of `task` as a numpy array of shape (C, H, W)."""
        import numpy as np
        if task not in self._outputs:
            raise KeyError("no output %r (outputs: %s)" %
                           (task, ", ".join(self.tasks)))
        output = self._outputs[task]
        if output.WhichOneof("data") == "tensor":
            tensor = output.tensor
            return np.frombuffer(tensor.data, dtype=_numpy_dtype(
                tensor.dtype)).reshape(tuple(tensor.shape))
        from PIL import Image as PILImage
        decoded = np.asarray(PILImage.open(io.BytesIO(output.png)))
        if decoded.dtype == np.int32:
            # Pillow opens 16-bit grey PNGs (depth, mm) as 32-bit integers.
            decoded = decoded.astype(np.uint16)
        if decoded.ndim == 2:
            decoded = decoded[None, :, :]
        else:
            decoded = np.moveaxis(decoded, -1, 0)
        return decoded

    def __repr__(self):
        return "Result(%s, encoder_width=%g, %.2f ms)" % (
            ", ".join(self.tasks), self.plan.encoder_width,
            self.timings.total_ms)


class FrameError(Exception):
    """A stream frame's failure: `code` (grpc.StatusCode) and `message`."""

    def __init__(self, request_id, code, message):
        super().__init__("frame %r: %s: %s" % (request_id, code.name, message))
        self.request_id = request_id
        self.code = code
        self.message = message


def _status_code(number):
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


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
        if connect_timeout is not None:
            ready = grpc.channel_ready_future(self._channel)
            try:
                ready.result(timeout=connect_timeout)
            except Exception:
                # The future watches the channel's connectivity; closing the
                # channel under that watch can crash grpcio (grpc/grpc#16290),
                # so it is cancelled (unsubscribed) first.
                ready.cancel()
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

    def predict(self, image, budget=None, budget_mflops=None, weights=None,
                output_format=RAW, output_formats=None, request_id="",
                timeout=None, output_size=OUTPUT_SIZE_MODEL):
        """infer() for any image form (see _image: numpy, PIL, bytes, a
        path); returns a Result (as_numpy(task), plan, timings)."""
        return Result(self.infer(image, budget=budget,
                                 budget_mflops=budget_mflops, weights=weights,
                                 output_format=output_format,
                                 output_formats=output_formats,
                                 request_id=request_id, timeout=timeout,
                                 output_size=output_size))

    def predict_stream(self, frames, raise_errors=True, **defaults):
        """infer_stream() yielding a Result per frame (frames in any image
        form). A failed frame raises FrameError (the stream is cancelled),
        or with raise_errors=False is yielded as one and the stream goes
        on. Stopping the iteration early cancels the stream."""
        call = self.infer_stream(frames, **defaults)
        try:
            for response in call:
                if response.WhichOneof("result") == "response":
                    yield Result(response.response)
                    continue
                error = FrameError(response.request_id,
                                   _status_code(response.error.code),
                                   response.error.message)
                if raise_errors:
                    raise error
                yield error
        finally:
            call.cancel()  # no-op once the stream has ended

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
