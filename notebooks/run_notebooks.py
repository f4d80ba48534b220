"""Execute every notebook in this directory against a run; a failing cell fails.

Used by `make notebooks` (and so by `make test`). The notebooks are stored
without outputs; executing them here does not write them back.
"""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main() -> int:
    here = Path(__file__).resolve().parent
    books = sorted(here.glob("*.ipynb"))
    if len(books) < 3:
        print(f"expected at least three notebooks in {here}, found {len(books)}", file=sys.stderr)
        return 1
    for path in books:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                print(f"{path.name}: stored with outputs; clear them before committing", file=sys.stderr)
                return 1
        print(f"executing {path.name}", flush=True)
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(here)}}).execute()
    print(f"{len(books)} notebooks ran without errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
