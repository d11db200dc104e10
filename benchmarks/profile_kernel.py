"""Where the compiled kernel spends its time, with ``perf`` (numba's JIT code has no symbols: this maps it).

    perf record -F 2000 -o /tmp/k.data .venv/bin/python benchmarks/profile_kernel.py run /tmp/kdump
    .venv/bin/python benchmarks/profile_kernel.py report /tmp/k.data /tmp/kdump

``run`` integrates 2,000 patients x 28 days of twice-weekly IV infusions (endpoints only) 15 times with one thread,
then writes the process's anonymous executable mappings (numba's JIT code, NRT helpers) to the dump directory.
``report`` prints the kernel's time by library (JIT code vs libm functions: pow, exp, tanh ...) and the hottest JIT
instructions with their neighbours (objdump), which is how kernel pass 3 (issue 10) found the PK modal sums going
through memory (~30 % of the compiled time) and the atomic incref/decref of array views (~8 %).
Needs ``perf`` and ``objdump`` (binutils) on the machine; not part of the test suite.
"""

from __future__ import annotations

import collections
import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path


def run(dump: Path) -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import numpy as np

    from ketasim import load_parameters, quick_scenario
    from ketasim.engine import prepare_arm
    from ketasim.population import sample_patients
    from ketasim.solver import kernel as K
    from ketasim.solver.expint import weights_table

    p = load_parameters()
    sc = quick_scenario("racemic-ketamine", "iv-infusion", "0.5 mg/kg", every="3.5 d", count=8)
    pats = sample_patients(sc.population, p, 1, n=2000)
    a = prepare_arm(sc.arms[0], sc.population, pats, np.array([0.0, 24.0, 168.0, 336.0, 672.0]), params=p)
    m, w = a.model, weights_table(-a.rates, a.grid.unique_steps)
    out = np.zeros((pats.n, a.out_idx.size, K.N_OUT))
    summ = np.zeros((pats.n, max(len(a.session_times_h), 1), K.N_SUM))
    for _ in range(15):
        K.run_arm(a.grid.times, a.grid.step_uid, a.grid.unique_steps, w, a.rates, m.lam, m.kappa, m.kappa_venous,
                  m.nmodes, a.active, a.active_dep, m.ka, a.pp, a.mc, a.ev_step, a.ev_kind, a.ev_target, a.ev_mg,
                  a.ev_mgkg, a.ev_frac, a.out_idx, out, summ)
    dump.mkdir(parents=True, exist_ok=True)
    for line in open("/proc/self/maps"):
        parts = line.split()
        if "x" in parts[1] and len(parts) < 6:          # executable and anonymous: JIT code
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if hi - lo < 64 << 20:
                (dump / f"{lo:x}.bin").write_bytes(ctypes.string_at(lo, hi - lo))
    print(f"{a.grid.times.size - 1} steps per patient; JIT code dumped to {dump}")


def report(data: str, dump: Path, top: int = 12) -> None:
    out = subprocess.run(["perf", "report", "-i", data, "--sort", "dso,sym", "--stdio"], capture_output=True,
                         text=True).stdout
    rows = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
    kernel = [ln for ln in rows if "JIT" in ln or "libm" in ln]
    total = sum(float(ln.split("%")[0]) for ln in kernel)
    by = collections.Counter()
    for ln in kernel:
        pct = float(ln.split("%")[0])
        by["JIT (compiled kernel)" if "JIT" in ln else "libm " + ln.split()[-1]] += pct
    print(f"kernel time by library (share of JIT + libm samples, {total:.1f} % of the process):")
    for k, v in by.most_common(10):
        print(f"  {100 * v / total:5.1f} %  {k}")
    ips = subprocess.run(["perf", "script", "-i", data, "-F", "ip,dso"], capture_output=True, text=True).stdout
    hot = collections.Counter(ln.split()[0] for ln in ips.splitlines() if ln.strip() and ".so" not in ln
                              and "kallsyms" not in ln)
    n = sum(hot.values())
    regions = sorted((int(f.stem, 16), f) for f in dump.glob("*.bin"))
    print(f"hottest JIT instructions ({n} samples):")
    for ip, cnt in hot.most_common(top):
        x = int(ip, 16)
        reg = next(((lo, f) for lo, f in regions if lo <= x < lo + f.stat().st_size), None)
        if reg is None:
            continue
        lo, f = reg
        dis = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", f"--adjust-vma={lo:#x}",
                              f"--start-address={max(lo, x - 24):#x}", f"--stop-address={x + 8:#x}", str(f)],
                             capture_output=True, text=True).stdout
        body = [re.sub(r"\s+", " ", ln.split("\t")[-1]).strip() for ln in dis.splitlines() if re.match(r"\s+[0-9a-f]+:", ln)]
        print(f"  {100 * cnt / n:4.1f} %  {ip}  ...{' ; '.join(body[-4:])}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        run(Path(sys.argv[2]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "report":
        report(sys.argv[2], Path(sys.argv[3]))
    else:
        sys.exit(__doc__)
