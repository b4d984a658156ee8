import warnings

from bench.cli import main

# A warning is one line for the user (e.g. a skipped line of records.jsonl names its file and line itself).
warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"

raise SystemExit(main())
