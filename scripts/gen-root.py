#!/usr/bin/env python3
"""Generates the benchmark root: ~45,000 small files (1-20 KiB, half text, half random) and large
files up to 1 GiB in total, owned by 31 packages in a generated /var/db/pkg (CONTENTS,
BUILD_TIME). Deterministic names and sizes (seeded). Usage: gen-root.py ROOT"""
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
def text(n):
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + b" "
    return bytes(out[:n])
total = 0
owned = {}  # package -> CONTENTS lines
def own(pkg, rel):
    st = os.lstat(os.path.join(root, rel))
    owned.setdefault(pkg, []).append(f"obj /{rel} 0 {int(st.st_mtime)}")
# ~45,000 small files, 1-20 KiB: half text, half random (like binaries), in 3 levels of dirs.
for i in range(45000):
    d = os.path.join(root, "usr", f"d{i % 30}", f"e{i % 700}")
    os.makedirs(d, exist_ok=True)
    n = rng.randint(1024, 20 * 1024)
    data = text(n) if i % 2 else os.urandom(n)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(data)
    own(f"dev-libs/d{i % 30}-1.0", os.path.relpath(os.path.join(d, f"f{i}"), root))
    total += n
# Large files up to 1 GiB in total: random and text halves.
big = os.path.join(root, "var", "big")
os.makedirs(big, exist_ok=True)
i = 0
while total < (1 << 30):
    n = min(96 << 20, (1 << 30) - total)
    with open(os.path.join(big, f"b{i}"), "wb") as f:
        chunk = text(1 << 20)
        for k in range(n >> 20):
            f.write(os.urandom(1 << 20) if k % 2 else chunk)
    total += n
    own("app-misc/big-1.0", f"var/big/b{i}")
    i += 1
for pkg, lines in owned.items():
    d = os.path.join(root, "var/db/pkg", pkg)
    os.makedirs(d)
    with open(os.path.join(d, "CONTENTS"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "BUILD_TIME"), "w") as f:
        f.write("1699990000\n")
print(f"generated {total / (1 << 20):.0f} MiB", file=sys.stderr)
