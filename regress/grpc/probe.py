#!/usr/bin/env python3
"""Ask a running gRPC front what a client would: grpc.health.v1.Health/Check
must answer SERVING, and server reflection must list pb.SimpleBank and
pgbank.v1.Bank. Exits non-zero otherwise. The stubs are generated here from
Debian's grpc-proto (run with /usr/bin/python3: it needs python3-grpcio).

  probe.py HOST:PORT
"""
import os
import subprocess
import sys
import tempfile

GRPC_PROTO = "/usr/share/grpc-proto"


def stubs(where):
    plugin = subprocess.check_output(["which", "grpc_python_plugin"], text=True).strip()
    subprocess.run(["protoc", f"-Igrpc_health={GRPC_PROTO}/grpc/health",
                    f"-Igrpc_reflection={GRPC_PROTO}/grpc/reflection",
                    f"--python_out={where}", f"--grpc_out={where}", f"--plugin=protoc-gen-grpc={plugin}",
                    "grpc_health/v1/health.proto", "grpc_reflection/v1/reflection.proto"], check=True)
    sys.path.insert(0, where)


def main(target):
    with tempfile.TemporaryDirectory() as where:
        stubs(where)
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        from grpc_reflection.v1 import reflection_pb2, reflection_pb2_grpc
        channel = grpc.insecure_channel(target)
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            sys.exit(f"probe: {target}: health {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")
        answers = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
        services = {s.name for a in answers for s in a.list_services_response.service}
        missing = {"pb.SimpleBank", "pgbank.v1.Bank"} - services
        if missing:
            sys.exit(f"probe: {target}: reflection lists {sorted(services)}, not {sorted(missing)}")
        print(f"probe: {target}: SERVING; services {', '.join(sorted(services))}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
