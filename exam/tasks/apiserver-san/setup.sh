#!/usr/bin/env bash
# Nothing to break: the graders compare with the serials and SANs recorded now, off the node.
set -euo pipefail
python3 -m graders.exam.pki_record write apiserver-san >/dev/null
