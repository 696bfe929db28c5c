# SPDX-License-Identifier: BSL-1.0
"""tests/package/check_recipes.py: the Conan recipes byte-compile, every JSON manifest loads, and every
package file declares the license (SPDX BSL-1.0, the text in LICENSE).

    check_recipes.py SOURCE_DIR SCRATCH_DIR

Conan itself is not installed on our machines, so this is as far as the recipe is checked here. The
byte code goes to SCRATCH_DIR, never into the source tree.
"""
import json
import os
import py_compile
import re
import sys

LICENSE = "BSL-1.0"


def check_license(source: str) -> None:
    """LICENSE holds the Boost Software License 1.0; the recipes and the port declare it."""
    with open(os.path.join(source, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    if "Boost Software License - Version 1.0" not in text:
        raise SystemExit("LICENSE: not the Boost Software License 1.0")
    print("LICENSE: Boost Software License 1.0")
    with open(os.path.join(source, "conan/conanfile.py"), encoding="utf-8") as f:
        recipe = f.read()
    if not re.search(r'^\s+license\s*=\s*"' + re.escape(LICENSE) + '"', recipe, re.M):
        raise SystemExit(f"conan/conanfile.py: license is not {LICENSE}")
    print(f"conan/conanfile.py: license {LICENSE}")
    with open(os.path.join(source, "ports/h2coal/portfile.cmake"), encoding="utf-8") as f:
        portfile = f.read()
    if not re.search(r"LICENSE\"[^)]*RENAME copyright", portfile):
        raise SystemExit("ports/h2coal/portfile.cmake: LICENSE is not installed as the copyright file")
    print("ports/h2coal/portfile.cmake: LICENSE installed as copyright")
    for rel in ("cmake/h2coal.pc.in", "cmake/h2coalConfig.cmake.in", "cmake/h2coalInstall.cmake"):
        with open(os.path.join(source, rel), encoding="utf-8") as f:
            if LICENSE not in f.read():
                raise SystemExit(f"{rel}: does not name {LICENSE}")
        print(f"{rel}: names {LICENSE}")


def main() -> int:
    source, scratch = sys.argv[1], sys.argv[2]
    os.makedirs(scratch, exist_ok=True)
    for rel in ("conan/conanfile.py", "conan/test_package/conanfile.py"):
        py_compile.compile(os.path.join(source, rel), doraise=True,
                           cfile=os.path.join(scratch, rel.replace("/", "_") + "c"))
        print(f"{rel}: compiles")
    for rel in ("vcpkg.json", "ports/h2coal/vcpkg.json"):
        with open(os.path.join(source, rel), encoding="utf-8") as f:
            manifest = json.load(f)
        print(f"{rel}: valid JSON")
        # c-ares: a default feature "cares" that depends on vcpkg's c-ares.
        features = manifest.get("features", {})
        if "c-ares" not in features.get("cares", {}).get("dependencies", []):
            raise SystemExit(f"{rel}: no feature cares depending on c-ares")
        if "cares" not in manifest.get("default-features", []):
            raise SystemExit(f"{rel}: cares is not a default feature")
        print(f"{rel}: feature cares (default) -> c-ares")
        if manifest.get("license") != LICENSE:
            raise SystemExit(f"{rel}: license is {manifest.get('license')!r}, not {LICENSE}")
        print(f"{rel}: license {LICENSE}")
    check_license(source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
