"""examples/seed_example.py, the API's usage example as it stands, runs and
prints what it says it prints."""

import os
import re
import subprocess
import sys
import unittest

import support


class TestSeedExample(unittest.TestCase):
    def test_runs_verbatim(self):
        support.omniqd()
        env = dict(os.environ, PYTHONPATH=support.PYROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        r = subprocess.run([sys.executable, os.path.join(support.PYROOT, "examples", "seed_example.py")],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        want = [
            r"Enqueued simple task: (\w+)",
            r"Enqueued scheduled task: \w+ to run at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?",
            r"Dequeued task: (\w+)",
            r"Task result: 30",
            r"Enqueued tasks to named queues\.",
            r"Dequeued from high_priority: High Prio",
            r"Deleted task (\w+)",
        ]
        self.assertEqual(len(lines), len(want), r.stdout)
        ids = []
        for line, pattern in zip(lines, want):
            m = re.fullmatch(pattern, line)
            self.assertIsNotNone(m, f"{line!r} does not match {pattern!r}")
            ids.extend(g for g in m.groups() if g and not g.startswith('.'))
        self.assertEqual(len(set(ids)), 1, "the simple task is dequeued and deleted")

    def test_readme_shows_it(self):
        with open(os.path.join(support.REPO, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        with open(os.path.join(support.PYROOT, "examples", "seed_example.py"), encoding="utf-8") as f:
            example = f.read()
        section = readme.split("## From Python", 1)[1]
        block = section.split("```python\n", 1)[1].split("```", 1)[0]
        self.assertEqual(block, example, "README.md's From Python example is examples/seed_example.py")
