#!/usr/bin/env python3
"""Sums the JUnit XML files of a Bazel test run into 'N passed, N failed'.

Usage: count_tests.py [--junit FILE]... TESTLOGS_DIR BAZEL_EXIT_CODE TARGET...
A build failure (Bazel exit code other than 0 or 3) counts as one failure, so
a run that could not build never reads as green. --junit adds the cases of a
JUnit XML file written outside Bazel (tools/check_layering.sh); a missing or
unreadable one counts as a failure.
"""
import os
import sys
import xml.etree.ElementTree as ET


def main():
    args = sys.argv[1:]
    extra = []
    while args and args[0] == "--junit":
        extra.append(args[1])
        args = args[2:]
    logs, bazel_rc, targets = args[0], int(args[1]), args[2:]
    passed = failed = 0
    failures = []
    skips = []
    files = [(t, os.path.join(logs, t.lstrip("/").replace(":", "/"), "test.xml"))
             for t in targets] + [("junit:" + f, f) for f in extra]
    for target, path in files:
        if not os.path.exists(path):
            failed += 1
            failures.append(target + " (no result: did it build?)")
            continue
        try:
            tree = ET.parse(path)
        except ET.ParseError:
            failed += 1
            failures.append(target + " (unreadable test.xml)")
            continue
        cases = tree.getroot().iter("testcase")
        any_case = False
        for case in cases:
            any_case = True
            bad = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped")
            if bad:
                failed += 1
                failures.append("%s %s.%s" % (target, case.get("classname"), case.get("name")))
            elif skipped is not None:
                # Neither passed nor failed: listed with its reason.
                skips.append("%s %s.%s: %s" % (
                    target, case.get("classname"), case.get("name"),
                    (skipped.get("message") or skipped.text or "")[:300]))
            else:
                passed += 1
        if not any_case:
            # A test binary that crashed before writing cases.
            suites = tree.getroot()
            if suites.get("failures", "0") != "0" or suites.get("errors", "0") != "0":
                failed += 1
                failures.append(target)
    if bazel_rc not in (0, 3):
        failed += 1
        failures.append("bazel exited with %d (build failure?)" % bazel_rc)
    elif bazel_rc == 3 and not failures:
        failed += 1
        failures.append("bazel reported failed tests")
    for s in skips:
        print("SKIPPED (not counted): " + s)
    for f in failures:
        print("FAILED: " + f)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
