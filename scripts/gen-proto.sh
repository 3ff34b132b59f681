#!/bin/sh
# Regenerates src/proto-gen/ from proto/ (the upstream .proto files, see proto/README.md).
# Generator: buf 1.75.0 driving protoc-gen-es 2.17.0 (the same major as the @bufbuild/protobuf
# runtime dependency). Neither is a dependency of the project: run this only after changing proto/.
set -eu
cd "$(dirname "$0")/../proto"
rm -rf ../src/proto-gen
npx --yes -p @bufbuild/buf@1.75.0 -p @bufbuild/protoc-gen-es@2.17.0 buf generate
