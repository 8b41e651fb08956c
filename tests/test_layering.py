"""The layering of nkd's libraries, read from the sources: every quoted #include of a library's files
must name its own folder or a folder below it (DESIGN.md section 1):

    engine <- {io, losses, layers, data} <- nets <- {export, train} <- apps

Usage: test_layering.py [ROOT]   (exit 1 and one line per wrong include; ROOT defaults to the repo)
"""
import pathlib
import re
import sys

# What each library may include besides itself (tests/ and tools/ may include anything).
ALLOWED = {
    "engine": set(),
    "io": {"engine"},
    "losses": {"engine"},
    "layers": {"engine"},
    "data": {"engine"},
    "nets": {"engine", "layers"},
    "export": {"engine", "io", "layers", "nets"},
    "train": {"engine", "io", "losses", "layers", "data", "nets"},
    "apps": {"engine", "io", "losses", "layers", "data", "nets", "export", "train"},
}
SUFFIXES = {".h", ".hpp", ".cpp", ".cu", ".cuh", ".in"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def violations(root):
    """Yields 'file:line: library includes "header" (allowed: ...)' for every wrong include."""
    for lib, allowed in ALLOWED.items():
        folder = root / lib
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                header = m.group(1)
                top = header.split("/", 1)[0] if "/" in header else lib  # "x.h": same folder
                if top != lib and top not in allowed:
                    where = path.relative_to(root)
                    ok = ", ".join([lib] + sorted(allowed))
                    yield f'{where}:{number}: {lib} includes "{header}" (allowed: {ok})'


def self_test():
    """The check must fail on a wrong include and pass a right one (a test that cannot fail is a defect)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp)
        (tree / "engine").mkdir()
        (tree / "nets").mkdir()
        (tree / "engine" / "ok.h").write_text('#include "engine/tensor.h"\n#include "ok2.h"\n')
        (tree / "engine" / "bad.cpp").write_text('#include <vector>\n#include "nets/resnet.h"\n')
        (tree / "nets" / "ok.cpp").write_text('#include "layers/conv.h"\n#include "engine/tensor.h"\n')
        found = list(violations(tree))
        assert len(found) == 1 and found[0].startswith("engine/bad.cpp:2:"), found


def main():
    self_test()
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1])
    bad = list(violations(root))
    for line in bad:
        print(line)
    checked = sum(1 for lib in ALLOWED if (root / lib).is_dir())
    print(f"layering: {len(bad)} wrong include(s) in {checked} libraries")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
