#!/usr/bin/env bash
# The demo: validates Envfile.example and shows its machines.
set -euo pipefail
cd "$(dirname "$0")/.."
ENVUP_ENVFILE=$PWD/Envfile.example build/rel/bin/envctl validate
ENVUP_ENVFILE=$PWD/Envfile.example build/rel/bin/envctl status
