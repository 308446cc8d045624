"""gRPC tooling against a real `aegis serve`: reflection v1alpha through Python's standard client
(grpcio-reflection speaks only v1alpha), the google.rpc error-detail types resolvable by reflection, and
grpcurl (reflection v1) printing an error's ErrorInfo decoded. Needs AEGIS_BIN and CLAUDE_BIN like the
other live tests; the grpcurl test needs GRPCURL (clients/test-all.sh installs a pinned one)."""

from __future__ import annotations

import json
import os
import subprocess

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from harness import Stack

pytestmark = pytest.mark.live


def test_reflection_v1alpha_lists_services_and_resolves_error_details(stack: Stack) -> None:
    with grpc.insecure_channel(stack.address) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert "aegis.v1.SessionService" in services, services
        assert "grpc.health.v1.Health" in services, services
        pool = descriptor_pool.DescriptorPool(db)
        svc = pool.FindServiceByName("aegis.v1.SessionService")
        assert "CreateSession" in [m.name for m in svc.methods]
        info = pool.FindMessageTypeByName("google.rpc.ErrorInfo")
        assert [f.name for f in info.fields] == ["reason", "domain", "metadata"]
        status = pool.FindMessageTypeByName("google.rpc.Status")
        assert status.fields_by_name["details"].message_type.full_name == "google.protobuf.Any"

        # The raw v1alpha call too: the file that defines ErrorInfo, by symbol.
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        req = reflection_pb2.ServerReflectionRequest(file_containing_symbol="google.rpc.ErrorInfo")
        resp = next(iter(stub.ServerReflectionInfo(iter([req]), timeout=10)))
        assert resp.WhichOneof("message_response") == "file_descriptor_response", resp
        names = [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in resp.file_descriptor_response.file_descriptor_proto]
        assert "google/rpc/error_details.proto" in names, names


def test_grpcurl_prints_error_info_decoded(stack: Stack) -> None:
    grpcurl = os.environ.get("GRPCURL", "")
    if not (grpcurl and os.access(grpcurl, os.X_OK)):
        pytest.skip("set GRPCURL to a grpcurl binary (clients/test-all.sh installs one)")
    out = subprocess.run(
        [
            # The token comes from the environment (-expand-headers), never the command line.
            grpcurl, "-plaintext", "-expand-headers",
            "-rpc-header", "authorization: Bearer ${AEGIS_TOKEN}",
            "-d", json.dumps({"session_id": "00000000-0000-0000-0000-000000000000"}),
            "-format-error",
            stack.address, "aegis.v1.SessionService/GetSession",
        ],
        capture_output=True, text=True, timeout=60, env={**os.environ, "AEGIS_TOKEN": stack.token},
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "not recognized" not in text, text
    # -format-error prints the status as JSON with its details decoded through reflection.
    start = text.index("{")
    status = json.loads(text[start : text.rindex("}") + 1])
    assert status["code"] == grpc.StatusCode.NOT_FOUND.value[0], status
    detail = status["details"][0]
    assert detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo", detail
    assert detail["reason"] == "SESSION_NOT_FOUND", detail
    assert detail["domain"] == "aegis.dev", detail
