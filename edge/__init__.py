"""edge: an offline assistant for small computers."""

import os

__version__ = "0.1.0"

# onnxruntime (1.32 and later, on Linux and macOS) records usage events and a device id under
# ~/.cache/Microsoft/DeveloperTools and uploads them when a network is there; its uploader's
# threads also crashed processes at exit under qemu. An offline assistant sends nothing: off
# before onnxruntime is first imported, unless the user set the variable themselves.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
