"""The gateway's rollout API over gRPC: `GetRollout` to read, and the admin `Promote`/`Abort` (bearer token),
exactly what `crucible rollout status|promote|abort` call."""

from __future__ import annotations

from typing import Any


class GatewayError(RuntimeError):
    pass


class GatewayClient:
    def __init__(self, address: str, admin_token: str | None, timeout: float = 10.0) -> None:
        self.address, self.admin_token, self.timeout = address, admin_token, timeout

    async def _call(self, method: str, request: Any, *, admin: bool) -> dict[str, Any]:
        import grpc
        from google.protobuf.json_format import MessageToDict

        from crucible.v1 import gateway_pb2_grpc

        if not self.address:
            raise GatewayError("no gateway configured (CRUCIBLE_CONSOLE_GATEWAY_ADDRESS)")
        metadata: tuple[tuple[str, str], ...] = ()
        if admin:
            if not self.admin_token:
                raise GatewayError("no gateway admin token configured (CRUCIBLE_CONSOLE_GATEWAY_ADMIN_TOKEN)")
            metadata = (("authorization", f"Bearer {self.admin_token}"),)
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = gateway_pb2_grpc.ModelGatewayStub(channel)
            try:
                status = await getattr(stub, method)(request, metadata=metadata, timeout=self.timeout)
            except grpc.RpcError as err:
                raise GatewayError(f"{method} failed: {err.code().name}: {err.details()}") from None
        return MessageToDict(status, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)

    async def rollout(self) -> dict[str, Any]:
        from crucible.v1 import gateway_pb2

        return await self._call("GetRollout", gateway_pb2.GetRolloutRequest(), admin=False)

    async def promote(self, reason: str) -> dict[str, Any]:
        from crucible.v1 import gateway_pb2

        return await self._call("Promote", gateway_pb2.PromoteRequest(reason=reason), admin=True)

    async def abort(self, reason: str) -> dict[str, Any]:
        from crucible.v1 import gateway_pb2

        return await self._call("Abort", gateway_pb2.AbortRequest(reason=reason), admin=True)
