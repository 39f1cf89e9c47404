#!/bin/sh
# Install jobrec into a Python environment from the lock file, with a CPU build of torch
# unless told otherwise. Used by `make install` and by the Dockerfile, so both get the same
# versions.
#
#   scripts/install.sh PYTHON [EDITABLE]
#
#   PYTHON    the interpreter of the target environment (e.g. .venv/bin/python)
#   EDITABLE  1: install the project editable (development); 0: a normal install
#
# Environment:
#   TORCH          torch build: cpu (default) or a CUDA tag of PyTorch's index (cu126, cu128...)
#   TORCH_VERSION  2.13.0 (the version the project is tested with)
#   TORCH_INDEX    where that build is taken from (default: PyTorch's index for $TORCH)
#
# PyPI's torch wheel for Linux bundles CUDA (about 2.7 GB with its nvidia-* packages), so
# the CPU build comes from PyTorch's own index. A wheel that pip can already see without an
# index (its find-links, a local wheelhouse) is used first, without touching the network.
set -eu

python=${1:?usage: scripts/install.sh PYTHON [EDITABLE]}
editable=${2:-1}
here=$(cd "$(dirname "$0")/.." && pwd)
torch_build=${TORCH:-cpu}
torch_version=${TORCH_VERSION:-2.13.0}
torch_index=${TORCH_INDEX:-https://download.pytorch.org/whl/$torch_build}

case "$(uname -s)" in
    # macOS wheels on PyPI are CPU builds and carry no local version tag
    Darwin) torch_req="torch==$torch_version"; torch_index=${TORCH_INDEX:-https://pypi.org/simple} ;;
    *) torch_req="torch==$torch_version+$torch_build" ;;
esac

pip() { "$python" -m pip --disable-pip-version-check "$@"; }

echo "installing the locked dependencies (requirements.lock)"
pip install --quiet -r "$here/requirements.lock"

echo "installing $torch_req"
if ! pip install --quiet --no-index "$torch_req" 2>/dev/null; then
    pip install --quiet "$torch_req" --index-url "$torch_index"
fi

echo "installing jobrec"
if [ "$editable" = 1 ]; then
    pip install --quiet --no-deps --no-build-isolation -e "$here"
else
    pip install --quiet --no-deps --no-build-isolation "$here"
fi
pip check
