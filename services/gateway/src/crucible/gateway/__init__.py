"""The model gateway: TGI/OpenAI HTTP and gRPC front doors, guard, eval-gated canary rollout."""

from importlib.metadata import version

__version__ = version("crucible-gateway")
