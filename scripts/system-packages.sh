#!/bin/sh
# Optional Debian packages that give unibind real data: speech in 11 languages (espeak-ng), instrument notes
# (fluidsynth + a General MIDI soundfont) and named event sounds; and chromium, the browser that the demo
# page's end-to-end test drives (Playwright never downloads one). Installs the missing ones where apt-get can
# (as root, or with password-less sudo); otherwise says what is missing. Never fails the build: the features
# and tests that need a package skip with a reason naming it.
missing=""
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "optional system packages missing:$missing (no apt-get here; their features and tests are skipped)"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    as_root=""
elif sudo -n true 2>/dev/null; then
    as_root="sudo -n"
else
    echo "optional system packages missing:$missing; install them with: sudo apt-get install$missing"
    exit 0
fi
echo "installing optional system packages:$missing"
# shellcheck disable=SC2086
$as_root apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 \
    || { $as_root apt-get update -qq >/dev/null 2>&1 && $as_root apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; } \
    || echo "could not install:$missing (their features and tests are skipped)"
exit 0
