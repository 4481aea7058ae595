#!/usr/bin/env bash
# Nothing of the answer exists yet: an earlier attempt's files on the node are removed.
set -euo pipefail
ckslab node exec -- rm -rf "$(ckslab node path {{dir}})"
