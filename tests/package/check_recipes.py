"""tests/package/check_recipes.py: the Conan recipes byte-compile and every JSON manifest loads.

    check_recipes.py SOURCE_DIR SCRATCH_DIR

Conan itself is not installed on our machines, so this is as far as the recipe is checked here. The
byte code goes to SCRATCH_DIR, never into the source tree.
"""
import json
import os
import py_compile
import sys


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
