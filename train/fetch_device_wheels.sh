#!/usr/bin/env bash
# Download the wheels that `train/gpu_run.py` needs on a device machine that has only Python 3.12, torch, numpy,
# scipy, h5py, safetensors and tqdm, and no network: every other package the command imports, and their own
# missing dependencies, pinned to the versions this project is developed with, for manylinux x86_64.
#
#   bash train/fetch_device_wheels.sh                       # cp312 wheels into .whl/ (ignored by git)
#   bash train/fetch_device_wheels.sh --python 3.11 --dest /tmp/whl311    # the same set for a CPU dry run here
#
# Why each one (Requires-Dist read with: unzip -p .whl/NAME-*.whl '*/METADATA' | grep ^Requires-Dist):
#   astropy, astropy-iers-data, pyerfa, PyYAML, packaging   synthetic survey (Planck18), composites, photutils
#   sep, photutils                                          morphology detection, aperture colours
#   statmorph, scikit-image, lazy-loader                    --mode full morphology (Sersic fit, Gini/M20/C/A)
#   matplotlib, contourpy, cycler, fonttools, kiwisolver,   the report's figures (pyplot imports fontTools
#     pyparsing, python-dateutil, six                         through matplotlib.dviread)
#   imageio, pillow                                         PNG sample grids (pillow: matplotlib, scikit-image too)
# Left out on purpose: panel, bokeh, holoviews, param (the app only), imageio-ffmpeg (MP4 export only),
# tifffile (scikit-image's I/O, never imported by statmorph), networkx (scikit-image's graph module; torch brings
# it anyway), statmorph's sdist build tools.
#
# Slimming: to fit the device call's carry limit (64 MiB with the repository), test suites inside the wheels
# (astropy's sub-package tests, matplotlib/tests) and scikit-image's sample images (skimage/data/*.png etc.,
# fetched by skimage.data.* only) are removed from the wheels and their RECORD files; nothing the command
# imports is touched. --no-slim keeps the wheels as published.
set -euo pipefail

PYTHON_VERSION=3.12
DEST=.whl
SLIM=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) PYTHON_VERSION="$2"; shift 2 ;;
    --dest) DEST="$2"; shift 2 ;;
    --no-slim) SLIM=0; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "fetch_device_wheels: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# Binary wheels, pinned to the versions installed in this project's development environment.
PACKAGES=(
  astropy==8.0.2 astropy-iers-data==0.2026.11.2.0.34.55 pyerfa==2.0.1.5 PyYAML==6.0.3 packaging==26.2
  sep==1.4.1 photutils==3.0.0
  scikit-image==0.26.0 lazy-loader==0.6
  matplotlib==3.11.2 contourpy==1.3.3 cycler==0.12.1 fonttools==4.68.0 kiwisolver==1.5.1 pyparsing==3.3.2
  python-dateutil==2.9.0.post0 six==1.17.0
  imageio==2.38.1 pillow==13.0.0
)
# Published as a source distribution only (pure Python): built here into a py3-none-any wheel.
SOURCE_ONLY=(statmorph==0.7.2)

mkdir -p "$DEST"
rm -f "$DEST"/*.whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  -d "$DEST" "${PACKAGES[@]}"
python3 -m pip wheel --quiet --no-deps -w "$DEST" "${SOURCE_ONLY[@]}"

if [[ "$SLIM" == 1 ]]; then
  python3 - "$DEST" <<'PY'
import base64, hashlib, pathlib, sys, zipfile

def dropped(name: str) -> bool:
    parts = name.split("/")
    if parts[0] == "astropy" and "tests" in parts[2:-1]:  # sub-package test suites (astropy/tests/ is imported)
        return True
    if parts[:2] == ["matplotlib", "tests"]:
        return True
    return parts[:2] == ["skimage", "data"] and not name.endswith((".py", ".pyi"))  # sample images

for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    with zipfile.ZipFile(wheel) as source:
        names = [info.filename for info in source.infolist()]
        gone = {name for name in names if dropped(name)}
        if not gone:
            continue
        slim = wheel.with_suffix(".slim")
        with zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                if info.filename in gone:
                    continue
                data = source.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    lines = data.decode().splitlines()
                    data = ("\n".join(line for line in lines if line.split(",")[0] not in gone) + "\n").encode()
                target.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    before = wheel.stat().st_size
    slim.replace(wheel)
    print(f"slimmed {wheel.name}: {len(gone)} files dropped, {before / 2**20:.1f} -> "
          f"{wheel.stat().st_size / 2**20:.1f} MiB")
PY
fi

ls -1 "$DEST"/*.whl | sed 's|.*/||'
python3 - "$DEST" <<'PY'
import pathlib, sys
total = sum(p.stat().st_size for p in pathlib.Path(sys.argv[1]).glob("*.whl"))
print(f"{len(list(pathlib.Path(sys.argv[1]).glob('*.whl')))} wheels, {total / 2**20:.1f} MiB in {sys.argv[1]}")
PY
