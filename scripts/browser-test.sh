#!/usr/bin/env bash
# The headless browser the console's tests drive: Debian's chromium and chromium-driver.
#
#   scripts/browser-test.sh install   install both with apt-get when missing
#   scripts/browser-test.sh driver    print the chromedriver path (installing when missing)
#
# The console tests (tests/console_browser.rs) start chromedriver themselves on a free
# loopback port; with CI=true they fail when it is missing instead of skipping.
set -euo pipefail

log() { echo "browser-test: $*" >&2; }

driver_path() { command -v chromedriver || { [[ -x /usr/bin/chromedriver ]] && echo /usr/bin/chromedriver; } || true; }

install() {
    if [[ -n "$(driver_path)" ]] && command -v chromium >/dev/null; then
        return
    fi
    [[ "$(id -u)" == 0 ]] || { log "chromium is not installed and this is not root"; exit 1; }
    log "installing chromium and chromium-driver with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >&2
}

case "${1:-}" in
    install) install ;;
    driver) install; driver_path ;;
    *) echo "usage: $0 install|driver" >&2; exit 2 ;;
esac
