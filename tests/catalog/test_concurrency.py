"""Eight processes saving into one catalog at once, with gc running beside them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from mdreg.catalog.local import LocalCatalog
from mdreg.flows.load import load_artifact

WORKERS = 8
SAVES = 25

# Each worker saves SAVES artifacts; save j of every worker has the same content, so
# the workers also race to store (and deduplicate) the same blob. All workers then race
# for one version label: exactly one may win.
WORKER = r"""
import json, shutil, sys
from pathlib import Path
from mdreg.catalog.base import VersionLabelTakenError
from mdreg.catalog.local import LocalCatalog
from mdreg.flows.save import SaveOptions, save_model

src, work, n, saves = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
art = Path(shutil.copytree(src, work / f"art-{n}"))
ids, won = [], False
with LocalCatalog() as cat:
    for j in range(saves):
        (art / "notes.txt").write_text(f"save {j}")
        # no_verify: the race is the catalog's; score.py's run is tested elsewhere
        record = save_model(art, SaveOptions(display_name=f"w{n}-s{j}", version_set=f"w{n}",
                                             version_label=f"v{j}", freeform_tags={"worker": str(n)},
                                             no_verify=True),
                            catalog=cat).record
        ids.append(record.id)
    try:
        save_model(art, SaveOptions(version_set="race", version_label="first", no_verify=True),
                   catalog=cat)
        won = True
    except VersionLabelTakenError:
        pass
print(json.dumps({"ids": ids, "won": won}))
"""

GC_LOOP = r"""
import sys, time
from pathlib import Path
from mdreg.catalog.local import LocalCatalog
stop = Path(sys.argv[1])
runs = 0
with LocalCatalog() as cat:
    while not stop.exists():
        cat.gc()
        runs += 1
        time.sleep(0.05)
print(runs)
"""


def test_eight_processes_saving_at_once(art: Path, mdreg_home: Path, tmp_path: Path) -> None:
    LocalCatalog().list()  # not required (workers race to create it too), but keeps timing fair
    stop = tmp_path / "stop"
    gc = subprocess.Popen(
        [sys.executable, "-c", GC_LOOP, str(stop)], stdout=subprocess.PIPE, text=True
    )
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(art), str(tmp_path), str(n), str(SAVES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WORKERS)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    stop.touch()
    gc_out, _ = gc.communicate(timeout=60)
    elapsed = time.monotonic() - start
    assert gc.returncode == 0 and int(gc_out) > 0  # gc really ran alongside

    ids = [i for r in results for i in r["ids"]]
    assert len(ids) == len(set(ids)) == WORKERS * SAVES
    assert sum(r["won"] for r in results) == 1  # one label, one winner

    with LocalCatalog() as cat:
        records = cat.list()
        assert len(records) == WORKERS * SAVES + 1
        assert {r.id for r in records} >= set(ids)
        for n in range(WORKERS):
            mine = cat.list(tags={"worker": str(n)})
            assert sorted(r.version_label for r in mine) == sorted(f"v{j}" for j in range(SAVES))
        report = cat.fsck()
        assert (
            report.integrity == "ok"
            and report.missing_artifacts == []
            and report.orphan_blobs == []
        )
        assert (
            len({r.artifact_sha256 for r in records}) == len(list(cat.blobs)) == SAVES
        )  # the race reuses save 24
        for k, record in enumerate(records):
            result = load_artifact(record.id, tmp_path / "loaded" / str(k), catalog=cat)
            assert result.manifest == "verified"
            assert (result.artifact_dir / "notes.txt").read_text().startswith("save ")
    print(f"{WORKERS * SAVES} saves by {WORKERS} processes in {elapsed:.1f} s")
