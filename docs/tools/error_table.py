#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""docs/tools/error_table.py: the table of every h2coal::error in docs/limits-and-errors.md, made from the
code: names and their one-line docs from include/h2coal/error.hpp, messages and h2get's exit codes from
the error_table program (error_table.cpp, built as h2coal_error_table), curl's names for the codes from
examples/common/exit_codes.hpp.

    error_table.py SOURCE_DIR PROGRAM --print            the table, on stdout
    error_table.py SOURCE_DIR PROGRAM --check  FILE.md   fails when FILE.md's table differs
    error_table.py SOURCE_DIR PROGRAM --update FILE.md   rewrites FILE.md's table

The table sits between the lines <!-- error-table begin --> and <!-- error-table end -->.
"""
import os
import re
import subprocess
import sys

BEGIN = "<!-- error-table begin -->"
END = "<!-- error-table end -->"


def enum_values(source):
    """[(name, doc)] in declaration order; the first value is 1 and the rest follow on."""
    with open(os.path.join(source, "include/h2coal/error.hpp"), encoding="utf-8") as f:
        text = f.read()
    body = re.search(r"enum class error \{(.*?)\n\};", text, re.S).group(1)
    values = []
    for line in body.split("\n"):
        m = re.match(r"\s*([a-z0-9_]+)\s*(=\s*1\s*)?,\s*(///<\s*(.*))?$", line)
        if m:
            values.append([m.group(1), (m.group(4) or "").strip()])
            continue
        m = re.match(r"\s*///<\s*(.*)$", line)
        if m and values:  # a doc comment continued on the next line
            values[-1][1] = (values[-1][1] + " " + m.group(1).strip()).strip()
        elif re.match(r"\s*[a-z0-9_]+\s*=", line):
            raise SystemExit(f"error.hpp: an explicit value other than the first: {line.strip()}")
    return values


def curl_names(source):
    """{exit code: CURLE_NAME} from exit_codes.hpp's comments."""
    names = {}
    with open(os.path.join(source, "examples/common/exit_codes.hpp"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*inline constexpr int \w+ = (\d+);\s*//\s*(CURLE_\w+)", line)
            if m:
                names[int(m.group(1))] = m.group(2)
    return names


def table(source, program):
    values = enum_values(source)
    curl = curl_names(source)
    out = subprocess.run([program], capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    if len(rows) != len(values):
        raise SystemExit(f"error.hpp declares {len(values)} values, the program printed {len(rows)}")

    def code(c):
        c = int(c)
        return f"{c} ({curl[c]})" if c in curl else str(c)

    lines = ["| `h2coal::error` | value | message (`ec.message()`) | h2get exit code | meaning |",
             "|---|---|---|---|---|"]
    for (name, doc), (value, plain, cert, ca, answered, message) in zip(values, rows):
        exit_text = code(plain)
        extra = []
        if cert != plain:
            extra.append(f"{code(cert)} with `-E`")
        if ca != plain:
            extra.append(f"{code(ca)} with `--cacert`")
        if answered != plain:
            extra.append(f"{code(answered)} once a status arrived")
        if extra:
            exit_text += "; " + ", ".join(extra)
        meaning = doc.replace("|", "\\|") or "HTTP/2 error code received from the peer (RFC 9113 section 7)"
        lines.append(f"| `{name}` | {value} | {message.replace('|', chr(92) + '|')} | {exit_text} | {meaning} |")
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    source, program, mode = sys.argv[1:4]
    text = table(source, program)
    if mode == "--print":
        sys.stdout.write(text)
        return 0
    path = sys.argv[4]
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    start, stop = doc.find(BEGIN), doc.find(END)
    if start < 0 or stop < start:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} section")
    current = doc[start + len(BEGIN):stop].strip("\n") + "\n"
    if mode == "--check":
        if current != text:
            sys.stderr.write(f"{path}: the error table is out of date; regenerate it with\n  {sys.argv[0]} "
                             f"{source} {program} --update {path}\nExpected:\n{text}")
            return 1
        print(f"{path}: the error table matches the code ({text.count(chr(10)) - 2} values)")
        return 0
    if mode == "--update":
        with open(path, "w", encoding="utf-8") as f:
            f.write(doc[:start + len(BEGIN)] + "\n" + text + doc[stop:])
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
