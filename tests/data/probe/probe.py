"""What the embedded interpreter sees, as one JSON line prefixed with PROBE."""

import json
import os
import subprocess
import sys


def report():
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, os, sys; print(json.dumps([sys.prefix, os.environ.get('PYTHONHOME'), os.environ.get('PYTHONPATH')]))",
        ],
        stdout=subprocess.PIPE,
        check=True,
    )
    encodings = sys.modules["encodings"].__file__
    return "PROBE " + json.dumps(
        {
            "version": "%d.%d" % sys.version_info[:2],
            "executable": sys.executable,
            "prefix": sys.prefix,
            "encodings": encodings,
            "path": sys.path,
            "pythonhome": os.environ.get("PYTHONHOME"),
            "pythonpath": os.environ.get("PYTHONPATH"),
            "flags": {"ignore_environment": sys.flags.ignore_environment, "no_user_site": sys.flags.no_user_site},
            "child": json.loads(child.stdout.decode()),
        },
        ensure_ascii=True,
    )
