#!/usr/bin/env bash
# The desktop app's end-to-end tests: the debug app and CLI (built by the caller), tauri-driver and
# WebKitWebDriver, all inside a private Xvfb display. Screenshots go to test-output/e2e/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v tauri-driver >/dev/null || { echo "e2e: tauri-driver is missing: run scripts/setup" >&2; exit 1; }
command -v WebKitWebDriver >/dev/null || { echo "e2e: WebKitWebDriver is missing: run scripts/setup (webkit2gtk-driver)" >&2; exit 1; }
cd "$here"
command -v dbus-run-session >/dev/null || { echo "e2e: dbus-run-session is missing: run scripts/setup (dbus)" >&2; exit 1; }
# A private session bus, as a desktop has: the single-instance test needs one, and nothing here
# touches the machine's own.
exec dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" npm test --silent
